/* SPDX-License-Identifier: Apache-2.0 */
/* Workload log files, written by berth-shim and read by the API.
 *
 * Format: one record per line, the CRI log format kubelet uses:
 *     <RFC 3339 UTC timestamp, microseconds> <stdout|stderr> <F|P> <content>\n
 * P marks a partial record: a line longer than LOGFILE_LINE_MAX, or output
 * without a final newline flushed at exit; the next record continues it.
 * Content is the raw bytes without the newline (may be any bytes but '\n').
 *
 * Files: "log" plus one rotated generation "log.1" in the workload directory.
 * The writer renames log -> log.1 when "log" would exceed max_bytes / 2, so
 * both together stay within max_bytes. */
#pragma once

#include "lib/util.h"

#define LOGFILE_LINE_MAX 16384
#define LOGFILE_NAME "log"
#define LOGFILE_ROTATED_NAME "log.1"

typedef enum LogStream {
        LOG_STREAM_STDOUT = 1,
        LOG_STREAM_STDERR = 2,
} LogStream;

typedef struct LogWriter LogWriter;

/* Opens (appends to) dirfd/log. */
int log_writer_open(int dirfd, uint64_t max_bytes, LogWriter **ret);
/* Feeds raw output of one stream; complete lines become F records at once,
 * a trailing partial line is held (per stream) until its newline arrives or
 * it reaches LOGFILE_LINE_MAX. */
int log_writer_write(LogWriter *w, LogStream stream, const void *data, size_t len);
/* Writes held partial lines as P records (at exit). */
int log_writer_flush(LogWriter *w);
LogWriter *log_writer_free(LogWriter *w);

typedef struct LogRecord {
        usec_t time;
        LogStream stream;
        bool partial;
        const char *data; /* valid until the next log_reader_next() */
        size_t len;
} LogRecord;

typedef struct LogReader LogReader;

/* Opens for reading from the oldest record (log.1 then log). A missing log is
 * not an error: the reader is simply empty until the file appears. */
int log_reader_open(int dirfd, LogReader **ret);
/* Repositions so that the next records are the last n complete records. */
int log_reader_tail(LogReader *r, size_t n);
/* 1 = *ret filled, 0 = nothing more for now (call again after the file grew;
 * rotation is followed transparently), < 0 error. */
int log_reader_next(LogReader *r, LogRecord *ret);
LogReader *log_reader_free(LogReader *r);

/* Renders one record back into its on-disk line (for ?format=raw). */
int log_record_format_raw(const LogRecord *rec, char **buf, size_t *len, size_t *cap);
