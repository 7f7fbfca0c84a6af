/* SPDX-License-Identifier: Apache-2.0 */
/* Workload log files: the CRI line format, one rotated generation. See
 * lib/logfile.h for the format. The writer emits every record with a single
 * write() on an O_APPEND fd, so a reader never sees half a record except at
 * the very end of the file while it is being written. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/logfile.h"

#define LOG_RECORD_OVERHEAD (RFC3339_MAX + 16)

typedef struct LogPending {
        char *buf;
        size_t len;
} LogPending;

struct LogWriter {
        int dirfd;
        int fd;
        uint64_t max_bytes;
        uint64_t size;
        LogPending pending[3]; /* indexed by LogStream */
        char *rec;             /* scratch buffer for one record */
        size_t rec_cap;
};

static const char *stream_name(LogStream s)
{
        return s == LOG_STREAM_STDERR ? "stderr" : "stdout";
}

static int log_writer_open_file(LogWriter *w)
{
        struct stat st;
        int fd;

        fd = openat(w->dirfd, LOGFILE_NAME, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                    0640);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        safe_close(w->fd);
        w->fd = fd;
        w->size = (uint64_t)st.st_size;
        return 0;
}

int log_writer_open(int dirfd, uint64_t max_bytes, LogWriter **ret)
{
        LogWriter *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = -EBADF;
        w->max_bytes = max_bytes;
        w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (w->dirfd < 0) {
                r = -errno;
                free(w);
                return r;
        }
        r = log_writer_open_file(w);
        if (r < 0) {
                log_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

static int log_writer_rotate(LogWriter *w)
{
        if (renameat(w->dirfd, LOGFILE_NAME, w->dirfd, LOGFILE_ROTATED_NAME) < 0)
                return -errno;
        /* The new "log" must start empty even if one was left behind. */
        safe_close(w->fd);
        w->fd = -EBADF;
        (void)unlinkat(w->dirfd, LOGFILE_NAME, 0);
        return log_writer_open_file(w);
}

static int log_writer_emit(LogWriter *w, LogStream stream, bool partial, const char *data, size_t len)
{
        char ts[RFC3339_MAX];
        size_t need = len + LOG_RECORD_OVERHEAD, n;
        int r;

        if (need > w->rec_cap) {
                char *b = realloc(w->rec, need);
                if (!b)
                        return -ENOMEM;
                w->rec = b;
                w->rec_cap = need;
        }
        format_rfc3339(ts, sizeof(ts), now_usec(CLOCK_REALTIME));
        n = (size_t)snprintf(w->rec, w->rec_cap, "%s %s %c ", ts, stream_name(stream), partial ? 'P' : 'F');
        memcpy(w->rec + n, data, len);
        n += len;
        w->rec[n++] = '\n';

        if (w->max_bytes > 0 && w->size > 0 && w->size + n > w->max_bytes / 2) {
                r = log_writer_rotate(w);
                if (r < 0)
                        return r;
        }
        r = write_all(w->fd, w->rec, n);
        if (r < 0)
                return r;
        w->size += n;
        return 0;
}

static int pending_append(LogPending *p, const char *data, size_t len)
{
        char *b;

        if (len == 0)
                return 0;
        b = realloc(p->buf, p->len + len);
        if (!b)
                return -ENOMEM;
        memcpy(b + p->len, data, len);
        p->buf = b;
        p->len += len;
        return 0;
}

/* Emits LOGFILE_LINE_MAX sized P records while the held line is that long. */
static int pending_drain_full(LogWriter *w, LogStream stream)
{
        LogPending *p = &w->pending[stream];
        size_t off = 0;
        int r = 0;

        while (p->len - off >= LOGFILE_LINE_MAX) {
                r = log_writer_emit(w, stream, true, p->buf + off, LOGFILE_LINE_MAX);
                if (r < 0)
                        break;
                off += LOGFILE_LINE_MAX;
        }
        if (off > 0) {
                memmove(p->buf, p->buf + off, p->len - off);
                p->len -= off;
        }
        return r;
}

int log_writer_write(LogWriter *w, LogStream stream, const void *data, size_t len)
{
        const char *d = data;
        LogPending *p;
        int r;

        if (!w || (stream != LOG_STREAM_STDOUT && stream != LOG_STREAM_STDERR))
                return -EINVAL;
        p = &w->pending[stream];

        while (len > 0) {
                const char *nl = memchr(d, '\n', len);
                size_t chunk = nl ? (size_t)(nl - d) : len;

                r = pending_append(p, d, chunk);
                if (r < 0)
                        return r;
                r = pending_drain_full(w, stream);
                if (r < 0)
                        return r;
                if (!nl)
                        break;
                /* A line of exactly LOGFILE_LINE_MAX bytes was emitted as P
                 * above; its newline then closes it with an empty F record,
                 * so readers always see where a line ends. */
                r = log_writer_emit(w, stream, false, p->buf ? p->buf : "", p->len);
                if (r < 0)
                        return r;
                p->len = 0;
                d += chunk + 1;
                len -= chunk + 1;
        }
        return 0;
}

int log_writer_flush(LogWriter *w)
{
        int r = 0;

        if (!w)
                return -EINVAL;
        for (LogStream s = LOG_STREAM_STDOUT; s <= LOG_STREAM_STDERR; s++) {
                LogPending *p = &w->pending[s];
                if (p->len > 0) {
                        int q = log_writer_emit(w, s, true, p->buf, p->len);
                        if (q < 0 && r == 0)
                                r = q;
                        p->len = 0;
                }
        }
        /* No fdatasync: readers are served from the page cache, and output
         * is not an acknowledged write. (On ext4's default data=ordered, the
         * exit record's fsync right after carries these blocks to disk.) */
        return r;
}

LogWriter *log_writer_free(LogWriter *w)
{
        if (!w)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(w->pending); i++)
                free(w->pending[i].buf);
        free(w->rec);
        safe_close(w->fd);
        safe_close(w->dirfd);
        free(w);
        return NULL;
}

/* ---- reader ---- */

struct LogReader {
        int dirfd;
        int fd;           /* file being read, -EBADF when none yet */
        bool rotated;     /* fd was opened as log.1 */
        dev_t dev;
        ino_t ino;
        char *buf;        /* unread bytes: buf[pos..len) */
        size_t pos, len, cap;
        char *line;       /* the current record's content, NUL-terminated copy */
        size_t line_cap;
};

static void reader_reset_buffer(LogReader *r)
{
        r->pos = r->len = 0;
}

static int reader_open_at(LogReader *r, const char *name, bool rotated)
{
        struct stat st;
        int fd;

        fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int q = -errno;
                safe_close(fd);
                return q;
        }
        safe_close(r->fd);
        r->fd = fd;
        r->rotated = rotated;
        r->dev = st.st_dev;
        r->ino = st.st_ino;
        reader_reset_buffer(r);
        return 0;
}

