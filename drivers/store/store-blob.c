/* SPDX-License-Identifier: Apache-2.0 */
/* The content store: sha256-addressed blobs. Ingest = write to a temp file
 * in tmp/, fsync, verify size and digest, rename into blobs/sha256/<hex>,
 * fsync the directory, then insert the row. A blob that fails verification
 * is unlinked from tmp/ and never appears under blobs/. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "drivers/store/store-internal.h"

struct StoreIngest {
        Store *s;
        EVP_MD_CTX *md;
        int fd;
        char tmp_name[32];
        char expect[STORE_DIGEST_MAX];
        int64_t expect_size;
        uint64_t max, size;
        int error;
};

bool store_digest_is_valid(const char *digest)
{
        if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
                return false;
        for (const char *p = digest + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static void hex_digest(const unsigned char *md, char ret[STORE_DIGEST_MAX])
{
        static const char hex[] = "0123456789abcdef";
        memcpy(ret, "sha256:", 7);
        for (int i = 0; i < 32; i++) {
                ret[7 + 2 * i] = hex[md[i] >> 4];
                ret[8 + 2 * i] = hex[md[i] & 15];
        }
        ret[7 + 64] = 0;
}

int store_sha256_digest(const void *data, size_t len, char ret[STORE_DIGEST_MAX])
{
        unsigned char md[32];
        unsigned int n = 0;

        if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
                return -EIO;
        hex_digest(md, ret);
        return 0;
}

void store_ingest_abort(StoreIngest *in)
{
        if (!in)
                return;
        if (in->fd >= 0) {
                safe_close(in->fd);
                (void)unlinkat(in->s->tmp_fd, in->tmp_name, 0);
        }
        EVP_MD_CTX_free(in->md);
        free(in);
}

int store_ingest_begin(Store *s, const char *expect_digest, int64_t expect_size, uint64_t max,
                       StoreIngest **ret)
{
        static unsigned counter;
        StoreIngest *in;

        if (expect_digest && !store_digest_is_valid(expect_digest))
                return -EINVAL;
        in = calloc(1, sizeof(*in));
        if (!in)
                return -ENOMEM;
        in->s = s;
        in->fd = -EBADF;
        in->expect_size = expect_size;
        in->max = max ? max : UINT64_MAX;
        if (expect_digest)
                snprintf(in->expect, sizeof(in->expect), "%s", expect_digest);
        in->md = EVP_MD_CTX_new();
        if (!in->md || !EVP_DigestInit_ex(in->md, EVP_sha256(), NULL)) {
                store_ingest_abort(in);
                return -ENOMEM;
        }
        snprintf(in->tmp_name, sizeof(in->tmp_name), "blob-%d-%u", (int)getpid(), counter++);
        in->fd = openat(s->tmp_fd, in->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (in->fd < 0) {
                int r = -errno;
                store_ingest_abort(in);
                return r;
        }
        *ret = in;
        return 0;
}

int store_ingest_write(StoreIngest *in, const void *data, size_t len)
{
        int r;

        if (in->error)
                return in->error;
        if (in->size + len > in->max || (in->expect_size >= 0 && in->size + len > (uint64_t)in->expect_size))
                return (in->error = -EFBIG);
        if (!EVP_DigestUpdate(in->md, data, len))
                return (in->error = -EIO);
        r = write_all(in->fd, data, len);
        if (r < 0)
                return (in->error = r);
        in->size += len;
        return 0;
}

int store_ingest_finish(StoreIngest *in, char ret_digest[STORE_DIGEST_MAX], BerthError *err)
{
        Store *s = in->s;
        unsigned char md[32];
        unsigned int n = 0;
        char digest[STORE_DIGEST_MAX];
        int r;

        if (in->error) {
                r = in->error == -EFBIG
                        ? berth_error_set(err, -EFBIG, "", "blob larger than expected or allowed")
                        : berth_error_set(err, in->error, "", "cannot write blob");
                goto fail;
        }
        STORE_CRASH_POINT("blob-written"); /* temp file written, not yet on disk */
        if (fsync(in->fd) < 0) {
                r = berth_error_set(err, -errno, "", "fsync of the blob failed");
                goto fail;
        }
        STORE_CRASH_POINT("blob-fsynced");
        if (!EVP_DigestFinal_ex(in->md, md, &n) || n != 32) {
                r = -EIO;
                goto fail;
        }
        hex_digest(md, digest);
        if (in->expect_size >= 0 && in->size != (uint64_t)in->expect_size) {
                r = berth_error_set(err, -EBADMSG, "",
                                    "blob %s: size %" PRIu64 " differs from the descriptor's %" PRId64,
                                    in->expect[0] ? in->expect : digest, in->size, in->expect_size);
                goto fail;
        }
        if (in->expect[0] && !streq(in->expect, digest)) {
                r = berth_error_set(err, -EBADMSG, "", "blob digest mismatch: expected %s, got %s",
                                    in->expect, digest);
                goto fail;
        }
        STORE_CRASH_POINT("blob-verified"); /* size and digest checked, still in tmp/ */
        if (renameat(s->tmp_fd, in->tmp_name, s->blobs_fd, digest + 7) < 0) {
                r = -errno;
                goto fail;
        }
        in->fd = safe_close(in->fd);
        if (fsync(s->blobs_fd) < 0) {
                r = -errno;
                goto fail;
        }
        STORE_CRASH_POINT("blob-renamed"); /* in blobs/, no row yet: swept at the next open */
        r = store_sql(s, "INSERT OR IGNORE INTO blobs (digest, size, created) VALUES (?1, ?2, ?3)", NULL,
                      NULL, digest, STORE_SQL_INT, (int64_t)in->size, STORE_SQL_INT,
                      (int64_t)now_usec(CLOCK_REALTIME), STORE_SQL_END);
        if (r < 0)
                goto fail;
        STORE_CRASH_POINT("blob-recorded");
        if (ret_digest)
                memcpy(ret_digest, digest, sizeof(digest));
        store_ingest_abort(in);
        return 0;
