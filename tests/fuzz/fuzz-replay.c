/* SPDX-License-Identifier: Apache-2.0 */
/* Replays fuzz inputs without libFuzzer, so corpora run as ordinary tests
 * in every build: fuzz-replay-TARGET DIR|FILE... Every regular file is fed
 * once to LLVMFuzzerTestOneInput(); a crash fails the test. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/util.h"
#include "tests/fuzz/fuzz.h"

#define INPUT_MAX (4 * 1024 * 1024)

static int replay_file(int dirfd, const char *name, unsigned *n)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        r = read_file_at(dirfd, name, INPUT_MAX, &data, &len);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", name, strerror(-r));
                return r;
        }
        /* Copy to an exact-size buffer so ASan catches reads past the end. */
        {
                _cleanup_free_ uint8_t *exact = malloc(len ? len : 1);
                if (!exact)
                        return -ENOMEM;
                memcpy(exact, data, len);
                LLVMFuzzerTestOneInput(exact, len);
        }
        (*n)++;
        return 0;
}

static int replay_path(const char *path, unsigned *n)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        DIR *d;
        struct dirent *de;
        int r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(AT_FDCWD, path, n);
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                struct stat cst;
                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(dirfd(d), de->d_name, &cst, 0) < 0 || !S_ISREG(cst.st_mode))
                        continue;
                int q = replay_file(dirfd(d), de->d_name, n);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        return r;
}

int main(int argc, char *argv[])
{
        unsigned n = 0;
        int r = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                int q = replay_path(argv[i], &n);
                if (q < 0 && r == 0)
                        r = q;
        }
        printf("replayed %u inputs\n", n);
        if (n == 0) {
                fprintf(stderr, "no inputs found\n");
                return 1;
        }
        return r < 0 ? 1 : 0;
}
