/* SPDX-License-Identifier: Apache-2.0 */
/* Safe layer extraction (see safe-extract.h). Every entry name is split and
 * checked lexically first (no absolute names, no "..", bounded lengths); the
 * parent directory is then reached with openat2(root, parent,
 * RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV), creating missing components one at a time, so an earlier
 * symlink entry can never redirect a later write; the entry itself is made
 * with *at() calls on that parent fd and O_NOFOLLOW/O_EXCL. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "drivers/store/safe-extract.h"

#define COMPONENTS_MAX 256

static void archive_readp(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

void extract_policy_default(ExtractPolicy *p)
{
        *p = (ExtractPolicy){
            .blob_max = EXTRACT_BLOB_MAX_DEFAULT,
            .entries_max = EXTRACT_ENTRIES_MAX_DEFAULT,
            .expanded_max = EXTRACT_EXPANDED_MAX_DEFAULT,
            .ratio_max = EXTRACT_RATIO_MAX_DEFAULT,
            .overlay_whiteouts = true,
        };
}

static int openat2_dir(int root_fd, const char *path)
{
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* Splits name into components in buf (NUL separated); rejects absolute
 * names and "..". Returns the number of components (0 = the root itself). */
static int split_name(const char *name, char *buf, size_t size, const char **comps, BerthError *err)
{
        size_t len;
        int n = 0;

        if (!name || !*name)
                return berth_error_set(err, -EPERM, "", "entry with an empty name");
        len = strlen(name);
        if (len >= size)
                return berth_error_set(err, -ENAMETOOLONG, name, "entry name too long");
        if (name[0] == '/')
                return berth_error_set(err, -EPERM, name, "absolute entry name refused");
        memcpy(buf, name, len + 1);
        for (char *p = buf, *save = NULL, *c; (c = strtok_r(p, "/", &save)); p = NULL) {
                if (streq(c, "."))
                        continue;
                if (streq(c, ".."))
                        return berth_error_set(err, -EPERM, name,
                                               "entry name with a \"..\" component refused");
                if (strlen(c) > NAME_MAX)
                        return berth_error_set(err, -ENAMETOOLONG, name, "path component too long");
                if (n >= COMPONENTS_MAX)
                        return berth_error_set(err, -ENAMETOOLONG, name, "too many path components");
                comps[n++] = c;
        }
        return n;
}

typedef struct Extractor {
        int root_fd;
        const ExtractPolicy *p;
        ExtractStats st;
        char parent_path[PATH_MAX];
        int parent_fd; /* cached O_PATH fd of parent_path */
        BerthError *err;
} Extractor;

/* Opens (creating as needed) the directory made of comps[0..n). */
static int parent_open(Extractor *x, const char **comps, int n, const char *name)
{
        char path[PATH_MAX];
        size_t len = 0;

        path[0] = 0;
        for (int i = 0; i < n; i++) {
                size_t l = strlen(comps[i]);
                if (len + l + 2 >= sizeof(path))
                        return berth_error_set(x->err, -ENAMETOOLONG, name, "entry name too long");
                if (len > 0)
                        path[len++] = '/';
                memcpy(path + len, comps[i], l + 1);
                len += l;
        }
        if (n == 0)
                strcpy(path, ".");
        if (x->parent_fd >= 0 && streq(path, x->parent_path))
                return x->parent_fd;
        x->parent_fd = safe_close(x->parent_fd);

        int fd = openat2_dir(x->root_fd, path);
        if (fd == -ENOENT) {
                /* create the missing components one by one, each fd-relative */
                _cleanup_close_ int cur = fcntl(x->root_fd, F_DUPFD_CLOEXEC, 3);
                if (cur < 0)
                        return -errno;
                for (int i = 0; i < n; i++) {
                        if (mkdirat(cur, comps[i], 0755) < 0 && errno != EEXIST)
                                return berth_error_set(x->err, -errno, name,
                                                       "cannot create a parent directory");
                        struct open_how how = {
                            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                                       RESOLVE_NO_XDEV,
                        };
                        int nfd = (int)syscall(SYS_openat2, cur, comps[i], &how, sizeof(how));
                        if (nfd < 0) {
                                fd = -errno;
                                goto fail;
                        }
                        safe_close(cur);
                        cur = nfd;
                }
                fd = TAKE_FD(cur);
        }
fail:
        if (fd == -ELOOP || fd == -ENOTDIR || fd == -EXDEV)
                return berth_error_set(x->err, -EPERM, name,
                                       "write through a symlink or non-directory refused");
        if (fd < 0)
                return berth_error_set(x->err, fd, name, "cannot open the parent directory");
        x->parent_fd = fd;
        snprintf(x->parent_path, sizeof(x->parent_path), "%s", path);
        return fd;
}

