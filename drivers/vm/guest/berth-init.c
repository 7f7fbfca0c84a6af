/* SPDX-License-Identifier: Apache-2.0 */
/* berth-init: PID 1 of a berth microVM, linked statically and packed into
 * the initramfs with the virtio modules (docs/VM.md).
 *
 * Loads the .ko files under /modules in the order of /modules.list, finds the virtio-serial
 * port "berth.0", says HELLO, reads the CONFIG frame, mounts /dev/vda (ext4)
 * as the new root, runs the command with its env, working directory and
 * user, streams its stdout/stderr as frames, forwards SIGNAL frames to it,
 * reports EXIT and powers the machine off. Self-contained: libc only.
 * In bridge mode it configures eth0 first (init-net.c, also for NET frames
 * at any time); while the command runs it serves exec sessions (init-exec.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/vm/guest/init.h"
#include "drivers/vm/vm-proto.h"

#define ARGS_MAX 1024
#define ENV_MAX 1024

static int port = -1;

void klog(const char *fmt, ...)
{
        char buf[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (n > (int)sizeof(buf) - 2)
                n = (int)sizeof(buf) - 2;
        buf[n++] = '\n';
        (void)!write(2, "berth-init: ", 12);
        (void)!write(2, buf, (size_t)n);
}

static int write_all(int fd, const void *p, size_t n)
{
        const char *c = p;

        while (n > 0) {
                ssize_t k = write(fd, c, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void)poll(&pfd, 1, 1000);
                                continue;
                        }
                        return -errno;
                }
                c += k;
                n -= (size_t)k;
        }
        return 0;
}

static int read_all(int fd, void *p, size_t n)
{
        char *c = p;

        while (n > 0) {
                ssize_t k = read(fd, c, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                                (void)poll(&pfd, 1, 1000);
                                continue;
                        }
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                c += k;
                n -= (size_t)k;
        }
        return 0;
}

void send_frame(uint32_t type, const void *data, size_t len)
{
        VmFrameHeader h = { .type = type, .len = (uint32_t)len };
        char buf[sizeof(h) + 4096];

        if (port < 0)
                return;
        if (len <= 4096) {
                /* one write: frames never interleave */
                memcpy(buf, &h, sizeof(h));
                memcpy(buf + sizeof(h), data, len);
                (void)write_all(port, buf, sizeof(h) + len);
                return;
        }
        (void)write_all(port, &h, sizeof(h));
        (void)write_all(port, data, len);
}

static void send_text(uint32_t type, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (n >= (int)sizeof(buf))
                n = sizeof(buf) - 1;
        send_frame(type, buf, (size_t)n);
}

static void power_off(void)
{
        sync();
        (void)reboot(RB_POWER_OFF);
        (void)reboot(RB_AUTOBOOT);
        for (;;)
                pause();
}

static void fail(int code, const char *fmt, ...)
{
        char buf[512];
        int32_t ex[2] = { code, 0 };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        klog("%s", buf);
        send_frame(VM_FRAME_ERROR, buf, strlen(buf));
        send_frame(VM_FRAME_EXIT, ex, sizeof(ex));
        power_off();
}

static void load_modules(void)
{
        char line[256];
        FILE *f = fopen("/modules.list", "re");

        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char path[300];
                int fd;

                line[strcspn(line, "\n")] = 0;
                if (!line[0])
                        continue;
                snprintf(path, sizeof(path), "/modules/%s", line);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        klog("cannot open %s: %s", path, strerror(errno));
                        continue;
                }
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
                        klog("cannot load %s: %s", line, strerror(errno));
                close(fd);
        }
        fclose(f);
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* /sys/class/virtio-ports/vportNpM/name == "berth.0" -> /dev/vportNpM */
static int find_port(char *dev, size_t size)
{
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *de;
        int found = -ENOENT;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char p[300], name[64] = {};
                int fd;
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
                fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, name, sizeof(name) - 1);
                close(fd);
                if (n > 0 && strncmp(name, VM_PORT_NAME, strlen(VM_PORT_NAME)) == 0 &&
                    (name[strlen(VM_PORT_NAME)] == '\n' || name[strlen(VM_PORT_NAME)] == 0)) {
                        snprintf(dev, size, "/dev/%s", de->d_name);
                        found = 0;
                        break;
                }
        }
        closedir(d);
        return found;
}

typedef struct Config {
        char *argv[ARGS_MAX + 1];
        size_t n_argv;
        char *envp[ENV_MAX + 2];
        size_t n_env;
        const char *cwd;
        const char *hostname;
        uid_t uid;
        gid_t gid;
        const char *net_mac, *net_addr, *net_gw, *resolv, *hosts; /* bridge network (init-net.c) */
} Config;

