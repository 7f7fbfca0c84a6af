/* SPDX-License-Identifier: Apache-2.0 */
/* bench-store ROOT LAYOUT [N]: figures for the image store (docs/IMAGES.md).
 *   prepare  store_snapshot_prepare() (rows, dirs, overlay mount) + remove,
 *            against a hand-made overlay mount of the same committed layers
 *            (mkdir upper/work, mount, umount, rmdir): median, p99, ratio.
 *   unpack   safe_extract_fd() of each layer blob into an empty directory,
 *            against `tar -xf` of the same blob into another: MB/s and ratio.
 * Prints figures; not a test. Run by tests/bench/bench-store.sh. */
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/store/store.h"

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void stats(uint64_t *v, size_t n, double *med, double *p99)
{
        qsort(v, n, sizeof(*v), cmp_u64);
        *med = (double)v[n / 2];
        *p99 = (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

static uint64_t dir_bytes(const char *path)
{
        char cmd[PATH_MAX + 64];
        unsigned long long b = 0;
        snprintf(cmd, sizeof(cmd), "du -sb --apparent-size %s | cut -f1", path);
        FILE *f = popen(cmd, "r");
        if (f) {
                if (fscanf(f, "%llu", &b) != 1)
                        b = 0;
                pclose(f);
        }
        return b;
}

/* store_snapshot_prepare() then remove; *ret = the prepare's time. */
static int prepare_berth(Store *s, size_t i, uint64_t *ret, BerthError *err)
{
        _cleanup_free_ char *mnt = NULL;
        char k[64];

        snprintf(k, sizeof(k), "bench-%zu", i);
        usec_t a = now_usec(CLOCK_MONOTONIC);
        int r = store_snapshot_prepare(s, k, "bench:1", &mnt, err);
        *ret = now_usec(CLOCK_MONOTONIC) - a;
        if (r >= 0)
                store_snapshot_remove(s, k);
        return r;
}

/* mkdir upper, work and mountpoint, mount the overlay, then undo; *ret =
 * the time to mounted. */
static int prepare_by_hand(const char *base, const char *lower, size_t i, uint64_t *ret)
{
        char up[PATH_MAX + 32], wk[PATH_MAX + 32], mp[PATH_MAX + 32], opts[8192];

        snprintf(up, sizeof(up), "%s/u%zu", base, i);
        snprintf(wk, sizeof(wk), "%s/w%zu", base, i);
        snprintf(mp, sizeof(mp), "%s/m%zu", base, i);
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, up, wk);
        usec_t a = now_usec(CLOCK_MONOTONIC);
        if (mkdir(up, 0755) < 0 || mkdir(wk, 0700) < 0 || mkdir(mp, 0755) < 0 ||
            mount("overlay", mp, "overlay", 0, opts) < 0)
                return -errno;
        *ret = now_usec(CLOCK_MONOTONIC) - a;
        umount2(mp, MNT_DETACH);
        rmdir(mp);
        rm_rf_at(AT_FDCWD, up);
        rm_rf_at(AT_FDCWD, wk);
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_strv_free_ char **names = NULL;
        BerthError err = {};
        StoreImage img = {};
        char lower[4096] = "", key[STORE_KEY_MAX] = "", path[PATH_MAX];
        size_t n = argc > 3 ? (size_t)atoi(argv[3]) : 50;
        int r;

        if (argc < 3 || n < 5)
                return fprintf(stderr, "usage: bench-store ROOT LAYOUT [N>=5]\n"), 2;
        r = store_open(argv[1], &s);
        if (r < 0)
                return fprintf(stderr, "store_open: %s\n", strerror(-r)), 1;
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        r = store_import_path(s, argv[2], "bench:1", &names, &err);
        if (r < 0)
                return fprintf(stderr, "import: %s\n", err.message), 1;
        usec_t t_import = now_usec(CLOCK_MONOTONIC) - t0;
        r = store_image_get(s, "bench:1", &img);
        if (r < 0)
                return 1;
        for (size_t i = 0; i < img.n_layers; i++) {
                char part[PATH_MAX + 8];
                store_chain_key(i ? key : NULL, img.layers[i], key);
                snprintf(part, sizeof(part), "%s/store/snapshots/%s/fs", argv[1], key);
                /* overlay lists the top layer first */
                char tmp[4096];
                snprintf(tmp, sizeof(tmp), "%s%s%s", part, lower[0] ? ":" : "", lower);
                memcpy(lower, tmp, sizeof(lower));
        }
        printf("image: %zu layer(s), import (ingest + verify + unpack + fsync) %.1f ms\n", img.n_layers,
               (double)t_import / 1000);

        /* prepare + mount vs hand-made overlay, alternating which goes first:
         * each one's cleanup (umount, rmdir) leaves kernel work behind that
         * would otherwise always land on the same side */
        uint64_t *tb = calloc(n, sizeof(uint64_t)), *th = calloc(n, sizeof(uint64_t));
        char base[PATH_MAX];
        snprintf(base, sizeof(base), "%s/hand", argv[1]);
        mkdir(base, 0755);
        for (size_t i = 0; i < n; i++)
                for (int side = 0; side < 2; side++) {
                        if ((side ^ (int)(i & 1)) == 0) {
                                r = prepare_berth(s, i, &tb[i], &err);
                                if (r < 0)
                                        return fprintf(stderr, "prepare: %s\n", err.message), 1;
                        } else if (prepare_by_hand(base, lower, i, &th[i]) < 0)
                                return perror("hand-made overlay"), 1;
                }
        double bm, bp, hm, hp;
        stats(tb, n, &bm, &bp);
        stats(th, n, &hm, &hp);
        printf("prepare+mount  berth   median %7.1f us  p99 %7.1f us  (n=%zu)\n", bm, bp, n);
        printf("prepare+mount  by hand median %7.1f us  p99 %7.1f us\n", hm, hp);
        printf("prepare ratio berth/hand (median): %.2f  (target <= 1.5)\n", bm / hm);

        /* unpack throughput vs tar -xf: best of 3, alternating which goes
         * first so neither always finds the blob in the page cache */
        uint64_t bytes = 0;
        usec_t t_berth = 0, t_tar = 0;
        for (size_t i = 0; i < img.n_layers; i++) {
                usec_t best_b = USEC_INFINITY, best_t = USEC_INFINITY;
                char d1[PATH_MAX + 16], d2[PATH_MAX + 16];
                snprintf(d1, sizeof(d1), "%s/x-berth", argv[1]);
                snprintf(d2, sizeof(d2), "%s/x-tar", argv[1]);
                snprintf(path, sizeof(path), "%s/store/blobs/sha256/%s", argv[1], img.layers[i] + 7);
                for (int rep = 0; rep < 6; rep++) {
                        bool do_tar = (rep % 2) ^ (rep / 2 % 2);
                        usec_t a;
                        if (!do_tar) {
                                mkdir(d1, 0755);
                                int bfd = -1;
                                store_blob_open(s, img.layers[i], &bfd);
                                _cleanup_close_ int dfd = open(d1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                ExtractStats st;
                                a = now_usec(CLOCK_MONOTONIC);
                                r = safe_extract_fd(bfd, dfd, store_policy(s), &st, &err);
                                a = now_usec(CLOCK_MONOTONIC) - a;
                                close(bfd);
                                if (r < 0)
                                        return fprintf(stderr, "extract: %s\n", err.message), 1;
                                if (a < best_b)
                                        best_b = a;
                                if (rep == 0)
                                        bytes += dir_bytes(d1);
                                rm_rf_at(AT_FDCWD, d1);
                        } else {
                                mkdir(d2, 0755);
                                a = now_usec(CLOCK_MONOTONIC);
                                pid_t pid = fork();
                                if (pid == 0) {
                                        execlp("tar", "tar", "-xf", path, "-C", d2, "--numeric-owner",
                                               (char *)NULL);
                                        _exit(127);
                                }
                                int status;
                                waitpid(pid, &status, 0);
                                a = now_usec(CLOCK_MONOTONIC) - a;
                                if (a < best_t)
                                        best_t = a;
                                rm_rf_at(AT_FDCWD, d2);
                        }
                }
                t_berth += best_b;
                t_tar += best_t;
        }
        double mb = (double)bytes / (1 << 20);
        printf("unpack  berth %8.1f MiB/s  (%.1f MiB in %.1f ms)\n", mb / ((double)t_berth / 1e6), mb,
               (double)t_berth / 1000);
        printf("unpack  tar   %8.1f MiB/s  (%.1f ms)\n", mb / ((double)t_tar / 1e6), (double)t_tar / 1000);
        printf("unpack ratio berth/tar (throughput): %.2f  (target >= 0.8)\n",
               (double)t_tar / (double)t_berth);
        store_image_done(&img);
        return 0;
}
