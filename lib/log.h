/* SPDX-License-Identifier: Apache-2.0 */
/* Logging. berthd logs at the point a decision is made, naming the workload
 * as a structured field; libraries below the agent log at debug only.
 * Output goes to stderr as "LEVEL [workload] message"; the systemd issue
 * routes it to the journal with BERTH_WORKLOAD= fields. */
#pragma once

#include <syslog.h>

#include "lib/util.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_ident(const char *ident);

/* Returns -abs(error) so callers can write `return log_error_errno(r, ...)`. */
int log_internal(int level, int error, const char *workload, const char *fmt, ...) _printf_(4, 5);
/* Same, with an event type as a structured field (BERTH_EVENT=) too. */
int log_event_internal(int level, const char *workload, const char *event, const char *fmt, ...) _printf_(4, 5);

/* Where log lines go. LOG_TARGET_AUTO (the default, or BERTH_LOG_TARGET=auto):
 * the journal when stderr is the journal stream systemd set up (JOURNAL_STREAM)
 * and the journal socket exists, stderr otherwise. BERTH_LOG_TARGET=journal
 * forces the journal (BERTH_JOURNAL_SOCKET overrides its path, for tests),
 * =stderr forces stderr. Journal entries carry MESSAGE=, PRIORITY=,
 * SYSLOG_IDENTIFIER=, BERTH_WORKLOAD= and BERTH_EVENT= fields. */
typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;
void log_set_target(LogTarget t);
/* Reads BERTH_LOG_TARGET and BERTH_JOURNAL_SOCKET; unknown values leave auto. */
void log_parse_environment(void);

#define log_full_errno(level, error, workload, ...)                                                          \
        ({                                                                                                   \
                int _l_ = (level), _e_ = (error);                                                            \
                _l_ <= log_get_max_level() ? log_internal(_l_, _e_, (workload), __VA_ARGS__)                 \
                                           : -(_e_ < 0 ? -_e_ : _e_);                                        \
        })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), NULL, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), NULL, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), NULL, __VA_ARGS__)

/* Workload-scoped variants: the workload name becomes a structured field. */
#define wlog_info(w, ...) log_full_errno(LOG_INFO, 0, (w), __VA_ARGS__)
#define wlog_notice(w, ...) log_full_errno(LOG_NOTICE, 0, (w), __VA_ARGS__)
#define wlog_warning(w, ...) log_full_errno(LOG_WARNING, 0, (w), __VA_ARGS__)
#define wlog_warning_errno(w, e, ...) log_full_errno(LOG_WARNING, (e), (w), __VA_ARGS__)
#define wlog_error_errno(w, e, ...) log_full_errno(LOG_ERR, (e), (w), __VA_ARGS__)
#define wlog_debug(w, ...) log_full_errno(LOG_DEBUG, 0, (w), __VA_ARGS__)
/* An event of a workload (w may be NULL for daemon events). */
#define wlog_event(w, ev, ...)                                                                               \
        (LOG_INFO <= log_get_max_level() ? log_event_internal(LOG_INFO, (w), (ev), __VA_ARGS__) : 0)
