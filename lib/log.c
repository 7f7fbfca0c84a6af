/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "lib/log.h"

#define JOURNAL_SOCKET_DEFAULT "/run/systemd/journal/socket"

static int max_level = LOG_INFO;
static const char *ident = "berth";
static LogTarget target = LOG_TARGET_AUTO;
static const char *journal_path = JOURNAL_SOCKET_DEFAULT;
static int journal_fd = -EBADF;
static int journal_state = -1; /* -1 undecided, 0 stderr, 1 journal */

void log_set_target(LogTarget t)
{
        target = t;
        journal_state = -1;
}

void log_parse_environment(void)
{
        const char *e = getenv("BERTH_LOG_TARGET"), *p = getenv("BERTH_JOURNAL_SOCKET");

        if (p && p[0] == '/' && strlen(p) < sizeof(((struct sockaddr_un *)NULL)->sun_path))
                journal_path = p;
        if (e && streq(e, "journal"))
                log_set_target(LOG_TARGET_JOURNAL);
        else if (e && streq(e, "stderr"))
                log_set_target(LOG_TARGET_STDERR);
        else
                log_set_target(LOG_TARGET_AUTO);
}

/* systemd sets JOURNAL_STREAM=<dev>:<ino> when stderr is connected to the
 * journal; only then does "auto" pick the native protocol (which keeps the
 * structured fields), so a berthd run by hand or by a test logs to stderr. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool use_journal(void)
{
        if (journal_state >= 0)
                return journal_state;
        journal_state = 0;
        if (target == LOG_TARGET_STDERR || (target == LOG_TARGET_AUTO && !stderr_is_journal()))
                return false;
        if (access(journal_path, W_OK) < 0)
                return false;
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (journal_fd < 0)
                return false;
        journal_state = 1;
        return true;
}

/* The journal's native protocol: one datagram of KEY=value lines (values
 * here never hold a newline: the message is flattened first). */
static int journal_send(int level, const char *workload, const char *event, const char *msg)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char head[256], wl[160], ev[96];
        char flat[2048];
        size_t i;
        struct iovec iov[6];
        int n = 0;

        for (i = 0; msg[i] && i < sizeof(flat) - 1; i++)
                flat[i] = msg[i] == '\n' ? ' ' : msg[i];
        flat[i] = 0;
        snprintf(head, sizeof(head), "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\n", level, ident,
                 (int)getpid());
        iov[n++] = (struct iovec){ head, strlen(head) };
        if (workload) {
                snprintf(wl, sizeof(wl), "BERTH_WORKLOAD=%s\n", workload);
                iov[n++] = (struct iovec){ wl, strlen(wl) };
        }
        if (event) {
                snprintf(ev, sizeof(ev), "BERTH_EVENT=%s\n", event);
                iov[n++] = (struct iovec){ ev, strlen(ev) };
        }
        iov[n++] = (struct iovec){ (char *)"MESSAGE=", STRLEN("MESSAGE=") };
        iov[n++] = (struct iovec){ flat, strlen(flat) };
        iov[n++] = (struct iovec){ (char *)"\n", 1 };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", journal_path);
        struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = iov, .msg_iovlen = n };
        return sendmsg(journal_fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

void log_set_ident(const char *i)
{
        ident = i;
}

static const char *level_name(int level)
{
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",   [LOG_ERR] = "error",
                [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level < (int)ELEMENTSOF(names) ? names[level] : "?";
}

static void log_write(int level, const char *workload, const char *event, const char *msg)
{
        /* A journal that went away (or refused) falls back to stderr for this line. */
        if (use_journal() && journal_send(level, workload, event, msg) >= 0)
                return;
        if (workload)
                fprintf(stderr, "%s[%d]: %s workload=%s: %s\n", ident, (int)getpid(), level_name(level),
                        workload, msg);
        else
                fprintf(stderr, "%s[%d]: %s: %s\n", ident, (int)getpid(), level_name(level), msg);
}

int log_internal(int level, int error, const char *workload, const char *fmt, ...)
{
        char msg[2048];
        int saved = errno;
        va_list ap;

        if (error < 0)
                error = -error;
        errno = error; /* so %m works in fmt */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_write(level, workload, NULL, msg);
        errno = saved;
        return -error;
}

int log_event_internal(int level, const char *workload, const char *event, const char *fmt, ...)
{
        char msg[2048];
        int saved = errno;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_write(level, workload, event, msg);
        errno = saved;
        return 0;
}
