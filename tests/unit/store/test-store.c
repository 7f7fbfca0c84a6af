/* SPDX-License-Identifier: Apache-2.0 */
/* The store end to end on the real kernel: verified ingest, OCI layout
 * import (directory and tar), layers with whiteouts through overlayfs,
 * prepare/view/commit/remove, GC, and crash recovery at open. Needs root
 * and overlayfs; skips otherwise. */
#include <fcntl.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/store/store-internal.h"
#include "lib/spec.h"
#include "tests/unit/lib/tap.h"
#include "tests/unit/store/tarbuild.h"

static char base[] = "/tmp/berth-store-test-XXXXXX";

static int add_blob(const char *layout, const char *data, size_t len, char digest[STORE_DIGEST_MAX])
{
        char p[PATH_MAX];
        store_sha256_digest(data, len, digest);
        snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, digest + 7);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        close(fd);
        return r;
}

static int add_blob_file(const char *layout, const char *file, char digest[STORE_DIGEST_MAX],
                         size_t *ret_size)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, file, 64 << 20, &buf, &len);
        if (r < 0)
                return r;
        *ret_size = len;
        return add_blob(layout, buf, len, digest);
}

/* An OCI layout with two layers: the second overwrites a file, deletes one
 * with a whiteout and makes a directory opaque. */
