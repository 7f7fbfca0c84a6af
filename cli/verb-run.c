/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl run, berthctl apply */
#include <fcntl.h>
#include <signal.h>

#include "cli/berthctl.h"
#include "cli/client.h"
#include "cli/log-split.h"
#include "cli/run-args.h"
#include "lib/spec.h"

static volatile sig_atomic_t pending_signal = 0;

static void on_signal(int sig)
{
        pending_signal = sig;
}

typedef struct RunStream {
        Client *control; /* a second connection, for forwarding signals */
        const char *name;
        LogSplit *split;
        LogOutput out;
} RunStream;

static int run_stream_data(const char *data, size_t len, void *userdata)
{
        RunStream *s = userdata;

        return log_split_feed(s->split, data, len);
}

static int run_stream_record(const LogRecord *rec, void *userdata)
{
        RunStream *s = userdata;

        return log_output_record(&s->out, rec);
}

/* Forwards SIGINT/SIGTERM/SIGHUP to the workload, like docker's sig-proxy. */
static void run_forward_signal(void *userdata)
{
        RunStream *s = userdata;
        _cleanup_free_ char *path = NULL, *n = NULL;
        int sig = pending_signal;

        if (sig == 0)
                return;
        pending_signal = 0;
        n = url_escape(s->name);
        if (!n || asprintf(&path, "/v1/workloads/%s/kill?signal=%d", n, sig) < 0)
                return;
        client_quiet_next(s->control);
        (void)client_call(s->control, "POST", path, NULL, NULL);
}

