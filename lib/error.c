/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>

#include "lib/error.h"

int berth_error_set(BerthError *err, int error, const char *field, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return error;
        err->error = error;
        snprintf(err->field, sizeof(err->field), "%s", strempty(field));
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return error;
}

const char *berth_error_format(const BerthError *err, char *buf, size_t size)
{
        if (!err || (!err->message[0] && !err->field[0]))
                snprintf(buf, size, "%s", err && err->error ? strerror(-err->error) : "unknown error");
        else if (err->field[0])
                snprintf(buf, size, "%s: %s", err->field, err->message);
        else
                snprintf(buf, size, "%s", err->message);
        return buf;
}

const char *berth_error_class(int error)
{
        switch (error) {
        case -EINVAL:
        case -EDOM:
        case -ERANGE:
        case -EILSEQ:
                return "InvalidArgument";
        case -ENOENT:
        case -ESRCH:
                return "NotFound";
        case -EEXIST:
                return "AlreadyExists";
        case -EBUSY:
        case -EALREADY:
        case -EADDRINUSE: /* a published host port held by another workload */
                return "FailedPrecondition";
        case -E2BIG:
        case -EMSGSIZE:
        case -EFBIG:
                return "PayloadTooLarge";
        case -EAGAIN:
        case -ENOSPC:
        case -ENOMEM:
        case -EDQUOT:
                return "ResourceExhausted";
        case -EOPNOTSUPP:
                return "Unimplemented";
        case -ESHUTDOWN:
        case -ECONNREFUSED:
                return "Unavailable";
        case -EACCES:
        case -EPERM:
                return "PermissionDenied";
        default:
                return "Internal";
        }
}
