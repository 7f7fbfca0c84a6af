/* SPDX-License-Identifier: Apache-2.0 */
/* `berthctl run` flags -> the workload document. Pure apart from getcwd()
 * (for --rootfs) and getrandom() (for a generated name). */
#pragma once

#include <jansson.h>

#include "cli/berthctl.h"

typedef struct RunOptions {
        json_t *doc; /* {apiVersion, kind, metadata, spec}, owned */
        char *name;  /* metadata.name, owned */
        bool detach;
        bool remove; /* --rm */
        bool dry_run;
        char *file;  /* create -f FILE (doc is then NULL), owned */
} RunOptions;

void run_options_done(RunOptions *o);

/* Parses argv (argv[0] is "run"). Returns 0 with *ret filled, or an exit
 * code > 0 to end with (usage errors are printed; EXIT_OK after --help is
 * signalled as RUN_ARGS_HELP). */
#define RUN_ARGS_HELP 1000
int run_parse_args(Berthctl *ctx, int argc, char **argv, RunOptions *ret);
/* The same for another verb with help as its --help text; create: -f FILE is
 * accepted (alone: *ret has file set and no doc) and --rm, -d, --dry-run are not. */
int run_parse_args_as(Berthctl *ctx, int argc, char **argv, const char *help, bool create, RunOptions *ret);

extern const char run_help[];

/* "rel" made absolute against the working directory and normalised
 * (no ".", "..", or repeated '/'); does not touch the filesystem. */
int path_make_absolute(const char *rel, char **ret);
/* "run-" and 8 random hex digits: a valid DNS label. */
int run_generate_name(char **ret);