static int read_config(Config *c, char **ret_buf)
{
        VmFrameHeader h;
        char *buf;
        int r;

        for (;;) {
                r = read_all(port, &h, sizeof(h));
                if (r < 0)
                        return r;
                if (h.len > VM_FRAME_MAX * 16)
                        return -EBADMSG;
                buf = malloc(h.len + 1);
                if (!buf)
                        return -ENOMEM;
                r = read_all(port, buf, h.len);
                if (r < 0)
                        return r;
                buf[h.len] = 0;
                if (h.type == VM_FRAME_CONFIG)
                        break;
                free(buf);
        }
        *c = (Config){ .cwd = "/" };
        for (size_t i = 0; i < h.len;) {
                char *k = buf + i, *v;
                i += strlen(k) + 1;
                if (i >= h.len)
                        break;
                v = buf + i;
                i += strlen(v) + 1;
                if (strcmp(k, "arg") == 0 && c->n_argv < ARGS_MAX)
                        c->argv[c->n_argv++] = v;
                else if (strcmp(k, "env") == 0 && c->n_env < ENV_MAX)
                        c->envp[c->n_env++] = v;
                else if (strcmp(k, "cwd") == 0)
                        c->cwd = v;
                else if (strcmp(k, "hostname") == 0)
                        c->hostname = v;
                else if (strcmp(k, "uid") == 0)
                        c->uid = (uid_t)strtoul(v, NULL, 10);
                else if (strcmp(k, "gid") == 0)
                        c->gid = (gid_t)strtoul(v, NULL, 10);
                else if (strcmp(k, "net.mac") == 0)
                        c->net_mac = v;
                else if (strcmp(k, "net.addr") == 0)
                        c->net_addr = v;
                else if (strcmp(k, "net.gw") == 0)
                        c->net_gw = v;
                else if (strcmp(k, "resolv") == 0)
                        c->resolv = v;
                else if (strcmp(k, "hosts") == 0)
                        c->hosts = v;
        }
        *ret_buf = buf;
        return c->n_argv > 0 ? 0 : -EINVAL;
}

