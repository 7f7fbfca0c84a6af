/* SPDX-License-Identifier: Apache-2.0 */
/* libvirt's event loop on sd-event (vm-libvirt-event.h). */
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "drivers/vm/vm-libvirt-event.h"
#include "lib/log.h"
#include "lib/util.h"

typedef struct LvEntry {
        int id; /* watch or timer id, > 0 */
        bool timer;
        int fd;     /* handles: libvirt's fd */
        int own_fd; /* a dup when libvirt watches one fd twice (epoll refuses that) */
        int events; /* handles: VIR_EVENT_HANDLE_* wanted; 0 = disabled */
        int freq;   /* timers: -1 disabled, else ms (0 = every iteration) */
        bool dirty; /* wanted state not yet applied to src */
        bool removed;
        sd_event_source *src;
        virEventHandleCallback hcb;
        virEventTimeoutCallback tcb;
        void *opaque;
        virFreeCallback ff;
        struct LvEntry *next;
} LvEntry;

static struct {
        pthread_mutex_t lock;
        sd_event *e;
        pthread_t loop_thread;
        int wake_fd;
        sd_event_source *wake_src;
        LvEntry *head;
        int next_id;
} lv = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -EBADF};

static uint32_t to_epoll(int ev)
{
        return (ev & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0) |
               (ev & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0);
}

