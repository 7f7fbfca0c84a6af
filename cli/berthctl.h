/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl: shared declarations of the verb files (cli/verb-*.c). Each verb is
 * one entry of the table in berthctl.c, like kvmtool's builtin-*.c. */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <time.h>

#include "lib/util.h"

/* Exit codes (docs/CLI.md). */
enum {
        EXIT_OK = 0,
        EXIT_DAEMON_ERROR = 1, /* the daemon answered with an error, or a local validation error */
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 3,
        EXIT_CREATE_FAILED = 125, /* run: the workload could not be created */
};

#define BERTH_SOCKET_DEFAULT "/run/berth/berthd.sock"

typedef struct Berthctl {
        const char *socket_path;
        const char *verb; /* name of the running verb, for messages */
} Berthctl;

typedef struct Verb {
        const char *name;
        const char *summary;
        int (*run)(Berthctl *ctx, int argc, char **argv); /* returns an exit code */
} Verb;

typedef enum OutputFormat {
        OUTPUT_HUMAN,
        OUTPUT_JSON,
        OUTPUT_YAML,
        _OUTPUT_FORMAT_MAX,
        _OUTPUT_FORMAT_INVALID = -EINVAL,
} OutputFormat;

/* Options every verb accepts, to be appended to its option table. */
#define VERB_COMMON_OPTIONS                                                                                 \
        {"help", no_argument, NULL, 'h'},                                                                   \
        {                                                                                                   \
                "socket", required_argument, NULL, 'S'                                                      \
        }

int verb_apply(Berthctl *ctx, int argc, char **argv);
int verb_run(Berthctl *ctx, int argc, char **argv);
int verb_ls(Berthctl *ctx, int argc, char **argv);
int verb_inspect(Berthctl *ctx, int argc, char **argv);
int verb_logs(Berthctl *ctx, int argc, char **argv);
int verb_wait(Berthctl *ctx, int argc, char **argv);
int verb_stop(Berthctl *ctx, int argc, char **argv);
int verb_start(Berthctl *ctx, int argc, char **argv);
int verb_kill(Berthctl *ctx, int argc, char **argv);
int verb_rm(Berthctl *ctx, int argc, char **argv);
int verb_events(Berthctl *ctx, int argc, char **argv);
int verb_node(Berthctl *ctx, int argc, char **argv);
/* cli/verb-harden.c */
int verb_pause(Berthctl *ctx, int argc, char **argv);
int verb_resume(Berthctl *ctx, int argc, char **argv);
int verb_update(Berthctl *ctx, int argc, char **argv);
/* cli/verb-exec.c */
int verb_exec(Berthctl *ctx, int argc, char **argv);
/* cli/verb-image.c */
int verb_image(Berthctl *ctx, int argc, char **argv);
int verb_commit(Berthctl *ctx, int argc, char **argv);
int verb_system(Berthctl *ctx, int argc, char **argv);
/* cli/verb-vm.c */
int verb_vm(Berthctl *ctx, int argc, char **argv);
/* cli/verb-create.c */
int verb_create(Berthctl *ctx, int argc, char **argv);
/* cli/verb-run.c: apply's document reader, shared with create -f. Reads FILE
 * ('-' = stdin), JSON or YAML, validates it locally (errors printed, naming
 * the field); EXIT_OK with the document and its parsed spec, else an exit code. */
struct Spec;
int apply_read_document(const char *file, json_t **ret_doc, struct Spec **ret_spec);

/* cli/common.c */

/* Prints "berthctl VERB: <message>" and the pointer to --help; returns EXIT_USAGE. */
int usage_error(const Berthctl *ctx, const char *fmt, ...) _printf_(2, 3);
/* Reports what getopt_long() returned for an unknown flag ('?') or a flag
 * missing its value (':'); returns EXIT_USAGE. */
int usage_getopt_error(const Berthctl *ctx, int c, char **argv);
/* Handles -h/--help and --socket inside a verb's getopt loop. Returns 1 when
 * handled (*exit set to -1 to continue, or to an exit code to return), 0 if not ours. */
int verb_common_option(Berthctl *ctx, int c, const char *help, int *exit_code);
/* Parses "-o" values allowed by mask (1 << OutputFormat). */
int output_format_parse(const Berthctl *ctx, const char *s, unsigned mask, OutputFormat *ret);
/* "5s ago", "3m ago", "2h ago", "4d ago"; "-" for 0. */
char *format_age(char *buf, size_t size, usec_t then, usec_t now);
/* Parses an RFC 3339 JSON string member into an age string; "-" if null/invalid. */
char *format_age_json(char *buf, size_t size, const json_t *t, usec_t now);
/* Prints a JSON tree pretty (2-space indent) to stdout. */
int print_json(const json_t *j);
/* Prints a JSON tree as YAML to stdout. */
int print_yaml(const json_t *j);
/* Exactly one NAME positional after the flags; else a usage error. */
int verb_one_name(const Berthctl *ctx, int argc, char **argv, const char **ret);
/* URL-escapes s into a malloc'd string. */
char *url_escape(const char *s);

/* cli/verb-node-sched.c: the scheduler's ledger in `berthctl node` (absent: prints nothing). */
void node_print_scheduler(const json_t *node);
