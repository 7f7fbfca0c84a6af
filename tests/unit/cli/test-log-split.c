/* SPDX-License-Identifier: Apache-2.0 */
/* Raw log records split across arbitrary chunk boundaries, and their output. */
#include <fcntl.h>

#include "cli/log-split.h"
#include "tap.h"

typedef struct Collect {
        char out[65536];
        size_t n;
        unsigned records;
        unsigned partial;
        unsigned err;
} Collect;

/* Serialises records as "<o|e><F|P>[content]" to compare easily. */
static int collect(const LogRecord *rec, void *userdata)
{
        Collect *c = userdata;

        c->records++;
        c->partial += rec->partial;
        c->err += rec->stream == LOG_STREAM_STDERR;
        c->n += (size_t)snprintf(c->out + c->n, sizeof(c->out) - c->n, "%c%c[%.*s]",
                                 rec->stream == LOG_STREAM_STDERR ? 'e' : 'o', rec->partial ? 'P' : 'F',
                                 (int)rec->len, rec->data);
        return 0;
}

static const char stream[] = "2026-11-24T06:40:12.000001Z stdout F hello world\n"
                             "2026-11-24T06:40:12.000002Z stderr F oops: x y\n"
                             "2026-11-24T06:40:12.000003Z stdout P part one \n"
                             "2026-11-24T06:40:12.000004Z stdout F and two\n"
                             "2026-11-24T06:40:12.000005Z stdout F \n"
                             "2026-11-24T06:40:12.000006Z stderr F\n"
                             "2026-11-24T06:40:12.000007Z stdout F tab\there \x01\xff bytes\n";
static const char expected[] =
    "oF[hello world]eF[oops: x y]oP[part one ]oF[and two]oF[]eF[]oF[tab\there \x01\xff bytes]";

static void test_every_split(void)
{
        size_t len = strlen(stream);
        bool all_ok = true;

        /* Every single split point, and byte-by-byte feeding. */
        for (size_t cut = 0; cut <= len; cut++) {
                _cleanup_(log_split_freep) LogSplit *s = NULL;
                Collect c = {};

                if (log_split_new(collect, &c, &s) < 0 || log_split_feed(s, stream, cut) < 0 ||
                    log_split_feed(s, stream + cut, len - cut) < 0 || log_split_finish(s) < 0 ||
                    strcmp(c.out, expected) != 0) {
                        all_ok = false;
                        printf("# cut at %zu: %s\n", cut, c.out);
                }
        }
        CHECK(all_ok, "two-chunk feeding gives the same records at every split point");

        {
                _cleanup_(log_split_freep) LogSplit *s = NULL;
                Collect c = {};
                int r = log_split_new(collect, &c, &s);

                for (size_t i = 0; r >= 0 && i < len; i++)
                        r = log_split_feed(s, stream + i, 1);
                if (r >= 0)
                        r = log_split_finish(s);
                CHECK(r >= 0 && streq(c.out, expected), "byte-by-byte feeding");
                CHECK(c.records == 7 && c.partial == 1 && c.err == 2, "7 records, 1 partial, 2 stderr");
        }
}

static void test_no_final_newline(void)
{
        _cleanup_(log_split_freep) LogSplit *s = NULL;
        Collect c = {};
        const char *d = "2026-11-24T06:40:12.000001Z stdout F last";

        CHECK(log_split_new(collect, &c, &s) == 0 && log_split_feed(s, d, strlen(d)) == 0 && c.records == 0,
              "a line without newline is held");
        CHECK(log_split_finish(s) == 0 && streq(c.out, "oF[last]"), "finish emits the held line");
}

static void test_malformed(void)
{
        static const char *const bad[] = {
            "garbage\n",
            "2026-11-24T06:40:12.000001Z stdin F x\n",
            "2026-11-24T06:40:12.000001Z stdout X x\n",
            "2026-11-24T06:40:12.000001Z stdout Fx\n",
            "notatime stdout F x\n",
            "2026-11-24T06:40:12.000001Z stdout\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(log_split_freep) LogSplit *s = NULL;
                Collect c = {};

                CHECK(log_split_new(collect, &c, &s) == 0 &&
                          log_split_feed(s, bad[i], strlen(bad[i])) == -EBADMSG,
                      "malformed record %zu is -EBADMSG", i);
        }
}

static void test_long_line(void)
{
        _cleanup_(log_split_freep) LogSplit *s = NULL;
        _cleanup_free_ char *big = malloc(LOGFILE_LINE_MAX + 64);
        _cleanup_free_ char *huge = calloc(1, LOG_SPLIT_LINE_MAX + 2);
        Collect c = {};
        size_t n;
        int r;

        n = (size_t)sprintf(big, "2026-11-24T06:40:12.000001Z stdout P ");
        memset(big + n, 'a', LOGFILE_LINE_MAX);
        big[n + LOGFILE_LINE_MAX] = '\n';
        n += LOGFILE_LINE_MAX + 1;
        r = log_split_new(collect, &c, &s);
        for (size_t i = 0; r >= 0 && i < n; i += 1000)
                r = log_split_feed(s, big + i, n - i < 1000 ? n - i : 1000);
        CHECK(r == 0 && c.records == 1 && c.partial == 1, "a full-size record split over 17 chunks");

        memset(huge, 'b', LOG_SPLIT_LINE_MAX + 1);
        r = log_split_feed(s, huge, LOG_SPLIT_LINE_MAX + 1);
        CHECK(r == -EBADMSG, "a line over the cap is refused, not buffered forever");
}

static void read_pipe_into(int fd, char *buf, size_t size)
{
        ssize_t n = pread(fd, buf, size - 1, 0);

        buf[n > 0 ? n : 0] = 0;
}

static void test_output(void)
{
        char po[] = "/tmp/berth-test-logout-XXXXXX", pe[] = "/tmp/berth-test-logerr-XXXXXX";
        int fo = mkostemp(po, O_CLOEXEC), fe = mkostemp(pe, O_CLOEXEC);
        LogOutput o = {.stdout_fd = fo, .stderr_fd = fe, .timestamps = true};
        LogRecord r1 = {.time = 1795502412000001ULL,
                        .stream = LOG_STREAM_STDOUT,
                        .partial = true,
                        .data = "ab",
                        .len = 2};
        LogRecord r2 = {.time = 1795502413000000ULL, .stream = LOG_STREAM_STDERR, .data = "err", .len = 3};
        LogRecord r3 = {.time = 1795502414000000ULL, .stream = LOG_STREAM_STDOUT, .data = "cd", .len = 2};
        char out[256], err[256];

        unlink(po);
        unlink(pe);
        CHECK(log_output_record(&o, &r1) == 0 && log_output_record(&o, &r2) == 0 &&
                  log_output_record(&o, &r3) == 0,
              "records written");
        read_pipe_into(fo, out, sizeof(out));
        read_pipe_into(fe, err, sizeof(err));
        CHECK_STREQ(out, "2026-11-24T06:40:12.000001Z abcd\n",
                    "stdout: a partial record continues the line, one timestamp");
        CHECK_STREQ(err, "2026-11-24T06:40:13.000000Z err\n", "stderr records go to the stderr fd");
        close(fo);
        close(fe);
}

int main(void)
{
        test_every_split();
        test_no_final_newline();
        test_malformed();
        test_long_line();
        test_output();
        return tap_done();
}