static int from_epoll(uint32_t ev)
{
        return (ev & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
               (ev & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
               (ev & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) | (ev & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

static bool on_loop_thread(void)
{
        return pthread_equal(pthread_self(), lv.loop_thread);
}

static void kick(void)
{
        uint64_t one = 1;
        (void)!write(lv.wake_fd, &one, sizeof(one));
}

static LvEntry *find_locked(int id, bool timer)
{
        for (LvEntry *x = lv.head; x; x = x->next)
                if (x->id == id && x->timer == timer && !x->removed)
                        return x;
        return NULL;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        LvEntry *x = userdata;
        virEventHandleCallback cb;
        void *opaque;
        int id, watched;

        pthread_mutex_lock(&lv.lock);
        cb = x->hcb;
        opaque = x->opaque;
        id = x->id;
        watched = x->removed ? 0 : x->events;
        fd = x->fd;
        pthread_mutex_unlock(&lv.lock);
        /* ERROR and HANGUP are always reported, as with poll() */
        if (watched && cb)
                cb(id, fd, from_epoll(revents), opaque);
        return 0;
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
        LvEntry *x = userdata;
        virEventTimeoutCallback cb = NULL;
        void *opaque = NULL;
        int id = 0;

        pthread_mutex_lock(&lv.lock);
        if (!x->removed && x->freq >= 0) {
                /* periodic: re-arm before the callback, which may change it */
                (void)sd_event_source_set_time_relative(s, (uint64_t)x->freq * USEC_PER_MSEC);
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                cb = x->tcb;
                opaque = x->opaque;
                id = x->id;
        }
        pthread_mutex_unlock(&lv.lock);
        if (cb)
                cb(id, opaque);
        return 0;
}

/* Loop thread, lock held: makes each source match what libvirt asked for. */
static void apply_locked(void)
{
        for (LvEntry *x = lv.head; x; x = x->next) {
                int r = 0;

                if (!x->dirty)
                        continue;
                x->dirty = false;
                if (x->removed) {
                        x->src = sd_event_source_disable_unref(x->src);
                        x->own_fd = safe_close(x->own_fd);
                        continue;
                }
                if (x->timer) {
                        if (!x->src)
                                r = sd_event_add_time_relative(lv.e, &x->src, CLOCK_MONOTONIC, 0,
                                                               USEC_PER_MSEC, on_time, x);
                        if (r >= 0 && x->freq >= 0)
                                r = sd_event_source_set_time_relative(x->src,
                                                                      (uint64_t)x->freq * USEC_PER_MSEC);
                        if (r >= 0)
                                r = sd_event_source_set_enabled(x->src, x->freq >= 0 ? SD_EVENT_ONESHOT
                                                                                     : SD_EVENT_OFF);
                } else {
                        if (!x->src) {
                                r = sd_event_add_io(lv.e, &x->src, x->fd, to_epoll(x->events), on_io, x);
                                if (r == -EEXIST) {
                                        x->own_fd = fcntl(x->fd, F_DUPFD_CLOEXEC, 3);
                                        r = x->own_fd < 0 ? -errno
                                                          : sd_event_add_io(lv.e, &x->src, x->own_fd,
                                                                            to_epoll(x->events), on_io, x);
                                }
                        } else
                                r = sd_event_source_set_io_events(x->src, to_epoll(x->events));
                        if (r >= 0)
                                r = sd_event_source_set_enabled(x->src,
                                                                x->events ? SD_EVENT_ON : SD_EVENT_OFF);
                }
                if (r < 0)
                        log_debug_errno(r, "libvirt event %s %d: cannot set up the sd-event source: %m",
                                        x->timer ? "timer" : "watch", x->id);
        }
}

/* Called after every change: at once on the loop thread, else via the eventfd. */
static void changed_locked(LvEntry *x)
{
        x->dirty = true;
        if (on_loop_thread())
                apply_locked();
        else
                kick();
}

/* The eventfd: apply changes made by other threads, then run the free
 * callbacks of removed entries (outside the lock and outside remove*()). */
static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        LvEntry *dead = NULL, **p;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        pthread_mutex_lock(&lv.lock);
        apply_locked();
        for (p = &lv.head; *p;) {
                LvEntry *x = *p;
                if (x->removed && !x->src) {
                        *p = x->next;
                        x->next = dead;
                        dead = x;
                } else
                        p = &x->next;
        }
        pthread_mutex_unlock(&lv.lock);
        while (dead) {
                LvEntry *x = dead;
                dead = x->next;
                if (x->ff)
                        x->ff(x->opaque);
                free(x);
        }
        return 0;
}

static LvEntry *entry_new_locked(bool timer)
{
        LvEntry *x = calloc(1, sizeof(*x));

        if (!x)
                return NULL;
        if (lv.next_id >= INT32_MAX)
                lv.next_id = 0;
        x->id = ++lv.next_id;
        x->timer = timer;
        x->own_fd = -EBADF;
        x->fd = -EBADF;
        x->next = lv.head;
        lv.head = x;
        return x;
}

static int lv_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
        LvEntry *x;
        int id;

        pthread_mutex_lock(&lv.lock);
        x = entry_new_locked(false);
        if (!x) {
                pthread_mutex_unlock(&lv.lock);
                return -1;
        }
        x->fd = fd;
        x->events = events;
        x->hcb = cb;
        x->opaque = opaque;
        x->ff = ff;
        id = x->id;
        changed_locked(x);
        pthread_mutex_unlock(&lv.lock);
        return id;
}

static void lv_update_handle(int watch, int events)
{
        LvEntry *x;

        pthread_mutex_lock(&lv.lock);
        x = find_locked(watch, false);
        if (x && x->events != events) {
                x->events = events;
                changed_locked(x);
        }
        pthread_mutex_unlock(&lv.lock);
}

static int lv_remove(int id, bool timer)
{
        LvEntry *x;

        pthread_mutex_lock(&lv.lock);
        x = find_locked(id, timer);
        if (x) {
                x->removed = true;
                changed_locked(x);
                kick(); /* the free callback runs from on_wake */
        }
        pthread_mutex_unlock(&lv.lock);
        return x ? 0 : -1;
}

static int lv_remove_handle(int watch)
{
        return lv_remove(watch, false);
}

static int lv_add_timeout(int freq, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
        LvEntry *x;
        int id;

        pthread_mutex_lock(&lv.lock);
        x = entry_new_locked(true);
        if (!x) {
                pthread_mutex_unlock(&lv.lock);
                return -1;
        }
        x->freq = freq;
        x->tcb = cb;
        x->opaque = opaque;
        x->ff = ff;
        id = x->id;
        changed_locked(x);
        pthread_mutex_unlock(&lv.lock);
        return id;
}

static void lv_update_timeout(int timer, int freq)
{
        LvEntry *x;

        pthread_mutex_lock(&lv.lock);
        x = find_locked(timer, true);
        if (x) {
                /* like libvirt's own loop: an update restarts the period */
                x->freq = freq;
                changed_locked(x);
        }
        pthread_mutex_unlock(&lv.lock);
}

static int lv_remove_timeout(int timer)
{
        return lv_remove(timer, true);
}

int vm_libvirt_event_register(sd_event *e)
{
        int r;

        if (!e || lv.e)
                return -EINVAL;
        lv.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (lv.wake_fd < 0)
                return -errno;
        r = sd_event_add_io(e, &lv.wake_src, lv.wake_fd, EPOLLIN, on_wake, NULL);
        if (r < 0)
                return r;
        /* before libvirt's own sources, so changes apply before dispatch */
        (void)sd_event_source_set_priority(lv.wake_src, SD_EVENT_PRIORITY_IMPORTANT);
        lv.e = sd_event_ref(e);
        lv.loop_thread = pthread_self();
        virEventRegisterImpl(lv_add_handle, lv_update_handle, lv_remove_handle, lv_add_timeout,
                             lv_update_timeout, lv_remove_timeout);
        return 0;
}