/* Removes whatever sits at parent/base unless both it and the new entry are directories. */
static int clear_slot(int parent, const char *base, bool want_dir)
{
        struct stat st;

        if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                if (want_dir)
                        return 1;
                return rm_rf_at(parent, base);
        }
        if (unlinkat(parent, base, 0) < 0)
                return -errno;
        return 0;
}

/* A relative symlink target must not climb above the root from where it sits. */
static bool symlink_escapes(const char *target, int depth)
{
        char buf[PATH_MAX];

        if (target[0] == '/')
                return false; /* resolved inside the container's root at run time */
        if (strlen(target) >= sizeof(buf))
                return true;
        strcpy(buf, target);
        for (char *p = buf, *save = NULL, *c; (c = strtok_r(p, "/", &save)); p = NULL) {
                if (streq(c, ".."))
                        depth--;
                else if (!streq(c, "."))
                        depth++;
                if (depth < 0)
                        return true;
        }
        return false;
}

static bool xattr_allowed(const ExtractPolicy *p, const char *name)
{
        if (strncmp(name, "user.", 5) == 0)
                return true;
        if (streq(name, "security.capability"))
                return p->allow_security_capability;
        return false;
}

static int apply_xattrs(Extractor *x, struct archive_entry *e, int fd)
{
        const char *xname;
        const void *value;
        size_t size;

        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
                if (!xname || !xattr_allowed(x->p, xname)) {
                        x->st.xattrs_dropped++;
                        continue;
                }
                if (fsetxattr(fd, xname, value, size, 0) < 0 && errno != ENOTSUP)
                        return -errno;
        }
        return 0;
}

static int check_ratio(Extractor *x, struct archive *a, const char *name)
{
        int64_t raw = archive_filter_bytes(a, -1);

        if (x->st.expanded_bytes > x->p->expanded_max)
                return berth_error_set(x->err, -EFBIG, name,
                                       "expanded size over the cap of %" PRIu64 " bytes",
                                       x->p->expanded_max);
        if (raw > 0 && x->st.expanded_bytes > EXTRACT_RATIO_SLACK &&
            x->st.expanded_bytes / (uint64_t)raw > x->p->ratio_max)
                return berth_error_set(x->err, -EFBIG, name, "compression ratio over the cap of %" PRIu64,
                                       x->p->ratio_max);
        return 0;
}

static int write_regular(Extractor *x, struct archive *a, struct archive_entry *e, int parent,
                         const char *base, const char *name)
{
        _cleanup_close_ int fd = -EBADF;
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;

        fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return berth_error_set(x->err, -errno, name, "cannot create file");
        for (;;) {
                r = archive_read_data_block(a, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return berth_error_set(x->err, -EIO, name, "%s", archive_error_string(a));
                x->st.expanded_bytes += size;
                r = check_ratio(x, a, name);
                if (r < 0)
                        return r;
                for (size_t done = 0; done < size;) {
                        ssize_t n = pwrite(fd, (const char *)buf + done, size - done, off + (off_t)done);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return berth_error_set(x->err, -errno, name, "write failed");
                        }
                        done += (size_t)n;
                }
        }
        if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
                return -errno;
        if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0)
                return -errno;
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
                return -errno;
        r = apply_xattrs(x, e, fd);
        if (r < 0)
                return berth_error_set(x->err, r, name, "cannot set an extended attribute");
        struct timespec ts[2] = {{.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
                                 {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)}};
        (void)futimens(fd, ts);
        return 0;
}

