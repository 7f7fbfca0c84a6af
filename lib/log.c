/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>

#include "lib/log.h"

static int max_level = LOG_INFO;
static const char *ident = "berth";

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

void log_set_ident(const char *i)
{
        ident = i;
}

static const char *level_name(int level)
{
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",   [LOG_ERR] = "error",
                [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level < (int)ELEMENTSOF(names) ? names[level] : "?";
}

int log_internal(int level, int error, const char *workload, const char *fmt, ...)
{
        char msg[2048];
        int saved = errno;
        va_list ap;

        if (error < 0)
                error = -error;
        errno = error; /* so %m works in fmt */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (workload)
                fprintf(stderr, "%s[%d]: %s workload=%s: %s\n", ident, (int)getpid(), level_name(level),
                        workload, msg);
        else
                fprintf(stderr, "%s[%d]: %s: %s\n", ident, (int)getpid(), level_name(level), msg);
        errno = saved;
        return -error;
}
