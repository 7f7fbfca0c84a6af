/* SPDX-License-Identifier: Apache-2.0 */
/* BerthError carries a human-readable reason across a boundary (spec
 * validation -> API -> client). Functions still return a negative errno; the
 * errno decides the class (the list below; docs/API.md "Errors"), the struct adds the field
 * path and the message. Every function taking a BerthError* accepts NULL. */
#pragma once

#include "lib/util.h"

typedef struct BerthError {
        int error;          /* negative errno, 0 when unset */
        char field[256];    /* field path, e.g. "spec.resources.memory"; "" if none */
        char message[768];  /* complete sentence fragment, no trailing newline */
} BerthError;

/* Sets err (if not NULL) and returns `error` (negative errno) for tail calls:
 *   return berth_error_set(err, -EINVAL, "spec.resources.memory", "\"%s\" is not a size", s); */
int berth_error_set(BerthError *err, int error, const char *field, const char *fmt, ...) _printf_(4, 5);

/* "spec.resources.memory: "12Xi" is not a size", or just the message when field is empty. */
const char *berth_error_format(const BerthError *err, char *buf, size_t size);

/* Stable class names used in API error bodies and mapped to gRPC status codes:
 * -EINVAL InvalidArgument, -ENOENT NotFound, -EEXIST AlreadyExists,
 * -EBUSY/-EALREADY FailedPrecondition, -E2BIG/-EMSGSIZE PayloadTooLarge,
 * -EAGAIN/-ENOSPC/-ENOMEM ResourceExhausted, -EOPNOTSUPP Unimplemented,
 * -ESHUTDOWN/-ECONNREFUSED Unavailable, -EACCES/-EPERM PermissionDenied, else Internal. */
const char *berth_error_class(int error);