static int run_foreground(Berthctl *ctx, Client *c, const RunOptions *o)
{
        _cleanup_(client_freep) Client *control = NULL;
        _cleanup_(log_split_freep) LogSplit *split = NULL;
        _cleanup_(json_decrefp) json_t *result = NULL;
        _cleanup_free_ char *n = NULL, *path = NULL;
        struct sigaction sa = {.sa_handler = on_signal};
        RunStream s = {.name = o->name, .out = {.stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO}};
        json_t *code;
        int r, exit_code;

        r = client_new(ctx->socket_path, &control);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = log_split_new(run_stream_record, &s, &split);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        s.control = control;
        s.split = split;
        n = url_escape(o->name);
        if (!n)
                return EXIT_DAEMON_ERROR;

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);

        if (asprintf(&path, "/v1/workloads/%s/logs?follow=1&format=raw", n) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_stream(c, path, run_stream_data, run_forward_signal, &s);
        if (r >= 0)
                r = log_split_finish(split);
        if (r == -EBADMSG)
                fprintf(stderr, "berthctl: malformed log record from berthd\n");
        if (r == -ENOTCONN)
                return EXIT_UNREACHABLE;
        /* A log failure does not stop us from reporting the exit code. */

        free(path);
        if (asprintf(&path, "/v1/workloads/%s/wait", n) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", path, NULL, &result);
        if (r < 0)
                return client_exit_code(r);
        code = json_object_get(result, "exitCode");
        if (!json_is_integer(code)) {
                fprintf(stderr, "berthctl: %s: no exit code (state %s)\n", o->name,
                        strempty(json_string_value(json_object_get(result, "state"))));
                exit_code = EXIT_DAEMON_ERROR;
        } else
                exit_code = (int)json_integer_value(code);

        if (o->remove) {
                free(path);
                if (asprintf(&path, "/v1/workloads/%s?force=1", n) < 0)
                        return EXIT_DAEMON_ERROR;
                r = client_call(c, "DELETE", path, NULL, NULL);
                if (r < 0 && exit_code == 0)
                        exit_code = client_exit_code(r);
        }
        return exit_code;
}

int verb_run(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        RunOptions o = {};
        int r, exit_code;

        r = run_parse_args(ctx, argc, argv, &o);
        if (r == RUN_ARGS_HELP)
                return EXIT_OK;
        if (r > 0)
                return r;
        if (r < 0) {
                fprintf(stderr, "berthctl run: %s\n", strerror(-r));
                return EXIT_DAEMON_ERROR;
        }
        if (o.dry_run) {
                /* berthd's admission decides, nothing is created (docs/SCHEDULER.md):
                 * {"document": what would be sent, "admission": the decision}. */
                _cleanup_(json_decrefp) json_t *adm = NULL, *out = NULL;
                r = client_new(ctx->socket_path, &c);
                if (r >= 0)
                        r = client_call(c, "POST", "/v1/workloads?dryRun=1", o.doc, &adm);
                if (r < 0) {
                        run_options_done(&o);
                        return r == -ENOTCONN ? EXIT_UNREACHABLE : client_exit_code(r);
                }
                out = json_pack("{s:O, s:O?}", "document", o.doc, "admission", adm);
                r = out ? print_json(out) : -ENOMEM;
                bool admitted = json_is_true(json_object_get(adm, "admitted"));
                run_options_done(&o);
                return r < 0 ? EXIT_DAEMON_ERROR : admitted ? EXIT_OK : EXIT_DAEMON_ERROR;
        }

        r = client_new(ctx->socket_path, &c);
        if (r < 0) {
                run_options_done(&o);
                return EXIT_DAEMON_ERROR;
        }
        r = client_call(c, "POST", "/v1/workloads", o.doc, NULL);
        if (r < 0) {
                run_options_done(&o);
                if (r == -ENOTCONN)
                        return EXIT_UNREACHABLE;
                return EXIT_CREATE_FAILED; /* as docker run does, with or without -d */
        }
        if (o.detach) {
                printf("%s\n", o.name);
                exit_code = EXIT_OK;
        } else
                exit_code = run_foreground(ctx, c, &o);
        run_options_done(&o);
        return exit_code;
}

static const char apply_help[] =
    "Usage: berthctl apply -f FILE\n"
    "\n"
    "Create a workload from a YAML or JSON document (FILE '-' reads stdin). The\n"
    "document is validated locally first, so errors name the field before anything\n"
    "is sent. A workload with the same name must not exist (no updates yet).\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE    the document (YAML or JSON; '-' for stdin)\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit codes: 0 created; 1 invalid document or berthd error; 2 usage; 3 unreachable.\n"
    "\n"
    "Examples:\n"
    "  berthctl apply -f web.yaml\n"
    "  cat web.json | berthctl apply -f -\n";

static int read_document(const char *path, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = -EBADF;

        if (streq(path, "-"))
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd(fd, SPEC_BODY_MAX, ret, ret_len);
}

/* Reads FILE ('-' = stdin), JSON or YAML, and validates it locally (errors
 * name the field, printed). Returns EXIT_OK with the document and its spec. */
int apply_read_document(const char *file, json_t **ret_doc, Spec **ret_spec)
{
        _cleanup_(json_decrefp) json_t *doc = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        _cleanup_free_ char *buf = NULL;
        const char *p;
        BerthError err = {};
        char msg[1100];
        size_t len = 0;
        int r;

        r = read_document(file, &buf, &len);
        if (r == -EFBIG) {
                fprintf(stderr, "berthctl: %s: document is larger than %d bytes\n", file, SPEC_BODY_MAX);
                return EXIT_DAEMON_ERROR;
        }
        if (r < 0) {
                fprintf(stderr, "berthctl: %s: %s\n", streq(file, "-") ? "stdin" : file, strerror(-r));
                return EXIT_DAEMON_ERROR;
        }

        /* JSON if it starts like JSON, else YAML through the daemon's strict reader. */
        for (p = buf; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
                ;
        if (*p == '{') {
                json_error_t jerr;

                doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
                if (!doc) {
                        fprintf(stderr, "berthctl: %s: line %d: %s\n", streq(file, "-") ? "stdin" : file,
                                jerr.line, jerr.text);
                        return EXIT_DAEMON_ERROR;
                }
        } else {
                r = spec_yaml_to_json(buf, len, &doc, &err);
                if (r < 0) {
                        fprintf(stderr, "berthctl: %s\n", berth_error_format(&err, msg, sizeof(msg)));
                        return EXIT_DAEMON_ERROR;
                }
        }
        r = spec_from_json(doc, &spec, &err);
        if (r < 0) {
                fprintf(stderr, "berthctl: %s\n", berth_error_format(&err, msg, sizeof(msg)));
                return EXIT_DAEMON_ERROR;
        }
        *ret_doc = TAKE_PTR(doc);
        *ret_spec = TAKE_PTR(spec);
        return EXIT_OK;
}

int verb_apply(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"filename", required_argument, NULL, 'f'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        const char *file = NULL;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":f:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, apply_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch == 'f')
                        file = optarg;
                else
                        return usage_getopt_error(ctx, ch, argv);
        }
        if (optind < argc)
                return usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
        if (!file)
                return usage_error(ctx, "missing -f FILE");

        r = apply_read_document(file, &doc, &spec);
        if (r != EXIT_OK)
                return r;

        r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "POST", "/v1/workloads", doc, NULL);
        if (r < 0) {
                if (r == -EREMOTEIO && streq(client_last_code(c), "AlreadyExists"))
                        fprintf(stderr,
                                "berthctl: workload \"%s\" already exists; apply does not update yet "
                                "(berthctl rm -f %s, then apply again)\n",
                                spec->name, spec->name);
                return client_exit_code(r);
        }
        printf("%s created\n", spec->name);
        return EXIT_OK;
}