fail:
        store_ingest_abort(in);
        return r;
}

int store_blob_ingest_fd(Store *s, int fd, const char *expect_digest, int64_t expect_size, uint64_t max,
                         char ret_digest[STORE_DIGEST_MAX], BerthError *err)
{
        StoreIngest *in = NULL;
        char buf[65536];
        int r;

        if (expect_digest && store_blob_exists(s, expect_digest)) {
                if (ret_digest)
                        snprintf(ret_digest, STORE_DIGEST_MAX, "%s", expect_digest);
                return 0;
        }
        r = store_ingest_begin(s, expect_digest, expect_size, max, &in);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot start blob ingest");
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        store_ingest_abort(in);
                        return berth_error_set(err, r, "", "read failed");
                }
                if (k == 0)
                        break;
                r = store_ingest_write(in, buf, (size_t)k);
                if (r < 0)
                        break; /* finish() reports it and cleans up */
        }
        return store_ingest_finish(in, ret_digest, err);
}

int store_blob_ingest_mem(Store *s, const void *data, size_t len, const char *expect_digest,
                          char ret_digest[STORE_DIGEST_MAX], BerthError *err)
{
        StoreIngest *in = NULL;
        int r;

        if (expect_digest && store_blob_exists(s, expect_digest)) {
                if (ret_digest)
                        snprintf(ret_digest, STORE_DIGEST_MAX, "%s", expect_digest);
                return 0;
        }
        r = store_ingest_begin(s, expect_digest, (int64_t)len, len, &in);
        if (r < 0)
                return r;
        (void)store_ingest_write(in, data, len);
        return store_ingest_finish(in, ret_digest, err);
}

bool store_blob_exists(Store *s, const char *digest)
{
        struct stat st;

        if (!store_digest_is_valid(digest))
                return false;
        if (!store_row_exists(s, "SELECT 1 FROM blobs WHERE digest = ?1", digest))
                return false;
        return fstatat(s->blobs_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int store_blob_open(Store *s, const char *digest, int *ret_fd)
{
        if (!store_digest_is_valid(digest))
                return -EINVAL;
        int fd = openat(s->blobs_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int store_blob_read(Store *s, const char *digest, size_t max, char **ret, size_t *ret_len)
{
        if (!store_digest_is_valid(digest))
                return -EINVAL;
        return read_file_at(s->blobs_fd, digest + 7, max, ret, ret_len);
}