/* Opens the oldest file: log.1 if present, else log, else nothing. */
static int reader_open_oldest(LogReader *r)
{
        int q;

        q = reader_open_at(r, LOGFILE_ROTATED_NAME, true);
        if (q != -ENOENT)
                return q;
        q = reader_open_at(r, LOGFILE_NAME, false);
        if (q == -ENOENT) {
                r->fd = safe_close(r->fd);
                return 0;
        }
        return q;
}

int log_reader_open(int dirfd, LogReader **ret)
{
        LogReader *r;
        int q;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->fd = -EBADF;
        r->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (r->dirfd < 0) {
                q = -errno;
                free(r);
                return q;
        }
        q = reader_open_oldest(r);
        if (q < 0) {
                log_reader_free(r);
                return q;
        }
        *ret = r;
        return 0;
}

/* Finds the offset where the last n complete lines of fd start. Bytes after
 * the last newline are an incomplete record and do not count. Sets *found to
 * the number of complete lines seen (<= n). */
/* True unless the record starting at `start` is a P (partial) record. */
static int record_is_final(int fd, off_t start, bool *ret)
{
        char h[64];
        ssize_t k = pread(fd, h, sizeof(h), start);
        unsigned spaces = 0;

        if (k < 0)
                return -errno;
        for (ssize_t i = 0; i < k; i++)
                if (h[i] == ' ' && ++spaces == 2) {
                        *ret = i + 1 >= k || h[i + 1] != 'P';
                        return 0;
                }
        *ret = true; /* malformed header: count it as a line of its own */
        return 0;
}

/* Finds where the last n lines of fd start. A line is a run of P records
 * closed by an F record, so the answer is the offset just past the
 * (n+1)-th last F record (or 0). *found is the number of lines available, up
 * to n. Trailing bytes without a newline (a record being written) are not
 * counted. */