static int make_layout(const char *layout)
{
        char p[PATH_MAX], l1[STORE_DIGEST_MAX], l2[STORE_DIGEST_MAX], cfg[STORE_DIGEST_MAX],
            man[STORE_DIGEST_MAX];
        size_t s1, s2;
        char json[4096];
        int r;

        snprintf(p, sizeof(p),
                 "mkdir -p %s/blobs/sha256 && echo '{\"imageLayoutVersion\":\"1.0.0\"}' > %s/oci-layout",
                 layout, layout);
        if (system(p) != 0)
                return -EIO;
        snprintf(p, sizeof(p), "%s/../l1.tar.gz", layout);
        r = tar_build(p, TF_GZIP,
                      (const TEntry[]){{T_DIR, "etc/"},
                                       {T_FILE, "etc/hostname", "one\n"},
                                       {T_FILE, "etc/del", "x"},
                                       {T_DIR, "opq/"},
                                       {T_FILE, "opq/old", "o"},
                                       {T_END}});
        if (r < 0 || add_blob_file(layout, p, l1, &s1) < 0)
                return -EIO;
        snprintf(p, sizeof(p), "%s/../l2.tar.zst", layout);
        r = tar_build(p, TF_ZSTD,
                      (const TEntry[]){{T_FILE, "etc/hostname", "two\n"},
                                       {T_FILE, "etc/.wh.del", ""},
                                       {T_FILE, "opq/.wh..wh..opq", ""},
                                       {T_FILE, "opq/new", "n"},
                                       {T_END}});
        if (r < 0 || add_blob_file(layout, p, l2, &s2) < 0)
                return -EIO;
        snprintf(json, sizeof(json),
                 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/"
                 "sh\"],\"Cmd\":[\"-c\","
                 "\"true\"],\"Env\":[\"PATH=/bin\"],\"WorkingDir\":\"/"
                 "etc\",\"User\":\"0\",\"ExposedPorts\":{\"80/tcp\":{}}},"
                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"history\":[]}");
        size_t cfg_len = strlen(json);
        add_blob(layout, json, cfg_len, cfg);
        snprintf(
            json, sizeof(json),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
            "\"mediaType\":\"application/"
            "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":["
            "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu},"
            "{\"mediaType\":\"application/"
            "vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"%s\",\"size\":%zu}]}",
            cfg, cfg_len, l1, s1, l2, s2);
        size_t man_len = strlen(json);
        add_blob(layout, json, man_len, man);
        snprintf(json, sizeof(json),
                 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
                 "vnd.oci.image.manifest.v1+json\","
                 "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":"
                 "\"v1\"}}]}",
                 man, man_len);
        snprintf(p, sizeof(p), "%s/index.json", layout);
        return write_file_atomic_at(AT_FDCWD, p, json, strlen(json), 0644);
}

static bool file_is(const char *dir, const char *rel, const char *content)
{
        char p[PATH_MAX];
        _cleanup_free_ char *buf = NULL;
        size_t len;
        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        if (read_file_at(AT_FDCWD, p, 4096, &buf, &len) < 0)
                return false;
        return streq(buf, content);
}

static bool path_exists(const char *dir, const char *rel)
{
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        return lstat(p, &st) == 0;
}

static unsigned count_dir(const char *dir)
{
        char p[PATH_MAX + 64];
        snprintf(p, sizeof(p), "ls -A %s | wc -l", dir);
        FILE *f = popen(p, "r");
        unsigned n = 0;
        if (f) {
                if (fscanf(f, "%u", &n) != 1)
                        n = 0;
                pclose(f);
        }
        return n;
}

int main(void)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_strv_free_ char **names = NULL;
        char p[PATH_MAX], layout[PATH_MAX], blobs[PATH_MAX], d[STORE_DIGEST_MAX];
        _cleanup_free_ char *mnt = NULL, *vmnt = NULL, *vmnt2 = NULL;
        StoreImage img = {};
        StoreGcStats gc;
        StoreDf df;
        BerthError err = {};
        int r;

        /* spec.image: exactly one of rootfs and image; command optional with an image */
        {
                static const char doc[] = "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: w}\n"
                                          "spec: {image: 'busybox:1'}\n";
                _cleanup_(spec_freep) Spec *sp = NULL, *sp2 = NULL;
                r = spec_parse_yaml(doc, strlen(doc), &sp, &err);
                tap_ok(r == 0 && streq_ptr(sp->image, "busybox:1") && !sp->rootfs && sp->n_command == 0 &&
                           sp->working_dir_default,
                       "spec.image alone parses, command and workingDir left to the image: %d %s", r,
                       err.message);
                if (sp) {
                        free(sp->rootfs);
                        sp->rootfs = strdup("/run/mounted/here"); /* set at run time by the agent */
                        json_t *j = spec_to_json(sp);
                        _cleanup_free_ char *txt = json_dumps(j, JSON_COMPACT);
                        json_decref(j);
                        r = spec_parse_json(txt, strlen(txt), &sp2, &err);
                        tap_ok(r == 0 && streq_ptr(sp2->image, "busybox:1") && !sp2->rootfs,
                               "the canonical document keeps the image, not the run-time rootfs: %d %s", r,
                               err.message);
                }
        }

        if (geteuid() != 0) {
                fprintf(stderr, "skip: needs root (overlayfs mounts)\n");
                return tap_finish() ? 1 : 77;
        }
        if (!mkdtemp(base))
                return 1;
        snprintf(blobs, sizeof(blobs), "%s/store/blobs/sha256", base);
        r = store_open(base, &s);
        tap_ok(r == 0, "store_open creates the layout: %d", r);

        /* ingest verification */
        r = store_blob_ingest_mem(s, "hello", 5,
                                  "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                  d, &err);
        tap_ok(r == -EBADMSG, "ingest with a wrong digest fails: %d (%s)", r, err.message);
        tap_ok(count_dir(blobs) == 0, "the failed blob is not visible under blobs/");
        snprintf(p, sizeof(p), "%s/store/tmp", base);
        tap_ok(count_dir(p) == 0, "and no temp file is left");
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return 1;
        (void)write(pfd[1], "hello world", 11);
        close(pfd[1]);
        r = store_blob_ingest_fd(s, pfd[0], NULL, 5, 0, d, &err);
        close(pfd[0]);
        tap_ok(r == -EFBIG, "ingest longer than the descriptor's size fails: %d", r);
        r = store_blob_ingest_mem(s, "hello", 5, NULL, d, &err);
        tap_ok(r == 0 && streq(d, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
               "ingest computes the sha256 digest: %s", d);
        tap_ok(store_blob_exists(s, d) && count_dir(blobs) == 1, "the verified blob is stored");

        /* import an OCI layout directory */
        snprintf(layout, sizeof(layout), "%s/layout", base);
        tap_ok(make_layout(layout) == 0, "test OCI layout built");
        r = store_import_path(s, layout, NULL, &names, &err);
        tap_ok(r == 0 && names && streq(names[0], "layout:v1"), "OCI layout directory imported as %s: %d %s",
               names ? names[0] : "-", r, err.message);
        r = store_image_get(s, "layout:v1", &img);
        tap_ok(r == 0 && img.n_layers == 2, "image has two layers: %d", r);
        /* the manifest cache: a second lookup gets its own copy of the same
         * layers, and the chain keys it keeps are store_chain_key's */
        StoreImage again = {};
        char(*keys)[STORE_KEY_MAX] = NULL, k0[STORE_KEY_MAX], k1[STORE_KEY_MAX];
        r = store_image_get(s, "layout:v1", &again);
        tap_ok(r == 0 && again.n_layers == 2 && again.layers[1] != img.layers[1] &&
                   streq(again.layers[1], img.layers[1]) && streq(again.config_digest, img.config_digest),
               "a cached manifest is copied out whole: %d", r);
        store_image_done(&again);
        /* ... served from memory: with the blob moved away the lookup still
         * answers (a blob never changes under its digest) */
        char mblob[PATH_MAX], mmoved[PATH_MAX + 8];
        snprintf(mblob, sizeof(mblob), "%s/store/blobs/sha256/%s", base, img.digest + 7);
        snprintf(mmoved, sizeof(mmoved), "%s.away", mblob);
        tap_ok(rename(mblob, mmoved) == 0, "manifest blob moved away");
        r = store_image_get(s, "layout:v1", &again);
        tap_ok(r == 0 && again.n_layers == 2 && streq(again.layers[0], img.layers[0]),
               "a loaded manifest is served from the cache: %d", r);
        store_image_done(&again);
        tap_ok(rename(mmoved, mblob) == 0, "manifest blob back");
        r = store_image_chain_keys(s, &img, &keys);
        tap_ok(r == 0 && store_chain_key(NULL, img.layers[0], k0) == 0 &&
                   store_chain_key(k0, img.layers[1], k1) == 0 && streq(keys[0], k0) && streq(keys[1], k1),
               "cached chain keys match store_chain_key: %s", r == 0 ? keys[1] : "-");
        free(keys);
        json_t *cfgj = NULL;
        StoreImageConfig ic = {};
        r = store_image_config(s, &img, &cfgj);
        if (r >= 0)
                r = store_image_config_parse(cfgj, &ic);
        tap_ok(r == 0 && ic.entrypoint && streq(ic.entrypoint[0], "/bin/sh") && ic.cmd &&
                   streq(ic.cmd[1], "true") && streq_ptr(ic.working_dir, "/etc") && ic.exposed_ports &&
                   streq(ic.exposed_ports[0], "80/tcp"),
               "image config: Entrypoint, Cmd, WorkingDir, ExposedPorts");
        store_image_config_done(&ic);
        json_decref(cfgj);

        /* import the same layout as a tar, under another name */
        snprintf(p, sizeof(p), "cd %s && tar -cf %s/layout.tar .", layout, base);
        tap_ok(system(p) == 0, "layout tarred");
        strv_free(names);
        names = NULL;
        snprintf(p, sizeof(p), "%s/layout.tar", base);
        r = store_import_path(s, p, "example.com/test/app:2", &names, &err);
        tap_ok(r == 0 && streq(names[0], "example.com/test/app:2"), "OCI layout tar imported: %d %s", r,
               err.message);

        /* a corrupted blob in a layout is refused, and nothing of it stays */
        char bad[PATH_MAX];
        snprintf(bad, sizeof(bad), "%s/blobs/sha256/%s", layout, img.layers[1] + 7);
        snprintf(p, sizeof(p), "cp -a %s %s.orig && printf 'garbage' >> %s", bad, bad, bad);
        (void)system(p);
        /* new name so the import has to look at blobs again: drop the image first */
        StoreGcStats g0;
        (void)store_image_remove(s, "example.com/test/app:2", &g0, &err);
        (void)store_image_remove(s, "layout:v1", &g0, &err);
        r = store_import_path(s, layout, "corrupt", NULL, &err);
        tap_ok(r < 0, "layout with a corrupted layer refused: %d (%s)", r, err.message);
        tap_ok(!store_blob_exists(s, img.layers[1]), "the corrupted layer is not in the store");
        snprintf(p, sizeof(p), "mv %s.orig %s", bad, bad);
        (void)system(p);
        r = store_import_path(s, layout, NULL, NULL, &err);
        tap_ok(r == 0, "the repaired layout imports: %d", r);

        /* snapshots: a view shows the layers merged with whiteouts applied */
        r = store_snapshot_view(s, "view-1", "layout:v1", &vmnt, &err);
        tap_ok(r == 0, "view snapshot mounted at %s: %d %s", vmnt ? vmnt : "-", r, err.message);
        if (r == 0) {
                tap_ok(file_is(vmnt, "etc/hostname", "two\n"), "upper layer's file wins");
                tap_ok(!path_exists(vmnt, "etc/del"), "whiteout hides the lower layer's file");
                tap_ok(!path_exists(vmnt, "opq/old") && path_exists(vmnt, "opq/new"),
                       "opaque directory hides lower entries");
                snprintf(p, sizeof(p), "%s/etc/newfile", vmnt);
                tap_ok(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0 && errno == EROFS,
                       "view is read-only");
        }

        /* active snapshot: write, delete, commit */
        r = store_snapshot_prepare(s, "wl-test", "layout:v1", &mnt, &err);
        tap_ok(r == 0, "active snapshot prepared: %d %s", r, err.message);
        r = store_snapshot_prepare(s, "wl-test", "layout:v1", NULL, &err);
        tap_ok(r == -EEXIST, "a key is used once: %d", r);
        if (mnt) {
                snprintf(p, sizeof(p),
                         "echo changed > %s/etc/hostname && echo new > %s/added && rm %s/opq/new", mnt, mnt,
                         mnt);
                tap_ok(system(p) == 0, "wrote into the active snapshot");
        }
        r = store_image_remove(s, "layout:v1", &gc, &err);
        tap_ok(r == -EBUSY, "an image in use by a snapshot cannot be removed: %d", r);
        r = store_snapshot_commit(s, "wl-test", "committed:1", d, &err);
        tap_ok(r == 0, "commit made image %s: %d %s", d, r, err.message);
        StoreImage ci = {};
        r = store_image_get(s, "committed:1", &ci);
        tap_ok(r == 0 && ci.n_layers == 3, "committed image has the base layers plus one: %zu", ci.n_layers);
        store_image_done(&ci);
        r = store_snapshot_view(s, "view-2", "committed:1", &vmnt2, &err);
        tap_ok(r == 0 && file_is(vmnt2, "etc/hostname", "changed\n") && file_is(vmnt2, "added", "new\n") &&
                   !path_exists(vmnt2, "opq/new") && !path_exists(vmnt2, "etc/del"),
               "view of the committed image shows the changes, deletions as whiteouts");

        /* remove snapshots and images; GC empties the store */
        tap_ok(store_snapshot_remove(s, "wl-test") == 0 && store_snapshot_remove(s, "view-1") == 0 &&
                   store_snapshot_remove(s, "view-2") == 0,
               "snapshots removed");
        tap_ok(mnt && !path_exists(mnt, "etc"), "active snapshot unmounted");
        r = store_df(s, &df);
        tap_ok(r == 0 && df.images == 2 && df.snapshots_active == 0,
               "df: %" PRIu64 " images, %" PRIu64 " blobs", df.images, df.blobs);
        r = store_image_remove(s, "committed:1", &gc, &err);
        tap_ok(r == 0 && gc.blobs_removed == 3 && gc.snapshots_removed == 1,
               "removing the committed image frees its layer, config and manifest: %d (%" PRIu64
               " blobs, %" PRIu64 " snapshots)",
               r, gc.blobs_removed, gc.snapshots_removed);
        r = store_image_remove(s, "layout:v1", &gc, &err);
        tap_ok(r == 0, "base image removed: %d", r);
        r = store_gc(s, &gc);
        r = store_df(s, &df);
        tap_ok(r == 0 && df.images == 0 && df.blobs == 0 && df.snapshots_committed == 0,
               "GC leaves an empty store (%" PRIu64 " blobs, %" PRIu64 " snapshots)", df.blobs,
               df.snapshots_committed);

        /* crash recovery: half-made objects from a crash are cleaned at open */
        r = store_import_path(s, layout, NULL, NULL, &err);
        tap_ok(r == 0, "re-imported: %d", r);
        s = store_free(s);
        snprintf(p, sizeof(p),
                 "cd %s/store && mkdir -p tmp/unpack-half/fs snapshots/layer-orphan/fs mounts/gone && "
                 "echo x > tmp/blob-1-1 && echo junk > blobs/sha256/%064d && "
                 "printf 'X' >> blobs/sha256/%s",
                 base, 7, img.config_digest + 7);
        tap_ok(system(p) == 0, "simulated crash leftovers and a damaged blob");
        r = store_open(base, &s);
        tap_ok(r == 0, "store reopened: %d", r);
        snprintf(p, sizeof(p), "%s/store/tmp", base);
        tap_ok(count_dir(p) == 0, "tmp/ emptied");
        snprintf(p, sizeof(p), "%s/store/snapshots", base);
        tap_ok(!path_exists(p, "layer-orphan"), "snapshot directory without a row removed");
        snprintf(p, sizeof(p), "%s/store/mounts", base);
        tap_ok(!path_exists(p, "gone"), "stray mount point removed");
        snprintf(p, sizeof(p), "%0*d", 64, 7);
        tap_ok(!path_exists(blobs, p), "blob with an unknown id removed");
        tap_ok(!store_blob_exists(s, img.config_digest) && !path_exists(blobs, img.config_digest + 7),
               "blob whose size does not match its row removed");

        /* leases: only a live process that took its lease before holds it; a worker
         * that died with berthd (a zombie nobody reaped) or a reused pid does not */
        {
                pid_t zombie = fork(), live = zombie > 0 ? fork() : -1;
                char sql[256], st[64];
                if (zombie == 0)
                        _exit(0);
                if (live == 0) {
                        pause();
                        _exit(0);
                }
                for (int i = 0; i < 100; i++) { /* until the child is a zombie */
                        _cleanup_free_ char *t = NULL;
                        snprintf(st, sizeof(st), "/proc/%d/stat", (int)zombie);
                        if (read_file_at(AT_FDCWD, st, 4096, &t, NULL) >= 0 && strstr(t, ") Z "))
                                break;
                        usleep(10000);
                }
                struct {
                        pid_t pid;
                        int64_t created;
                        bool held;
                        const char *what;
                } cases[] = {
                        { zombie, (int64_t)now_usec(CLOCK_REALTIME), false, "a zombie's lease" },
                        { live, 1, false, "the lease of a pid reused since (its process is younger)" },
                        { live, (int64_t)now_usec(CLOCK_REALTIME) + 5000000, true, "a live worker's lease" },
                };
                for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                        snprintf(sql, sizeof(sql), "DELETE FROM leases; INSERT INTO leases (pid, created) VALUES (%d, %" PRId64 ");",
                                 (int)cases[i].pid, cases[i].created);
                        r = store_db_exec(s, sql);
                        s = store_free(s);
                        snprintf(p, sizeof(p), "touch %s/store/tmp/blob-leftover", base);
                        (void)system(p);
                        r = r < 0 ? r : store_open(base, &s);
                        snprintf(p, sizeof(p), "%s/store/tmp", base);
                        tap_ok(r == 0 && (count_dir(p) == 0) == !cases[i].held, "%s %s recovery at open", cases[i].what,
                               cases[i].held ? "defers" : "does not block");
                }
                (void)store_db_exec(s, "DELETE FROM leases;");
                (void)kill(live, SIGKILL);
                (void)waitpid(live, NULL, 0);
                (void)waitpid(zombie, NULL, 0);
        }

        store_image_done(&img);
        s = store_free(s);
        snprintf(p, sizeof(p), "%s/store/mounts", base);
        snprintf(p, sizeof(p), "grep -q ' %s/' /proc/self/mountinfo", base);
        tap_ok(system(p) != 0, "no mounts left under the test root");
        snprintf(p, sizeof(p), "rm -rf %s", base);
        (void)system(p);
        return tap_finish();
}
