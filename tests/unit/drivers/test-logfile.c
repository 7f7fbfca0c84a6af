/* SPDX-License-Identifier: Apache-2.0 */
/* Log writer/reader: partial lines, P records, rotation, tail, following. */
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/logfile.h"
#include "test-util.h"

static int tmpdir(char *buf)
{
        strcpy(buf, "/tmp/berth-logtest-XXXXXX");
        if (!mkdtemp(buf))
                return -errno;
        return open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static bool rec_is(const LogRecord *r, LogStream s, bool partial, const char *data)
{
        return r->stream == s && r->partial == partial && r->len == strlen(data) &&
               memcmp(r->data, data, r->len) == 0;
}

static void test_partial_lines(void)
{
        char dir[64];
        int dfd = tmpdir(dir);
        LogWriter *w = NULL;
        LogReader *rd = NULL;
        LogRecord rec;

        CHECK(dfd >= 0);
        CHECK_RC(log_writer_open(dfd, 0, &w));
        CHECK_RC(log_reader_open(dfd, &rd));
        CHECK(log_reader_next(rd, &rec) == 0); /* empty */

        CHECK_RC(log_writer_write(w, LOG_STREAM_STDOUT, "hel", 3));
        CHECK_RC(log_writer_write(w, LOG_STREAM_STDERR, "err1\nerr", 8));
        CHECK_RC(log_writer_write(w, LOG_STREAM_STDOUT, "lo\nworld\n", 9));
        CHECK_RC(log_writer_write(w, LOG_STREAM_STDOUT, "tail", 4));

        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDERR, false, "err1"));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, false, "hello"));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, false, "world"));
        CHECK(log_reader_next(rd, &rec) == 0);
        CHECK_RC(log_writer_flush(w));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, true, "tail"));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDERR, true, "err"));
        CHECK(log_reader_next(rd, &rec) == 0);

        /* raw format round trip */
        char *buf = NULL;
        size_t len = 0, cap = 0;
        CHECK_RC(log_record_format_raw(&rec, &buf, &len, &cap));
        CHECK(len > 0 && strstr(buf, " stderr P err\n") != NULL);
        free(buf);

        /* an over-long line becomes P records of LOGFILE_LINE_MAX then F */
        char *big = malloc(LOGFILE_LINE_MAX + 11);
        memset(big, 'x', LOGFILE_LINE_MAX + 10);
        big[LOGFILE_LINE_MAX + 10] = '\n';
        CHECK_RC(log_writer_write(w, LOG_STREAM_STDOUT, big, LOGFILE_LINE_MAX + 11));
        CHECK(log_reader_next(rd, &rec) == 1 && rec.partial && rec.len == LOGFILE_LINE_MAX);
        CHECK(log_reader_next(rd, &rec) == 1 && !rec.partial && rec.len == 10);
        free(big);

        log_reader_free(rd);
        log_writer_free(w);
        rm_rf_at(AT_FDCWD, dir);
        close(dfd);
}

static void test_rotation_and_tail(void)
{
        char dir[64], line[64];
        int dfd = tmpdir(dir);
        LogWriter *w = NULL;
        LogReader *rd = NULL, *follower = NULL;
        LogRecord rec;
        struct stat st1, st0;
        int n = 0, last = -1;

        CHECK(dfd >= 0);
        CHECK_RC(log_writer_open(dfd, 4096, &w));
        CHECK_RC(log_reader_open(dfd, &follower));
        /* each record is ~45 bytes: 300 of them rotate several times */
        for (int i = 0; i < 300; i++) {
                int l = snprintf(line, sizeof(line), "line %04d\n", i);
                CHECK_RC(log_writer_write(w, LOG_STREAM_STDOUT, line, (size_t)l));
                /* the follower keeps up across rotations */
                while (log_reader_next(follower, &rec) == 1) {
                        int v = atoi(rec.data + 5);
                        CHECK(v == last + 1);
                        last = v;
                }
        }
        CHECK(last == 299);
        CHECK(fstatat(dfd, "log", &st0, 0) == 0 && fstatat(dfd, "log.1", &st1, 0) == 0);
        CHECK(st0.st_size + st1.st_size <= 4096);
        CHECK(st0.st_size <= 2048 && st1.st_size <= 2048);

        /* a fresh reader starts at the oldest kept record and ends at 299 */
        CHECK_RC(log_reader_open(dfd, &rd));
        while (log_reader_next(rd, &rec) == 1) {
                n++;
                last = atoi(rec.data + 5);
        }
        CHECK(last == 299 && n > 10 && n < 300);

        /* tail within log, then spanning log.1 */
        CHECK_RC(log_reader_tail(rd, 3));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, false, "line 0297"));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, false, "line 0298"));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDOUT, false, "line 0299"));
        CHECK(log_reader_next(rd, &rec) == 0);
        int in_log = (int)(st0.st_size / 45);
        CHECK_RC(log_reader_tail(rd, (size_t)in_log + 5));
        int first = -1, count = 0;
        while (log_reader_next(rd, &rec) == 1) {
                if (first < 0)
                        first = atoi(rec.data + 5);
                count++;
        }
        CHECK(count == in_log + 5 && first == 300 - (in_log + 5));
        CHECK_RC(log_reader_tail(rd, 0));
        CHECK(log_reader_next(rd, &rec) == 0);
        CHECK_RC(log_writer_write(w, LOG_STREAM_STDERR, "after\n", 6));
        CHECK(log_reader_next(rd, &rec) == 1 && rec_is(&rec, LOG_STREAM_STDERR, false, "after"));

        log_reader_free(rd);
        log_reader_free(follower);
        log_writer_free(w);
        rm_rf_at(AT_FDCWD, dir);
        close(dfd);
}

int main(void)
{
        test_partial_lines();
        test_rotation_and_tail();
        return test_result("test-logfile");
}