static int tail_offset(int fd, size_t n, off_t *ret_offset, size_t *found)
{
        char chunk[65536];
        struct stat st;
        off_t end, pos, rec_end = -1; /* offset of the newline ending the record being delimited */
        size_t count = 0;
        bool fin;
        int q;

        if (fstat(fd, &st) < 0)
                return -errno;
        end = st.st_size;
        pos = end;
        *ret_offset = 0;
        while (pos > 0) {
                size_t want = pos > (off_t)sizeof(chunk) ? sizeof(chunk) : (size_t)pos;
                ssize_t k = pread(fd, chunk, want, pos - (off_t)want);
                if (k < 0)
                        return -errno;
                if ((size_t)k != want)
                        return -EIO;
                pos -= (off_t)want;
                for (size_t i = want; i > 0; i--) {
                        off_t nl = pos + (off_t)i - 1;

                        if (chunk[i - 1] != '\n')
                                continue;
                        if (rec_end < 0) {
                                rec_end = nl;
                                if (n == 0) {
                                        *ret_offset = nl + 1;
                                        *found = 0;
                                        return 0;
                                }
                                continue;
                        }
                        q = record_is_final(fd, nl + 1, &fin);
                        if (q < 0)
                                return q;
                        if (fin) {
                                if (count == n) {
                                        *ret_offset = rec_end + 1;
                                        *found = n;
                                        return 0;
                                }
                                count++;
                        }
                        rec_end = nl;
                }
        }
        /* The first record of the file. */
        if (rec_end >= 0) {
                q = record_is_final(fd, 0, &fin);
                if (q < 0)
                        return q;
                if (fin) {
                        if (count == n) {
                                *ret_offset = rec_end + 1;
                                *found = n;
                                return 0;
                        }
                        count++;
                }
        }
        *found = count;
        *ret_offset = n == 0 ? end : 0;
        return 0;
}

