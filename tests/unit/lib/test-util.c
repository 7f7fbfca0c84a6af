/* SPDX-License-Identifier: Apache-2.0 */
/* lib/util.c helpers: RFC 3339, atomic writes, capped reads, rm -rf. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/util.h"
#include "tests/unit/lib/tap.h"

static void test_rfc3339(void)
{
        char buf[RFC3339_MAX];
        usec_t t = 0;

        tap_ok(streq(format_rfc3339(buf, sizeof(buf), 0), "1970-01-01T00:00:00.000000Z"), "epoch: %s", buf);
        tap_ok(parse_rfc3339("2026-11-24T06:40:12.123456Z", &t) == 0 &&
                   streq(format_rfc3339(buf, sizeof(buf), t), "2026-11-24T06:40:12.123456Z"),
               "round-trip with microseconds: %s", buf);
        tap_ok(parse_rfc3339("2026-11-24T06:40:12Z", &t) == 0 && t % USEC_PER_SEC == 0 &&
                   streq(format_rfc3339(buf, sizeof(buf), t), "2026-11-24T06:40:12.000000Z"),
               "whole seconds");
        tap_ok(parse_rfc3339("2026-11-24T06:40:12.5Z", &t) == 0 && t % USEC_PER_SEC == 500000,
               "short fraction");
        {
                usec_t now = now_usec(CLOCK_REALTIME), back = 0;
                tap_ok(parse_rfc3339(format_rfc3339(buf, sizeof(buf), now), &back) == 0 && back == now,
                       "now round-trips");
        }
        tap_ok(parse_rfc3339("2026-11-24T06:40:12.Z", &t) == -EINVAL, "empty fraction rejected");
        tap_ok(parse_rfc3339("2026-11-24T06:40:12+01:00", &t) == -EINVAL, "offsets rejected");
        tap_ok(parse_rfc3339("2026-11-24 06:40:12Z", &t) == -EINVAL, "space separator rejected");
        tap_ok(parse_rfc3339("garbage", &t) == -EINVAL, "garbage rejected");
        tap_ok(parse_rfc3339("2026-11-24T06:40:12Zx", &t) == -EINVAL, "trailing bytes rejected");
}

/* Entries of the directory dfd whose names do not start with a dot. */
static int count_entries(int dfd)
{
        _cleanup_close_ int d2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(TAKE_FD(d2));
        struct dirent *de;
        int n = 0;

        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static void test_files(void)
{
        char tmpl[] = "/tmp/berth-test-util-XXXXXX";
        _cleanup_close_ int dfd = -EBADF;
        char *data = NULL;
        size_t len = 0;
        struct stat st;

        if (!mkdtemp(tmpl)) {
                tap_ok(false, "mkdtemp: %m");
                return;
        }
        dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        tap_ok(dfd >= 0, "open temp dir");

        tap_ok(write_file_atomic_at(dfd, "f", "hello", 5, 0640) == 0, "write_file_atomic_at");
        tap_ok(fstatat(dfd, "f", &st, 0) == 0 && (st.st_mode & 0777) == 0640 && st.st_size == 5,
               "mode and size");
        tap_ok(write_file_atomic_at(dfd, "f", "bye", 3, 0640) == 0, "replace");
        tap_ok(read_file_at(dfd, "f", 100, &data, &len) == 0 && len == 3 && streq(data, "bye"), "read back");
        free(data);
        data = NULL;
        /* No temp file left behind. */
        int n = count_entries(dfd);
        tap_ok(n == 1, "no temp files left (%d entries)", n);

        /* Every durability level writes the whole content under the name
         * and leaves no temp file. */
        {
                static const WriteDurability ds[] = { WRITE_DURABLE, WRITE_DURABLE_NEW, WRITE_OLD_OR_NEW,
                                                      WRITE_VOLATILE };
                for (size_t i = 0; i < ELEMENTSOF(ds); i++) {
                        char name[16], want[16];

                        snprintf(name, sizeof(name), "d%zu", i);
                        snprintf(want, sizeof(want), "level %zu", i);
                        tap_ok(write_file_replace_at(dfd, name, want, strlen(want), 0600, ds[i]) == 0 &&
                                       read_file_at(dfd, name, 100, &data, &len) == 0 && streq(data, want) &&
                                       unlinkat(dfd, name, 0) == 0,
                               "write_file_replace_at level %zu", i);
                        free(data);
                        data = NULL;
                        n = count_entries(dfd);
                        tap_ok(n == 1, "level %zu: no temp file left (%d entries)", i, n);
                }
        }

        /* Caps: exactly max is fine, one more byte is -EFBIG. */
        tap_ok(read_file_at(dfd, "f", 3, &data, &len) == 0 && len == 3, "read exactly max");
        free(data);
        data = NULL;
        tap_ok(read_file_at(dfd, "f", 2, &data, &len) == -EFBIG && !data, "read over max is -EFBIG");
        {
                _cleanup_free_ char *big = malloc(100000);
                memset(big, 'a', 100000);
                tap_ok(write_file_atomic_at(dfd, "big", big, 100000, 0600) == 0, "write 100000 bytes");
                tap_ok(read_file_at(dfd, "big", 100000, &data, &len) == 0 && len == 100000 && data[len] == 0,
                       "read 100000 bytes, NUL-terminated");
                free(data);
                data = NULL;
                tap_ok(read_file_at(dfd, "big", 99999, &data, &len) == -EFBIG, "big file over cap");
        }
        tap_ok(write_file_atomic_at(dfd, "empty", "", 0, 0600) == 0 &&
                   read_file_at(dfd, "empty", 10, &data, &len) == 0 && len == 0 && data && data[0] == 0,
               "empty file");
        free(data);
        data = NULL;
        tap_ok(read_file_at(dfd, "missing", 10, &data, &len) == -ENOENT, "missing file is -ENOENT");
        tap_ok(symlinkat("f", dfd, "link") == 0 && read_file_at(dfd, "link", 10, &data, &len) == -ELOOP,
               "read_file_at does not follow symlinks");

        /* rm_rf_at: a tree with a symlink to a directory outside it. */
        {
                char outside[] = "/tmp/berth-test-util-out-XXXXXX";
                char path[256];
                int fd;

                tap_ok(mkdtemp(outside) != NULL, "outside dir");
                snprintf(path, sizeof(path), "%s/keep", outside);
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                safe_close(fd);
                tap_ok(mkdirat(dfd, "tree", 0755) == 0 && mkdirat(dfd, "tree/a", 0755) == 0 &&
                           mkdirat(dfd, "tree/a/b", 0755) == 0 &&
                           write_file_atomic_at(dfd, "tree/a/b/file", "x", 1, 0600) == 0 &&
                           symlinkat(outside, dfd, "tree/a/out") == 0,
                       "build tree");
                tap_ok(rm_rf_at(dfd, "tree") == 0, "rm_rf_at");
                tap_ok(fstatat(dfd, "tree", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
                       "tree is gone");
                tap_ok(access(path, F_OK) == 0, "symlink target survived");
                tap_ok(rm_rf_at(dfd, "tree") == 0, "rm_rf_at of a missing entry is 0");
                tap_ok(rm_rf_at(AT_FDCWD, outside) == 0 && access(outside, F_OK) < 0, "remove outside dir");
        }

        /* mkdir_p */
        {
                char p[256];
                snprintf(p, sizeof(p), "%s/x/y/z", tmpl);
                tap_ok(mkdir_p(p, 0700) == 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode), "mkdir_p");
                tap_ok(mkdir_p(p, 0700) == 0, "mkdir_p is idempotent");
                tap_ok(mkdir_p("relative/path", 0700) == -EINVAL, "mkdir_p rejects relative paths");
        }

        tap_ok(rm_rf_at(AT_FDCWD, tmpl) == 0 && access(tmpl, F_OK) < 0, "clean up temp dir");
}

static void test_buf_printf(void)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        bool ok = true;

        for (int i = 0; i < 1000; i++)
                ok = ok && buf_printf(&buf, &len, &cap, "%d,", i) == 0;
        tap_ok(ok && len == strlen(buf) && strncmp(buf, "0,1,2,", 6) == 0 && strstr(buf, "999,"),
               "buf_printf grows (%zu bytes)", len);
}

static void test_strv_copy_n(void)
{
        char *from[] = { "a", "bc", "d", NULL };
        _cleanup_strv_free_ char **l = NULL;

        tap_ok(strv_copy_n(from, 2, &l) == 0 && l && streq(l[0], "a") && streq(l[1], "bc") && !l[2] &&
                       l[0] != from[0],
               "strv_copy_n copies the first n strings, NULL-terminated");
}

int main(void)
{
        test_rfc3339();
        test_files();
        test_buf_printf();
        test_strv_copy_n();
        return tap_finish();
}
