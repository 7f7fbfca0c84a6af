/* SPDX-License-Identifier: Apache-2.0 */
/* Each safe-extraction rule against a crafted archive, and a corpus of
 * breakout archives run against a sentinel tree that sits beside the
 * extraction roots and must stay untouched. Needs root (chown, mknod,
 * trusted.* xattrs); skips otherwise. */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "drivers/store/safe-extract.h"
#include "tests/unit/lib/tap.h"
#include "tests/unit/store/tarbuild.h"

static char base[] = "/tmp/berth-extract-test-XXXXXX";
static unsigned snap_n;

static int extract(const TEntry *ents, TFilter f, const ExtractPolicy *p, ExtractStats *st, BerthError *err,
                   char *ret_root, size_t root_size)
{
        char tar[PATH_MAX], root[PATH_MAX];
        int r;

        snprintf(tar, sizeof(tar), "%s/store/a%u.tar", base, snap_n);
        snprintf(root, sizeof(root), "%s/store/snap-%u", base, snap_n++);
        if (tar_build(tar, f, ents) < 0)
                return -999;
        if (mkdir(root, 0755) < 0)
                return -998;
        _cleanup_close_ int afd = open(tar, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *err = (BerthError){};
        r = safe_extract_fd(afd, rfd, p, st, err);
        unlink(tar);
        if (ret_root)
                snprintf(ret_root, root_size, "%s", root);
        if (r < 0)
                tap_diag("refused: %s: %s", err->field, err->message);
        return r;
}

static void tree_digest(char *out, size_t size)
{
        char cmd[PATH_MAX + 256];
        snprintf(cmd, sizeof(cmd),
                 "cd %s && find . -path ./store -prune -o -printf '%%p %%y %%s %%m %%T@ %%l\\n' | sort | "
                 "sha256sum; cat sentinel/secret sentinel/dir/file | sha256sum",
                 base);
        FILE *f = popen(cmd, "r");
        size_t n = f ? fread(out, 1, size - 1, f) : 0;
        out[n] = 0;
        if (f)
                pclose(f);
}

static bool exists_at(const char *root, const char *rel, struct stat *st)
{
        char p[PATH_MAX];
        struct stat tmp;
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        return lstat(p, st ? st : &tmp) == 0;
}

int main(void)
{
        ExtractPolicy pol;
        ExtractStats st;
        BerthError err;
        char root[PATH_MAX], before[512], after[512], p[PATH_MAX];
        struct stat sb;
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "skip: needs root (chown, mknod, trusted.* xattrs)\n");
                return 77;
        }
        if (!mkdtemp(base))
                return 1;
        snprintf(p, sizeof(p),
                 "mkdir -p %s/store %s/sentinel/dir && echo secret > %s/sentinel/secret && "
                 "echo inner > %s/sentinel/dir/file && ln -s secret %s/sentinel/link",
                 base, base, base, base, base);
        if (system(p) != 0)
                return 1;
        tree_digest(before, sizeof(before));
        extract_policy_default(&pol);

        /* a well-formed layer, in each compression */
        static const TEntry good[] = {
            {T_DIR, "./etc/"},
            {T_FILE, "etc/hostname", "box\n"},
            {T_FILE, "etc/xa", "x", "user.note", "hello"},
            {T_SYMLINK, "bin/sh", "/bin/busybox"},
            {T_SYMLINK, "etc/rel", "../etc/hostname"},
            {T_HARDLINK, "etc/hostname2", "etc/hostname"},
            {T_FIFO, "run/fifo"},
            {T_END},
        };
        for (TFilter f = TF_NONE; f <= TF_ZSTD; f++) {
                r = extract(good, f, &pol, &st, &err, root, sizeof(root));
                tap_ok(r == 0 && st.entries == 7, "well-formed layer (filter %d) extracts: %d", f, r);
                tap_ok(exists_at(root, "etc/hostname", &sb) && S_ISREG(sb.st_mode) && sb.st_size == 4 &&
                           sb.st_nlink == 2,
                       "regular file and its hardlink");
                tap_ok(exists_at(root, "bin/sh", &sb) && S_ISLNK(sb.st_mode),
                       "absolute symlink kept (resolved in root at run time)");
                tap_ok(exists_at(root, "run/fifo", &sb) && S_ISFIFO(sb.st_mode), "fifo created");
                snprintf(p, sizeof(p), "%s/etc/xa", root);
                char v[16] = "";
                tap_ok(getxattr(p, "user.note", v, sizeof(v)) == 5, "allowlisted xattr user.* kept");
        }

        /* rule: absolute names */
        r = extract((const TEntry[]){{T_FILE, "/abs-escape", "x"}, {T_END}}, TF_NONE, &pol, &st, &err, NULL,
                    0);
        tap_ok(r == -EPERM, "absolute entry name refused: %d", r);
        tap_ok(access("/abs-escape", F_OK) < 0, "nothing written at the absolute path");

        /* rule: ".." components */
        r = extract((const TEntry[]){{T_FILE, "a/../../sentinel/secret", "pwned"}, {T_END}}, TF_NONE, &pol,
                    &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "\"..\" component refused: %d", r);
        r = extract((const TEntry[]){{T_FILE, "..", "x"}, {T_END}}, TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "bare \"..\" refused: %d", r);

        /* rule: symlinks leading outside */
        r = extract((const TEntry[]){{T_SYMLINK, "esc", "../../sentinel"}, {T_END}}, TF_NONE, &pol, &st,
                    &err, NULL, 0);
        tap_ok(r == -EPERM, "symlink climbing out of the root refused: %d", r);
        r = extract((const TEntry[]){{T_SYMLINK, "a/b/esc", "../../../x"}, {T_END}}, TF_NONE, &pol, &st,
                    &err, NULL, 0);
        tap_ok(r == -EPERM, "nested symlink climbing out refused: %d", r);
        r = extract((const TEntry[]){{T_SYMLINK, "a/b/ok", "../../x"}, {T_END}}, TF_NONE, &pol, &st, &err,
                    NULL, 0);
        tap_ok(r == 0, "relative symlink staying inside accepted: %d", r);

        /* rule: hardlinks leading outside */
        r = extract((const TEntry[]){{T_HARDLINK, "h", "../sentinel/secret"}, {T_END}}, TF_NONE, &pol, &st,
                    &err, NULL, 0);
        tap_ok(r == -EPERM, "hardlink with \"..\" target refused: %d", r);
        r = extract((const TEntry[]){{T_HARDLINK, "h", "/etc/passwd"}, {T_END}}, TF_NONE, &pol, &st, &err,
                    NULL, 0);
        tap_ok(r == -EPERM, "hardlink to an absolute host path refused: %d", r);
        r = extract((const TEntry[]){{T_SYMLINK, "l", "/"}, {T_HARDLINK, "h", "l/etc/passwd"}, {T_END}},
                    TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM || r == -ENOENT, "hardlink through a symlink refused: %d", r);

        /* rule: writes through an earlier symlink */
        snprintf(p, sizeof(p), "%s/sentinel", base);
        r = extract((const TEntry[]){{T_SYMLINK, "l", p}, {T_FILE, "l/secret", "pwned"}, {T_END}}, TF_NONE,
                    &pol, &st, &err, root, sizeof(root));
        tap_ok(r == -EPERM, "write through an earlier absolute symlink refused: %d", r);
        r = extract(
            (const TEntry[]){{T_DIR, "real/"}, {T_SYMLINK, "l", "real"}, {T_FILE, "l/x", "y"}, {T_END}},
            TF_NONE, &pol, &st, &err, root, sizeof(root));
        tap_ok(r == -EPERM, "write through an earlier in-root symlink refused too: %d", r);
        tap_ok(!exists_at(root, "real/x", NULL), "nothing written through it");

        /* rule: malformed whiteouts */
        r = extract((const TEntry[]){{T_FILE, "d/.wh..", ""}, {T_END}}, TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "whiteout \".wh..\" refused: %d", r);
        r = extract((const TEntry[]){{T_FILE, "d/.wh...", ""}, {T_END}}, TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "whiteout \".wh...\" refused: %d", r);
        r = extract((const TEntry[]){{T_FILE, ".wh.", ""}, {T_END}}, TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "whiteout \".wh.\" refused: %d", r);

        /* whiteouts translated for overlayfs */
        r = extract((const TEntry[]){{T_FILE, "etc/.wh.gone", ""},
                                     {T_DIR, "opq/"},
                                     {T_FILE, "opq/.wh..wh..opq", ""},
                                     {T_FILE, "opq/kept", "k"},
                                     {T_END}},
                    TF_NONE, &pol, &st, &err, root, sizeof(root));
        tap_ok(r == 0 && st.whiteouts == 2, "whiteouts accepted: %d", r);
        tap_ok(exists_at(root, "etc/gone", &sb) && S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(0, 0),
               ".wh.gone became an overlay whiteout (char 0:0)");
        tap_ok(!exists_at(root, "etc/.wh.gone", NULL), "no .wh. file left in the tree");
        snprintf(p, sizeof(p), "%s/opq", root);
        char ov[4] = "";
        tap_ok(getxattr(p, "trusted.overlay.opaque", ov, sizeof(ov)) == 1 && ov[0] == 'y',
               "opaque directory marked trusted.overlay.opaque=y");
        tap_ok(exists_at(root, "opq/kept", NULL), "the opaque directory's own entries stay");

        /* rule: device nodes */
        r = extract((const TEntry[]){{T_CHR, "dev/null"}, {T_END}}, TF_NONE, &pol, &st, &err, NULL, 0);
        tap_ok(r == -EPERM, "device node refused by default: %d", r);
        ExtractPolicy dev = pol;
        dev.allow_devices = true;
        r = extract((const TEntry[]){{T_CHR, "dev/null"}, {T_END}}, TF_NONE, &dev, &st, &err, root,
                    sizeof(root));
        tap_ok(r == 0 && exists_at(root, "dev/null", &sb) && S_ISCHR(sb.st_mode),
               "device node allowed by policy: %d", r);

        /* rule: xattrs allowlist and security.capability */
        /* VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_BIND_SERVICE */
        static const char cap[20] = "\x01\x00\x00\x02\x00\x04\x00\x00";
        r = extract((const TEntry[]){{T_FILE, "f1", "x", "trusted.overlay.redirect", "/sentinel"},
                                     {T_FILE, "f2", "x", "security.capability", "caps"},
                                     {T_FILE, "f3", "x", "security.selinux", "unconfined_u"},
                                     {T_END}},
                    TF_NONE, &pol, &st, &err, root, sizeof(root));
        tap_ok(r == 0 && st.xattrs_dropped >= 3,
               "xattrs outside the allowlist dropped: %d, dropped %" PRIu64, r, st.xattrs_dropped);
        snprintf(p, sizeof(p), "%s/f1", root);
        tap_ok(getxattr(p, "trusted.overlay.redirect", ov, sizeof(ov)) < 0,
               "trusted.overlay.* never set from a layer");
        ExtractPolicy capp = pol;
        capp.allow_security_capability = true;
        r = extract(
            (const TEntry[]){{T_FILE, "f2", "x", "security.capability", cap, 0, sizeof(cap)}, {T_END}},
            TF_NONE, &capp, &st, &err, root, sizeof(root));
        snprintf(p, sizeof(p), "%s/f2", root);
        tap_ok(r == 0 && st.xattrs_dropped == 0 && getxattr(p, "security.capability", NULL, 0) == 20,
               "security.capability kept when the policy allows it: %d", r);
        r = extract(
            (const TEntry[]){{T_FILE, "f2", "x", "security.capability", cap, 0, sizeof(cap)}, {T_END}},
            TF_NONE, &pol, &st, &err, root, sizeof(root));
        snprintf(p, sizeof(p), "%s/f2", root);
        tap_ok(r == 0 && getxattr(p, "security.capability", NULL, 0) < 0, "and dropped by default: %d", r);

        /* rule: caps */
        ExtractPolicy small = pol;
        small.entries_max = 3;
        r = extract(
            (const TEntry[]){
                {T_FILE, "1", "x"}, {T_FILE, "2", "x"}, {T_FILE, "3", "x"}, {T_FILE, "4", "x"}, {T_END}},
            TF_NONE, &small, &st, &err, NULL, 0);
        tap_ok(r == -E2BIG, "entry count cap: %d", r);
        small = pol;
        small.expanded_max = 100000;
        r = extract((const TEntry[]){{T_FILE, "big", NULL, NULL, NULL, 200000}, {T_END}}, TF_NONE, &small,
                    &st, &err, NULL, 0);
        tap_ok(r == -EFBIG, "expanded bytes cap: %d", r);
        small = pol;
        small.blob_max = 4096;
        r = extract((const TEntry[]){{T_FILE, "big", NULL, NULL, NULL, 20000}, {T_END}}, TF_NONE, &small,
                    &st, &err, NULL, 0);
        tap_ok(r == -EFBIG, "blob size cap: %d", r);
        r = extract((const TEntry[]){{T_FILE, "bomb", NULL, NULL, NULL, 64u << 20}, {T_END}}, TF_GZIP, &pol,
                    &st, &err, NULL, 0);
        tap_ok(r == -EFBIG, "compression ratio cap (64 MiB of zeros, gzip): %d", r);

        /* sentinel corpus: every breakout attempt again, in every compression */
        snprintf(p, sizeof(p), "%s/sentinel/secret", base);
        const TEntry *corpus[] = {
            (const TEntry[]){{T_FILE, "../sentinel/secret", "pwned"}, {T_END}},
            (const TEntry[]){{T_FILE, "./../../sentinel/new", "pwned"}, {T_END}},
            (const TEntry[]){{T_SYMLINK, "s", "../../sentinel"}, {T_FILE, "s/secret", "pwned"}, {T_END}},
            (const TEntry[]){{T_SYMLINK, "s", ".."}, {T_FILE, "s/sentinel/secret", "pwned"}, {T_END}},
            (const TEntry[]){{T_SYMLINK, "s", "/"}, {T_DIR, "s/newdir/"}, {T_END}},
            (const TEntry[]){{T_HARDLINK, "h", "../../sentinel/secret"}, {T_END}},
            (const TEntry[]){{T_SYMLINK, "x", "."},
                             {T_SYMLINK, "x/x/y", "../../../../sentinel"},
                             {T_FILE, "x/x/y/secret", "p"},
                             {T_END}},
            (const TEntry[]){{T_FILE, "d/.wh..", ""}, {T_END}},
            (const TEntry[]){{T_FILE, "../.wh.sentinel", ""}, {T_END}},
            (const TEntry[]){{T_CHR, "../sentinel/dev"}, {T_END}},
            (const TEntry[]){{T_DIR, "../sentinel/dir/"}, {T_END}},
        };
        unsigned refused = 0;
        for (TFilter f = TF_NONE; f <= TF_ZSTD; f++)
                for (size_t i = 0; i < ELEMENTSOF(corpus); i++)
                        if (extract(corpus[i], f, &pol, &st, &err, NULL, 0) < 0)
                                refused++;
        tap_ok(refused == 3 * ELEMENTSOF(corpus), "every breakout archive refused (%u of %zu)", refused,
               3 * ELEMENTSOF(corpus));
        tree_digest(after, sizeof(after));
        tap_ok(streq(before, after), "sentinel tree beside the store untouched");
        if (!streq(before, after))
                tap_diag("before %s\nafter %s", before, after);

        snprintf(p, sizeof(p), "rm -rf %s", base);
        (void)system(p);
        return tap_finish();
}
