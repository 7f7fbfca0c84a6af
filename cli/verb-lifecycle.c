/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl wait, stop, start, kill, rm */
#include "cli/berthctl.h"
#include "cli/client.h"

/* POST/GET/DELETE /v1/workloads/NAME[SUFFIX]. */
static int workload_call(Client *c, const char *method, const char *name, const char *suffix, json_t **ret)
{
        _cleanup_free_ char *n = url_escape(name), *path = NULL;

        if (!n || asprintf(&path, "/v1/workloads/%s%s", n, strempty(suffix)) < 0)
                return -ENOMEM;
        return client_call(c, method, path, NULL, ret);
}

/* Parses flags that take no part beyond common ones; returns -1 to go on. */
static int simple_flags(Berthctl *ctx, int argc, char **argv, const char *help)
{
        static const struct option options[] = {
            VERB_COMMON_OPTIONS,
            {},
        };
        int ch, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                return usage_getopt_error(ctx, ch, argv);
        }
        return -1;
}

/* GET /wait; returns the exit code (>= 0) or a negative error (printed). */
static int wait_exit_code(Client *c, const char *name)
{
        _cleanup_(json_decrefp) json_t *res = NULL;
        json_t *code;
        int r;

        r = workload_call(c, "GET", name, "/wait", &res);
        if (r < 0)
                return r;
        code = json_object_get(res, "exitCode");
        if (!json_is_integer(code)) {
                fprintf(stderr, "berthctl: %s: no exit code (state %s)\n", name,
                        strempty(json_string_value(json_object_get(res, "state"))));
                return -EBADMSG;
        }
        return (int)json_integer_value(code);
}

static const char wait_help[] =
    "Usage: berthctl wait NAME\n"
    "\n"
    "Block until the workload has exited, print its exit code, and exit with it.\n"
    "\n"
    "Flags:\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit codes: the workload's exit code; 1 berthd error (e.g. removed meanwhile);\n"
    "2 usage; 3 unreachable.\n"
    "\n"
    "Examples:\n"
    "  berthctl wait job\n"
    "  berthctl run -d --name job --rootfs /srv/busybox -- /bin/true && berthctl wait job\n";

int verb_wait(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        const char *name;
        int r;

        r = simple_flags(ctx, argc, argv, wait_help);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = wait_exit_code(c, name);
        if (r < 0)
                return client_exit_code(r);
        printf("%d\n", r);
        return r;
}

static const char stop_help[] =
    "Usage: berthctl stop NAME [-t SECONDS]\n"
    "\n"
    "Send SIGTERM, then SIGKILL after the timeout; wait until the workload has\n"
    "exited, then print its name. Stopping an exited workload does nothing.\n"
    "\n"
    "Flags:\n"
    "  -t, --timeout SECONDS  grace period before SIGKILL (default: berthd's, 10)\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl stop web\n"
    "  berthctl stop -t 30 db\n";

int verb_stop(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"timeout", required_argument, NULL, 't'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_free_ char *suffix = NULL;
        const char *name, *timeout = NULL;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":t:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, stop_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch != 't')
                        return usage_getopt_error(ctx, ch, argv);
                if (!optarg[0] || strspn(optarg, "0123456789") != strlen(optarg) || strlen(optarg) > 9)
                        return usage_error(ctx, "-t: \"%s\" is not a number of seconds", optarg);
                timeout = optarg;
        }
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        if (asprintf(&suffix, "/stop%s%s", timeout ? "?timeout=" : "", strempty(timeout)) < 0)
                return EXIT_DAEMON_ERROR;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = workload_call(c, "POST", name, suffix, NULL);
        if (r >= 0)
                r = wait_exit_code(c, name);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", name);
        return EXIT_OK;
}

static const char start_help[] = "Usage: berthctl start NAME\n"
                                 "\n"
                                 "Start a created (berthctl create) or exited workload; print its name.\n"
                                 "\n"
                                 "Flags:\n"
                                 "  --socket PATH          berthd socket\n"
                                 "  -h, --help             show this help\n"
                                 "\n"
                                 "Examples:\n"
                                 "  berthctl start web\n";

int verb_start(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        const char *name;
        int r;

        r = simple_flags(ctx, argc, argv, start_help);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = workload_call(c, "POST", name, "/start", NULL);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", name);
        return EXIT_OK;
}

static const char kill_help[] = "Usage: berthctl kill NAME [-s SIGNAL]\n"
                                "\n"
                                "Send a signal to a running workload and print its name.\n"
                                "\n"
                                "Flags:\n"
                                "  -s, --signal SIGNAL    name (TERM, SIGTERM) or number (default KILL)\n"
                                "  --socket PATH          berthd socket\n"
                                "  -h, --help             show this help\n"
                                "\n"
                                "Examples:\n"
                                "  berthctl kill web\n"
                                "  berthctl kill -s HUP web\n";

int verb_kill(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"signal", required_argument, NULL, 's'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_free_ char *suffix = NULL, *sig = NULL;
        const char *name, *signal = NULL;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":s:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, kill_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch != 's')
                        return usage_getopt_error(ctx, ch, argv);
                if (!optarg[0])
                        return usage_error(ctx, "-s: empty signal");
                signal = optarg;
        }
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        if (signal) {
                sig = url_escape(signal);
                if (!sig)
                        return EXIT_DAEMON_ERROR;
        }
        if (asprintf(&suffix, "/kill%s%s", sig ? "?signal=" : "", strempty(sig)) < 0)
                return EXIT_DAEMON_ERROR;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = workload_call(c, "POST", name, suffix, NULL);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", name);
        return EXIT_OK;
}

static const char rm_help[] =
    "Usage: berthctl rm [-f] NAME...\n"
    "\n"
    "Remove workloads (record, cgroup, files, logs) and print each name removed.\n"
    "A running workload is refused unless -f is given; with -f it is killed first.\n"
    "Every NAME is tried; the exit code is that of the last failure.\n"
    "\n"
    "Flags:\n"
    "  -f, --force            kill a running workload first\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl rm job\n"
    "  berthctl rm -f web db\n";

int verb_rm(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"force", no_argument, NULL, 'f'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        bool force = false;
        int ch, r, code, exit_code = EXIT_OK;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":fh", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, rm_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch != 'f')
                        return usage_getopt_error(ctx, ch, argv);
                force = true;
        }
        if (optind >= argc)
                return usage_error(ctx, "missing NAME");
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        for (int i = optind; i < argc; i++) {
                r = workload_call(c, "DELETE", argv[i], force ? "?force=1" : NULL, NULL);
                if (r == -ENOTCONN)
                        return EXIT_UNREACHABLE;
                if (r < 0)
                        exit_code = client_exit_code(r);
                else
                        printf("%s\n", argv[i]);
        }
        return exit_code;
}