static void mount_root(void)
{
        long long deadline = now_ms() + 10000;

        while (access("/dev/vda", F_OK) < 0) {
                if (now_ms() > deadline)
                        fail(126, "no root disk /dev/vda");
                usleep(10000);
        }
        mkdir("/newroot", 0755);
        if (mount("/dev/vda", "/newroot", "ext4", 0, NULL) < 0)
                fail(126, "mount /dev/vda: %s", strerror(errno));
        mkdir("/newroot/proc", 0555);
        mkdir("/newroot/sys", 0555);
        mkdir("/newroot/dev", 0755);
        mkdir("/newroot/tmp", 01777);
        (void)mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        (void)mount("sysfs", "/newroot/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        (void)mount("devtmpfs", "/newroot/dev", "devtmpfs", MS_NOSUID, NULL);
        if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
                fail(126, "switch root: %s", strerror(errno));
}

static bool has_env(const Config *c, const char *key)
{
        size_t l = strlen(key);
        for (size_t i = 0; i < c->n_env; i++)
                if (strncmp(c->envp[i], key, l) == 0 && c->envp[i][l] == '=')
                        return true;
        return false;
}

static pid_t run_command(Config *c, int out_w, int err_w, int ep_w)
{
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        (void)setsid();
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0)
                dup2(nul, 0);
        dup2(out_w, 1);
        dup2(err_w, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(c->cwd) < 0) {
                int e[2] = { 1, errno };
                (void)!write(ep_w, e, sizeof(e));
                _exit(126);
        }
        if ((c->gid && setgid(c->gid) < 0) || (c->uid && setuid(c->uid) < 0)) {
                int e[2] = { 2, errno };
                (void)!write(ep_w, e, sizeof(e));
                _exit(126);
        }
        if (!has_env(c, "PATH"))
                c->envp[c->n_env++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        c->envp[c->n_env] = NULL;
        environ = c->envp;
        execvp(c->argv[0], c->argv);
        int e[2] = { 3, errno };
        (void)!write(ep_w, e, sizeof(e));
        _exit(errno == ENOENT ? 127 : 126);
}

#define HBUF_SIZE (sizeof(VmFrameHeader) + VM_FRAME_MAX)
static void handle_host_frames(int *buf_len, char *buf, pid_t child)
{
        ssize_t n = read(port, buf + *buf_len, HBUF_SIZE - (size_t)*buf_len);

        if (n <= 0)
                return;
        *buf_len += (int)n;
        while (*buf_len >= (int)sizeof(VmFrameHeader)) {
                VmFrameHeader h;
                memcpy(&h, buf, sizeof(h));
                if (h.len > HBUF_SIZE - sizeof(h)) {
                        *buf_len = 0; /* unexpected: drop */
                        return;
                }
                if (*buf_len < (int)(sizeof(h) + h.len))
                        return;
                if (h.type == VM_FRAME_SIGNAL && h.len >= 4 && child > 0) {
                        int32_t sig;
                        memcpy(&sig, buf + sizeof(h), 4);
                        /* the whole process group of the command */
                        if (kill(-child, sig) < 0)
                                (void)kill(child, sig);
                } else if (h.type == VM_FRAME_PING)
                        send_frame(VM_FRAME_PONG, buf + sizeof(h), h.len > 64 ? 64 : h.len);
                else if (h.type == VM_FRAME_NET)
                        init_net_on_frame(buf + sizeof(h), h.len);
                else if (h.type >= VM_FRAME_EXEC_START && h.type <= VM_FRAME_EXEC_RESIZE)
                        init_exec_on_frame(h.type, buf + sizeof(h), h.len);
                memmove(buf, buf + sizeof(h) + h.len, (size_t)*buf_len - sizeof(h) - h.len);
                *buf_len -= (int)(sizeof(h) + h.len);
        }
}

int main(void)
{
        static char hbuf[HBUF_SIZE];
        char dev[300], *cbuf = NULL;
        int out[2], errp[2], ep[2], hlen = 0, r, status = 0;
        bool exited = false;
        Config c;
        pid_t child;

        (void)mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
        (void)mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        (void)mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        int con = open("/dev/console", O_RDWR | O_NOCTTY);
        if (con >= 0) {
                dup2(con, 1);
                dup2(con, 2);
        }
        load_modules();

        long long deadline = now_ms() + 10000;
        while (find_port(dev, sizeof(dev)) < 0 || (port = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
                if (now_ms() > deadline) {
                        klog("no virtio-serial port %s", VM_PORT_NAME);
                        power_off();
                }
                usleep(5000);
        }
        send_text(VM_FRAME_HELLO, "berth-init ready");
        r = read_config(&c, &cbuf);
        if (r < 0)
                fail(126, "bad CONFIG frame: %s", strerror(-r));
        mount_root();
        if (c.hostname)
                (void)sethostname(c.hostname, strlen(c.hostname));
        if (c.net_addr) {
                char why[256];
                if (init_net_configure(c.net_mac, c.net_addr, c.net_gw, why, sizeof(why)) < 0)
                        fail(126, "bridge network: %s", why);
                init_net_write_files(c.resolv, c.hosts);
        }

        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0)
                fail(126, "pipe: %s", strerror(errno));
        child = run_command(&c, out[1], errp[1], ep[1]);
        if (child < 0)
                fail(126, "fork: %s", strerror(errno));
        close(out[1]);
        close(errp[1]);
        close(ep[1]);
        {
                int e[2];
                ssize_t n = read(ep[0], e, sizeof(e));
                close(ep[0]);
                if (n == (ssize_t)sizeof(e)) {
                        static const char *const what[] = { "", "chdir", "setuid", "exec" };
                        char msg[512];
                        int32_t ex[2] = { e[0] == 3 && e[1] == ENOENT ? 127 : 126, 0 };
                        snprintf(msg, sizeof(msg), "%s %s: %s\n", what[e[0] & 3],
                                 e[0] == 1 ? c.cwd : c.argv[0], strerror(e[1]));
                        (void)waitpid(child, NULL, 0);
                        send_frame(VM_FRAME_STDERR, msg, strlen(msg));
                        send_frame(VM_FRAME_ERROR, msg, strlen(msg) - 1);
                        send_frame(VM_FRAME_EXIT, ex, sizeof(ex));
                        power_off();
                }
        }
        send_text(VM_FRAME_STARTED, "%d", (int)child);
        (void)fcntl(port, F_SETFL, O_NONBLOCK);

        int fds[2] = { out[0], errp[0] };
        long long drain_deadline = 0;
        for (;;) {
                struct pollfd p[3 + INIT_EXEC_POLL_MAX] = {
                        { .fd = fds[0], .events = POLLIN },
                        { .fd = fds[1], .events = POLLIN },
                        { .fd = port, .events = POLLIN },
                };
                size_t nx;
                pid_t w;

                while ((w = waitpid(-1, &r, WNOHANG)) > 0)
                        if (w == child) {
                                status = r;
                                exited = true;
                                drain_deadline = now_ms() + 2000;
                        } else
                                (void)init_exec_reaped(w, r);
                if (exited && ((fds[0] < 0 && fds[1] < 0) || now_ms() > drain_deadline))
                        break;
                nx = init_exec_pollfds(p + 3, INIT_EXEC_POLL_MAX);
                if (poll(p, 3 + nx, 100) < 0 && errno != EINTR)
                        break;
                init_exec_dispatch(p + 3, nx);
                for (int i = 0; i < 2; i++) {
                        char buf[4096];
                        ssize_t n;

                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        n = read(fds[i], buf, sizeof(buf));
                        if (n > 0)
                                send_frame(i == 0 ? VM_FRAME_STDOUT : VM_FRAME_STDERR, buf, (size_t)n);
                        else if (n == 0 || errno != EINTR) {
                                close(fds[i]);
                                fds[i] = -1;
                        }
                }
                if (p[2].revents & POLLIN)
                        handle_host_frames(&hlen, hbuf, exited ? 0 : child);
        }
        int32_t ex[2];
        if (WIFEXITED(status))
                ex[0] = WEXITSTATUS(status), ex[1] = 0;
        else
                ex[0] = 128 + WTERMSIG(status), ex[1] = WTERMSIG(status);
        (void)fcntl(port, F_SETFL, 0);
        send_frame(VM_FRAME_EXIT, ex, sizeof(ex));
        free(cbuf);
        power_off();
}