static int entry_hardlink(Extractor *x, struct archive_entry *e, int parent, const char *base,
                          const char *name)
{
        char buf[PATH_MAX], path[PATH_MAX];
        const char *comps[COMPONENTS_MAX];
        size_t len = 0;
        struct stat st;
        int n;

        n = split_name(archive_entry_hardlink(e), buf, sizeof(buf), comps, x->err);
        if (n < 0)
                return n == -EPERM
                           ? berth_error_set(x->err, -EPERM, name, "hardlink target outside the root")
                           : n;
        if (n == 0)
                return berth_error_set(x->err, -EPERM, name, "hardlink to the root refused");
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(path + len, sizeof(path) - len, "%s%s", i ? "/" : "", comps[i]);
        struct open_how how = {
            .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        _cleanup_close_ int tfd = (int)syscall(SYS_openat2, x->root_fd, path, &how, sizeof(how));
        if (tfd < 0)
                return berth_error_set(x->err, errno == ENOENT ? -ENOENT : -EPERM, name,
                                       "hardlink target %s is not an earlier entry inside the root", path);
        if (fstat(tfd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return berth_error_set(x->err, -EPERM, name, "hardlink to a directory refused");
        if (linkat(tfd, "", parent, base, AT_EMPTY_PATH) < 0)
                return berth_error_set(x->err, -errno, name, "cannot create hardlink");
        return 0;
}

static int entry_whiteout(Extractor *x, int parent, const char *base, const char *name)
{
        const char *target = base + STRLEN(".wh.");

        if (!x->p->overlay_whiteouts)
                return berth_error_set(x->err, -EPERM, name, "whiteout entries are not allowed here");
        if (streq(base, ".wh..wh..opq")) {
                _cleanup_close_ int dfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return -errno;
                if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return berth_error_set(x->err, -errno, name, "cannot mark the directory opaque");
                x->st.whiteouts++;
                return 0;
        }
        if (!*target || streq(target, ".") || streq(target, "..") || strncmp(target, ".wh.", 4) == 0)
                return berth_error_set(x->err, -EPERM, name, "malformed whiteout refused");
        int r = clear_slot(parent, target, false);
        if (r < 0)
                return r;
        if (mknodat(parent, target, S_IFCHR | 0, makedev(0, 0)) < 0)
                return berth_error_set(x->err, -errno, name, "cannot create the overlay whiteout");
        x->st.whiteouts++;
        return 0;
}

static int extract_entry(Extractor *x, struct archive *a, struct archive_entry *e)
{
        char buf[PATH_MAX];
        const char *comps[COMPONENTS_MAX];
        const char *name = archive_entry_pathname(e), *base;
        mode_t type = archive_entry_filetype(e);
        int n, parent, r;

        n = split_name(name, buf, sizeof(buf), comps, x->err);
        if (n < 0)
                return n;
        if (n == 0)
                return 0; /* "./": the snapshot root keeps its own metadata */
        base = comps[n - 1];
        parent = parent_open(x, comps, n - 1, name);
        if (parent < 0)
                return parent;

        if (strncmp(base, ".wh.", 4) == 0)
                return entry_whiteout(x, parent, base, name);

        if (archive_entry_hardlink(e)) {
                r = clear_slot(parent, base, false);
                if (r < 0)
                        return r;
                return entry_hardlink(x, e, parent, base, name);
        }

        r = clear_slot(parent, base, type == AE_IFDIR);
        if (r < 0)
                return berth_error_set(x->err, r, name, "cannot replace the existing entry");

        switch (type) {
        case AE_IFDIR: {
                if (r == 0 && mkdirat(parent, base, 0700) < 0)
                        return berth_error_set(x->err, -errno, name, "cannot create directory");
                struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
                _cleanup_close_ int dfd = (int)syscall(SYS_openat2, parent, base, &how, sizeof(how));
                if (dfd < 0)
                        return berth_error_set(x->err, -EPERM, name, "directory entry replaced under us");
                if (fchown(dfd, archive_entry_uid(e), archive_entry_gid(e)) < 0 ||
                    fchmod(dfd, archive_entry_perm(e) & 07777) < 0)
                        return -errno;
                return apply_xattrs(x, e, dfd);
        }
        case AE_IFREG:
                return write_regular(x, a, e, parent, base, name);
        case AE_IFLNK: {
                const char *target = archive_entry_symlink(e);
                if (!target || !*target)
                        return berth_error_set(x->err, -EPERM, name, "symlink without a target");
                if (symlink_escapes(target, n - 1))
                        return berth_error_set(x->err, -EPERM, name,
                                               "symlink leading outside the root refused");
                if (symlinkat(target, parent, base) < 0)
                        return berth_error_set(x->err, -errno, name, "cannot create symlink");
                if (fchownat(parent, base, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) <
                    0)
                        return -errno;
                return 0;
        }
        case AE_IFCHR:
        case AE_IFBLK:
                if (!x->p->allow_devices)
                        return berth_error_set(x->err, -EPERM, name, "device node refused by policy");
                __attribute__((fallthrough));
        case AE_IFIFO:
                if (mknodat(parent, base, type | (archive_entry_perm(e) & 07777), archive_entry_rdev(e)) < 0)
                        return berth_error_set(x->err, -errno, name, "cannot create node");
                if (fchownat(parent, base, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) <
                    0)
                        return -errno;
                return 0;
        default:
                return 0; /* sockets and unknown types are skipped */
        }
}

int safe_extract_fd(int archive_fd, int root_fd, const ExtractPolicy *policy, ExtractStats *ret_stats,
                    BerthError *err)
{
        _cleanup_(archive_readp) struct archive *a = NULL;
        ExtractPolicy def;
        struct archive_entry *e;
        struct stat st;
        int r;

        if (!policy) {
                extract_policy_default(&def);
                policy = &def;
        }
        Extractor x = {.root_fd = root_fd, .p = policy, .parent_fd = -EBADF, .err = err};

        if (fstat(archive_fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > policy->blob_max)
                return berth_error_set(err, -EFBIG, "",
                                       "layer of %" PRIu64 " bytes is over the cap of %" PRIu64,
                                       (uint64_t)st.st_size, policy->blob_max);

        a = archive_read_new();
        if (!a)
                return -ENOMEM;
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        if (archive_read_open_fd(a, archive_fd, 1024 * 1024) != ARCHIVE_OK)
                return berth_error_set(err, -EINVAL, "", "not a tar archive: %s", archive_error_string(a));

        for (;;) {
                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN) {
                        r = berth_error_set(err, -EINVAL, "", "corrupt archive: %s",
                                            archive_error_string(a));
                        goto out;
                }
                if (++x.st.entries > policy->entries_max) {
                        r = berth_error_set(err, -E2BIG, "", "more than %" PRIu64 " entries",
                                            policy->entries_max);
                        goto out;
                }
                if (policy->blob_max && (uint64_t)archive_filter_bytes(a, -1) > policy->blob_max) {
                        r = berth_error_set(err, -EFBIG, "", "layer over the cap of %" PRIu64 " bytes",
                                            policy->blob_max);
                        goto out;
                }
                r = extract_entry(&x, a, e);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        x.st.compressed_bytes = (uint64_t)archive_filter_bytes(a, -1);
        safe_close(x.parent_fd);
        if (ret_stats)
                *ret_stats = x.st;
        return r;
}
