/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/log-split.h"

struct LogSplit {
        LogSplitFunc cb;
        void *userdata;
        char *held; /* a line begun in an earlier chunk */
        size_t held_len, held_cap;
};

int log_split_new(LogSplitFunc cb, void *userdata, LogSplit **ret)
{
        LogSplit *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->cb = cb;
        s->userdata = userdata;
        *ret = s;
        return 0;
}

LogSplit *log_split_free(LogSplit *s)
{
        if (!s)
                return NULL;
        free(s->held);
        free(s);
        return NULL;
}

int log_record_parse(const char *line, size_t len, LogRecord *ret)
{
        char ts[RFC3339_MAX + 1];
        const char *p = line, *end = line + len, *sp;
        LogRecord rec = {};

        sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp || (size_t)(sp - p) > RFC3339_MAX)
                return -EBADMSG;
        memcpy(ts, p, (size_t)(sp - p));
        ts[sp - p] = 0;
        if (parse_rfc3339(ts, &rec.time) < 0)
                return -EBADMSG;
        p = sp + 1;
        if ((size_t)(end - p) >= 7 && memcmp(p, "stdout ", 7) == 0)
                rec.stream = LOG_STREAM_STDOUT;
        else if ((size_t)(end - p) >= 7 && memcmp(p, "stderr ", 7) == 0)
                rec.stream = LOG_STREAM_STDERR;
        else
                return -EBADMSG;
        p += 7;
        if (p >= end || (*p != 'F' && *p != 'P'))
                return -EBADMSG;
        rec.partial = *p == 'P';
        p++;
        /* "<flag> <content>"; an empty content may come without the space. */
        if (p < end) {
                if (*p != ' ')
                        return -EBADMSG;
                p++;
        }
        rec.data = p;
        rec.len = (size_t)(end - p);
        *ret = rec;
        return 0;
}

static int emit(LogSplit *s, const char *line, size_t len)
{
        LogRecord rec;
        int r;

        r = log_record_parse(line, len, &rec);
        if (r < 0)
                return r;
        return s->cb(&rec, s->userdata);
}

static int hold(LogSplit *s, const char *data, size_t len)
{
        if (s->held_len + len > LOG_SPLIT_LINE_MAX)
                return -EBADMSG;
        if (s->held_len + len > s->held_cap) {
                size_t cap = s->held_cap ? s->held_cap : 1024;
                char *p;

                while (cap < s->held_len + len)
                        cap *= 2;
                p = realloc(s->held, cap);
                if (!p)
                        return -ENOMEM;
                s->held = p;
                s->held_cap = cap;
        }
        memcpy(s->held + s->held_len, data, len);
        s->held_len += len;
        return 0;
}

int log_split_feed(LogSplit *s, const void *data, size_t len)
{
        const char *p = data, *end = p + len;
        int r;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));

                if (!nl)
                        return hold(s, p, (size_t)(end - p));
                if (s->held_len > 0) {
                        r = hold(s, p, (size_t)(nl - p));
                        if (r < 0)
                                return r;
                        size_t n = s->held_len;

                        s->held_len = 0; /* emptied before the callback, which may fail */
                        r = emit(s, s->held, n);
                } else {
                        if ((size_t)(nl - p) > LOG_SPLIT_LINE_MAX)
                                return -EBADMSG;
                        r = emit(s, p, (size_t)(nl - p));
                }
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        return 0;
}

int log_split_finish(LogSplit *s)
{
        size_t n = s->held_len;

        if (n == 0)
                return 0;
        s->held_len = 0;
        return emit(s, s->held, n);
}

int log_output_record(LogOutput *o, const LogRecord *rec)
{
        int fd = rec->stream == LOG_STREAM_STDERR ? o->stderr_fd : o->stdout_fd;
        int r;

        if (o->timestamps && !o->mid_line[rec->stream]) {
                char ts[RFC3339_MAX + 1];

                format_rfc3339(ts, RFC3339_MAX, rec->time);
                strcat(ts, " ");
                r = write_all(fd, ts, strlen(ts));
                if (r < 0)
                        return r;
        }
        r = write_all(fd, rec->data, rec->len);
        if (r < 0)
                return r;
        if (!rec->partial) {
                r = write_all(fd, "\n", 1);
                if (r < 0)
                        return r;
        }
        o->mid_line[rec->stream] = rec->partial;
        return 0;
}
