/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/util.h"

usec_t now_usec(int clock_id)
{
        struct timespec ts;

        if (clock_gettime(clock_id, &ts) < 0)
                abort();
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / NSEC_PER_USEC;
}

char *format_rfc3339(char *buf, size_t size, usec_t t)
{
        time_t sec = (time_t)(t / USEC_PER_SEC);
        struct tm tm;
        char tmp[24];

        if (!gmtime_r(&sec, &tm) || strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
                snprintf(buf, size, "invalid");
                return buf;
        }
        snprintf(buf, size, "%s.%06uZ", tmp, (unsigned)(t % USEC_PER_SEC));
        return buf;
}

int parse_rfc3339(const char *s, usec_t *ret)
{
        struct tm tm = {};
        const char *p;
        usec_t frac = 0;
        unsigned digits = 0;
        time_t sec;

        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9') {
                        if (digits < 6) {
                                frac = frac * 10 + (usec_t)(*p - '0');
                                digits++;
                        }
                        p++;
                }
                if (digits == 0)
                        return -EINVAL;
                while (digits < 6) {
                        frac *= 10;
                        digits++;
                }
        }
        if (strcmp(p, "Z") != 0)
                return -EINVAL;
        sec = timegm(&tm);
        if (sec < 0)
                return -ERANGE;
        *ret = (usec_t)sec * USEC_PER_SEC + frac;
        return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int send_all(int sock, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                ssize_t n;

                if (cap - len < 4096) {
                        size_t ncap = cap ? cap * 2 : 4096;
                        char *nbuf;

                        if (ncap > max + 1)
                                ncap = max + 1;
                        if (ncap <= len)
                                return -EFBIG;
                        nbuf = realloc(buf, ncap + 1);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return read_fd(fd, max, ret, ret_len);
}

int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode)
{
        return write_file_replace_at(dirfd, path, data, len, mode, WRITE_DURABLE);
}

int write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                          WriteDurability d)
{
        /* the file's data before the rename (old or new whole after a power
         * loss), after it (a new name: one journal commit), the directory */
        bool sync_before = d == WRITE_DURABLE || d == WRITE_OLD_OR_NEW, sync_after = d == WRITE_DURABLE_NEW,
             sync_dir = d == WRITE_DURABLE || d == WRITE_DURABLE_NEW;
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return -ENOMEM;
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r >= 0 && sync_before && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, path) < 0)
                r = -errno;
        if (r >= 0 && sync_after && fsync(fd) < 0) {
                r = -errno;
                (void)unlinkat(dirfd, path, 0); /* not durable: not there */
                return r;
        }
        if (r < 0) {
                (void)unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (!sync_dir)
                return 0;
        /* Make the rename itself durable. */
        if (dirfd == AT_FDCWD) {
                _cleanup_close_ int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void)fsync(dfd);
        } else
                (void)fsync(dirfd);
        return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = NULL;

        if (!path || path[0] != '/')
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        return 0;
}

static int rm_rf_children(int dfd, dev_t dev)
{
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r == 0)
                                r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int cfd;

                        if (st.st_dev != dev) { /* never cross into a mount */
                                if (r == 0)
                                        r = -EXDEV;
                                continue;
                        }
                        cfd = openat(dirfd(d), de->d_name,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                        if (cfd < 0) {
                                if (r == 0)
                                        r = -errno;
                                continue;
                        }
                        int q = rm_rf_children(cfd, dev);
                        if (q < 0 && r == 0)
                                r = q;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                                r = -errno;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

int rm_rf_at(int dirfd, const char *name)
{
        struct stat st;
        int fd, r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = rm_rf_children(fd, st.st_dev);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

char *strdup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

int strv_copy_n(char *const *from, size_t n, char ***ret)
{
        char **l = calloc(n + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(l[i] = strdup(from[i]))) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *ret = l;
        return 0;
}

int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
        va_list ap;
        int n;

        for (;;) {
                size_t avail = *cap - *len;

                va_start(ap, fmt);
                n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? avail : 0, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return -EINVAL;
                if (*buf && (size_t)n < avail) {
                        *len += (size_t)n;
                        return 0;
                }
                size_t ncap = *cap ? *cap : 256;
                while (ncap < *len + (size_t)n + 1)
                        ncap *= 2;
                char *nb = realloc(*buf, ncap);
                if (!nb)
                        return -ENOMEM;
                *buf = nb;
                *cap = ncap;
        }
}
