/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every berth module: cleanup attributes, ownership
 * transfer, fd helpers. Modelled on systemd's macro set. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STRLEN(s) (sizeof(s) - 1)

/* Take ownership of a pointer/fd out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                          \
        ({                                                                                                   \
                typeof(p) _p_ = (p);                                                                         \
                (p) = NULL;                                                                                  \
                _p_;                                                                                         \
        })
#define TAKE_FD(fd)                                                                                          \
        ({                                                                                                   \
                int _fd_ = (fd);                                                                             \
                (fd) = -EBADF;                                                                               \
                _fd_;                                                                                        \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                              \
        static inline void func##p(type *p)                                                                  \
        {                                                                                                    \
                if (*p)                                                                                      \
                        func(*p);                                                                            \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Close an fd, preserving errno; accepts negative values. Returns -EBADF. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd)
{
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void strv_free(char **l)
{
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}
static inline void strv_freep(char ***l)
{
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

static inline const char *strempty(const char *s)
{
        return s ? s : "";
}

/* Microseconds, CLOCK_REALTIME or CLOCK_MONOTONIC as named by the caller. */
typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define NSEC_PER_USEC ((uint64_t)1000ULL)
#define USEC_INFINITY ((usec_t)UINT64_MAX)

usec_t now_usec(int clock_id);

/* Formats a CLOCK_REALTIME usec value as RFC 3339 UTC with microseconds
 * ("2026-11-24T06:40:12.123456Z"). buf must hold at least 32 bytes. */
char *format_rfc3339(char *buf, size_t size, usec_t t);
#define RFC3339_MAX 32

/* Parses what format_rfc3339() writes (and whole seconds). */
int parse_rfc3339(const char *s, usec_t *ret);

/* Writes a whole buffer, retrying on EINTR/short writes. */
int write_all(int fd, const void *buf, size_t len);
/* write_all() for a socket with MSG_NOSIGNAL: a peer that closed gives -EPIPE,
 * never SIGPIPE (its last words may still be there to read). */
int send_all(int sock, const void *buf, size_t len);
/* Reads fd to its end (at most max bytes, else -EFBIG). NUL-terminated. */
int read_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* Reads a whole small file (at most max bytes, else -EFBIG) relative to dirfd. NUL-terminated. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Atomically replaces path (relative to dirfd): write tmp, fsync, rename, fsync dir. */
int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode);
/* How much of that a file needs. Readers always see the old or the new
 * content whole; the flags only say what survives a power loss. */
typedef enum WriteDurability {
        WRITE_DURABLE,      /* fsync, rename, fsync dir: the new content survives */
        WRITE_DURABLE_NEW,  /* for a name that does not exist yet: rename, then fsync the file and
                             * the dir, durable once it returns; one journal commit where the
                             * filesystem commits the rename with the file (ext4, xfs). A crash
                             * before it returns may leave the file torn: read as never written */
        WRITE_OLD_OR_NEW,   /* fsync, rename: after a power loss the old or the new, never a torn file */
        WRITE_VOLATILE,     /* rename only: for a file that matters only while a process it
                             * describes is alive, which a power loss ends too */
} WriteDurability;
int write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                          WriteDurability d);
/* mkdir -p with mode for each created component; absolute path. */
int mkdir_p(const char *path, mode_t mode);
/* Removes a directory tree below dirfd/name without following symlinks or crossing mounts. */
int rm_rf_at(int dirfd, const char *name);
/* strdup that returns NULL only on ENOMEM for non-NULL input. */
char *strdup_or_null(const char *s);
/* A NULL-terminated deep copy of the first n strings of from. */
int strv_copy_n(char *const *from, size_t n, char ***ret);
/* Appends printf output to a growing heap buffer (*buf, *len, *cap). */
int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) _printf_(4, 5);