int log_reader_tail(LogReader *r, size_t n)
{
        off_t off;
        size_t found = 0;
        int q;

        if (!r)
                return -EINVAL;
        q = reader_open_at(r, LOGFILE_NAME, false);
        if (q == -ENOENT) {
                /* Only log.1 (or nothing): tail within what exists. */
                q = reader_open_oldest(r);
                if (q < 0)
                        return q;
                if (r->fd < 0)
                        return 0;
                q = tail_offset(r->fd, n, &off, &found);
                if (q < 0)
                        return q;
                return lseek(r->fd, off, SEEK_SET) < 0 ? -errno : 0;
        }
        if (q < 0)
                return q;
        q = tail_offset(r->fd, n, &off, &found);
        if (q < 0)
                return q;
        if (found < n) {
                _cleanup_close_ int fd1 = openat(r->dirfd, LOGFILE_ROTATED_NAME,
                                                 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
                if (fd1 >= 0) {
                        off_t off1;
                        size_t found1 = 0;

                        q = tail_offset(fd1, n - found, &off1, &found1);
                        if (q < 0)
                                return q;
                        if (found1 > 0) {
                                q = reader_open_at(r, LOGFILE_ROTATED_NAME, true);
                                if (q < 0)
                                        return q;
                                return lseek(r->fd, off1, SEEK_SET) < 0 ? -errno : 0;
                        }
                }
        }
        return lseek(r->fd, off, SEEK_SET) < 0 ? -errno : 0;
}

/* Reads more bytes of the current file into the buffer. 1 = got some, 0 = EOF. */
static int reader_fill(LogReader *r)
{
        ssize_t k;

        if (r->pos > 0) {
                memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                r->len -= r->pos;
                r->pos = 0;
        }
        if (r->cap - r->len < 16384) {
                size_t ncap = r->cap ? r->cap * 2 : 65536;
                char *b = realloc(r->buf, ncap);
                if (!b)
                        return -ENOMEM;
                r->buf = b;
                r->cap = ncap;
        }
        for (;;) {
                k = read(r->fd, r->buf + r->len, r->cap - r->len);
                if (k >= 0)
                        break;
                if (errno != EINTR)
                        return -errno;
        }
        r->len += (size_t)k;
        return k > 0;
}

static int reader_parse(LogReader *r, const char *p, size_t len, LogRecord *ret)
{
        const char *sp1, *sp2, *e = p + len;
        char ts[RFC3339_MAX + 8];
        size_t tl, sl, cl;
        int q;

        sp1 = memchr(p, ' ', len);
        if (!sp1)
                return -EBADMSG;
        tl = (size_t)(sp1 - p);
        if (tl >= sizeof(ts))
                return -EBADMSG;
        memcpy(ts, p, tl);
        ts[tl] = 0;
        q = parse_rfc3339(ts, &ret->time);
        if (q < 0)
                return -EBADMSG;
        sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
        if (!sp2)
                return -EBADMSG;
        sl = (size_t)(sp2 - sp1 - 1);
        if (sl == 6 && memcmp(sp1 + 1, "stdout", 6) == 0)
                ret->stream = LOG_STREAM_STDOUT;
        else if (sl == 6 && memcmp(sp1 + 1, "stderr", 6) == 0)
                ret->stream = LOG_STREAM_STDERR;
        else
                return -EBADMSG;
        if (e - sp2 < 3 || (sp2[1] != 'F' && sp2[1] != 'P') || sp2[2] != ' ') {
                /* tolerate "F" with empty content and no trailing space */
                if (e - sp2 == 2 && (sp2[1] == 'F' || sp2[1] == 'P')) {
                        ret->partial = sp2[1] == 'P';
                        cl = 0;
                        goto content;
                }
                return -EBADMSG;
        }
        ret->partial = sp2[1] == 'P';
        cl = (size_t)(e - sp2 - 3);
content:
        if (cl + 1 > r->line_cap) {
                char *b = realloc(r->line, cl + 1);
                if (!b)
                        return -ENOMEM;
                r->line = b;
                r->line_cap = cl + 1;
        }
        if (cl > 0)
                memcpy(r->line, sp2 + 3, cl);
        r->line[cl] = 0;
        ret->data = r->line;
        ret->len = cl;
        return 0;
}

/* At EOF of the current file: if "log" was rotated away from under us (or we
 * were reading log.1), move on to the current "log". 1 = switched. */
static int reader_follow(LogReader *r)
{
        struct stat st;
        int q;

        if (r->fd < 0) {
                q = reader_open_oldest(r);
                if (q < 0)
                        return q;
                return r->fd >= 0;
        }
        if (fstatat(r->dirfd, LOGFILE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!r->rotated && st.st_dev == r->dev && st.st_ino == r->ino)
                return 0;
        if (r->rotated && st.st_dev == r->dev && st.st_ino == r->ino)
                return 0;
        /* The old file is complete now (the writer renames before opening
         * the new one); read what was appended since our EOF first. */
        q = reader_fill(r);
        if (q != 0)
                return q < 0 ? q : 1;
        if (r->len > r->pos) /* a torn last line of a finished file: drop it */
                reader_reset_buffer(r);
        q = reader_open_at(r, LOGFILE_NAME, false);
        if (q == -ENOENT)
                return 0;
        return q < 0 ? q : 1;
}

int log_reader_next(LogReader *r, LogRecord *ret)
{
        int q;

        if (!r || !ret)
                return -EINVAL;
        for (;;) {
                if (r->fd >= 0 && r->len > r->pos) {
                        char *p = r->buf + r->pos;
                        char *nl = memchr(p, '\n', r->len - r->pos);
                        if (nl) {
                                size_t l = (size_t)(nl - p);
                                r->pos += l + 1;
                                q = reader_parse(r, p, l, ret);
                                if (q == -EBADMSG)
                                        continue; /* skip a damaged line */
                                return q < 0 ? q : 1;
                        }
                }
                if (r->fd >= 0) {
                        q = reader_fill(r);
                        if (q < 0)
                                return q;
                        if (q > 0)
                                continue;
                }
                q = reader_follow(r);
                if (q <= 0)
                        return q;
        }
}

LogReader *log_reader_free(LogReader *r)
{
        if (!r)
                return NULL;
        safe_close(r->fd);
        safe_close(r->dirfd);
        free(r->buf);
        free(r->line);
        free(r);
        return NULL;
}

/* Appends the on-disk line of rec (with its newline) to *buf. */
int log_record_format_raw(const LogRecord *rec, char **buf, size_t *len, size_t *cap)
{
        char ts[RFC3339_MAX];
        int r;

        if (!rec || !buf || !len || !cap)
                return -EINVAL;
        r = buf_printf(buf, len, cap, "%s %s %c ", format_rfc3339(ts, sizeof(ts), rec->time),
                       stream_name(rec->stream), rec->partial ? 'P' : 'F');
        if (r < 0)
                return r;
        if (*cap - *len < rec->len + 2) {
                size_t ncap = *len + rec->len + 2;
                char *b = realloc(*buf, ncap);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = ncap;
        }
        if (rec->len > 0)
                memcpy(*buf + *len, rec->data, rec->len);
        *len += rec->len;
        (*buf)[(*len)++] = '\n';
        (*buf)[*len] = 0;
        return 0;
}
