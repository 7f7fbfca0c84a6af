/* SPDX-License-Identifier: Apache-2.0 */
/* Builds crafted tar archives with libarchive for the store tests. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

typedef enum TEntryType { T_FILE, T_DIR, T_SYMLINK, T_HARDLINK, T_CHR, T_FIFO, T_END } TEntryType;

typedef struct TEntry {
        TEntryType type;
        const char *name;
        const char *data; /* file content, or link target */
        const char *xattr_name;
        const char *xattr_value;
        size_t zeros;     /* T_FILE: this many zero bytes instead of data */
        size_t xattr_len; /* 0: strlen(xattr_value) */
} TEntry;

typedef enum TFilter { TF_NONE, TF_GZIP, TF_ZSTD } TFilter;

/* Writes the entries to path; returns 0 or -1. */
static inline int tar_build(const char *path, TFilter filter, const TEntry *ents)
{
        struct archive *a = archive_write_new();
        int r = 0;

        archive_write_set_format_pax_restricted(a);
        if (filter == TF_GZIP)
                archive_write_add_filter_gzip(a);
        else if (filter == TF_ZSTD)
                archive_write_add_filter_zstd(a);
        if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
                archive_write_free(a);
                return -1;
        }
        for (const TEntry *t = ents; t->type != T_END; t++) {
                struct archive_entry *e = archive_entry_new();
                size_t size =
                    t->type == T_FILE ? (t->zeros ? t->zeros : (t->data ? strlen(t->data) : 0)) : 0;

                archive_entry_set_pathname(e, t->name);
                archive_entry_set_uid(e, 0);
                archive_entry_set_gid(e, 0);
                archive_entry_set_mtime(e, 1700000000, 0);
                switch (t->type) {
                case T_FILE:
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        break;
                case T_DIR:
                        archive_entry_set_filetype(e, AE_IFDIR);
                        archive_entry_set_perm(e, 0755);
                        break;
                case T_SYMLINK:
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_perm(e, 0777);
                        archive_entry_set_symlink(e, t->data);
                        break;
                case T_HARDLINK:
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_hardlink(e, t->data);
                        break;
                case T_CHR:
                        archive_entry_set_filetype(e, AE_IFCHR);
                        archive_entry_set_perm(e, 0666);
                        archive_entry_set_rdevmajor(e, 1);
                        archive_entry_set_rdevminor(e, 3);
                        break;
                case T_FIFO:
                        archive_entry_set_filetype(e, AE_IFIFO);
                        archive_entry_set_perm(e, 0644);
                        break;
                default:
                        break;
                }
                archive_entry_set_size(e, (la_int64_t)size);
                if (t->xattr_name)
                        archive_entry_xattr_add_entry(e, t->xattr_name, t->xattr_value,
                                                      t->xattr_len ? t->xattr_len : strlen(t->xattr_value));
                if (archive_write_header(a, e) != ARCHIVE_OK)
                        r = -1;
                if (r == 0 && size > 0) {
                        if (t->zeros) {
                                static char z[65536];
                                for (size_t done = 0; done < size;) {
                                        size_t n = size - done < sizeof(z) ? size - done : sizeof(z);
                                        archive_write_data(a, z, n);
                                        done += n;
                                }
                        } else
                                archive_write_data(a, t->data, size);
                }
                archive_entry_free(e);
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                r = -1;
        archive_write_free(a);
        return r;
}
