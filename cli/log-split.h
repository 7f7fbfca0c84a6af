/* SPDX-License-Identifier: Apache-2.0 */
/* Splits the raw log stream of GET /logs?format=raw (lib/logfile.h records:
 * "<time> <stdout|stderr> <F|P> <content>\n") into records, across arbitrary
 * chunk boundaries, and writes them out (stdout records to one fd, stderr to
 * another). Pure apart from the fds it is handed. */
#pragma once

#include "lib/logfile.h"
#include "lib/util.h"

/* Maximum accepted length of one raw line (content cap plus the prefix). */
#define LOG_SPLIT_LINE_MAX (LOGFILE_LINE_MAX + 128)

typedef int (*LogSplitFunc)(const LogRecord *rec, void *userdata);

typedef struct LogSplit LogSplit;

int log_split_new(LogSplitFunc cb, void *userdata, LogSplit **ret);
/* Calls cb for every complete record in data (plus what earlier calls held).
 * -EBADMSG for a malformed record; a cb error is returned as is. */
int log_split_feed(LogSplit *s, const void *data, size_t len);
/* End of stream: a held line without its newline is parsed as a last record. */
int log_split_finish(LogSplit *s);
LogSplit *log_split_free(LogSplit *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(LogSplit *, log_split_free);

/* Parses one line without its '\n'. */
int log_record_parse(const char *line, size_t len, LogRecord *ret);

typedef struct LogOutput {
        int stdout_fd;
        int stderr_fd;
        bool timestamps;  /* prefix each output line with its record time */
        bool mid_line[3]; /* per stream: last record was partial */
} LogOutput;

/* Writes one record: content, then '\n' unless partial (unbuffered write(2)). */
int log_output_record(LogOutput *o, const LogRecord *rec);
