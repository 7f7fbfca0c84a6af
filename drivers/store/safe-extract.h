/* SPDX-License-Identifier: Apache-2.0 */
/* Safe layer extraction: a tar (plain, gzip or zstd) is unpacked into a
 * directory tree with every write fd-relative to the snapshot root
 * (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS for parent directories),
 * so no entry can reach outside it. See docs/IMAGES.md "Safe extraction"
 * for the rules; each has a test in tests/unit/store/test-safe-extract.c. */
#pragma once

#include "lib/error.h"
#include "lib/util.h"

/* Defaults: 8 GiB blob, 1,000,000 entries, 32 GiB expanded, ratio 200. */
#define EXTRACT_BLOB_MAX_DEFAULT (UINT64_C(8) << 30)
#define EXTRACT_ENTRIES_MAX_DEFAULT UINT64_C(1000000)
#define EXTRACT_EXPANDED_MAX_DEFAULT (UINT64_C(32) << 30)
#define EXTRACT_RATIO_MAX_DEFAULT UINT64_C(200)
/* The ratio is only judged once this many bytes were expanded, so tiny
 * layers of zeros are not refused. */
#define EXTRACT_RATIO_SLACK (UINT64_C(1) << 20)

typedef struct ExtractPolicy {
        uint64_t blob_max; /* compressed bytes of the archive */
        uint64_t entries_max;
        uint64_t expanded_max; /* sum of the entries' data bytes */
        uint64_t ratio_max;    /* expanded / compressed */
        bool allow_devices;    /* character and block devices, fifos are always fine */
        bool allow_security_capability;
        bool overlay_whiteouts; /* translate .wh. entries for overlayfs (else refuse them) */
} ExtractPolicy;

typedef struct ExtractStats {
        uint64_t entries;
        uint64_t expanded_bytes;
        uint64_t compressed_bytes;
        uint64_t xattrs_dropped;
        uint64_t whiteouts;
} ExtractStats;

void extract_policy_default(ExtractPolicy *p);

/* Unpacks the archive read from archive_fd into the directory root_fd.
 * Refused entries fail the whole extraction (-EPERM for a breakout or a
 * forbidden entry, -EFBIG/-E2BIG for a cap), with the entry named in err;
 * the caller discards the partly filled tree. */
int safe_extract_fd(int archive_fd, int root_fd, const ExtractPolicy *policy, ExtractStats *ret_stats,
                    BerthError *err);
