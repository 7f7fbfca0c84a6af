/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl logs */
#include "cli/berthctl.h"
#include "cli/client.h"
#include "cli/log-split.h"

static const char logs_help[] =
    "Usage: berthctl logs NAME [-f] [--tail N] [--timestamps]\n"
    "\n"
    "Print a workload's output: its stdout records to stdout and its stderr records\n"
    "to stderr, as they were written.\n"
    "\n"
    "Flags:\n"
    "  -f, --follow           keep streaming until the workload exits\n"
    "  --tail N               only the last N lines\n"
    "  -t, --timestamps       prefix each line with its time (RFC 3339, UTC)\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl logs web\n"
    "  berthctl logs -f --tail 20 web\n"
    "  berthctl logs --timestamps web 2>&1 | less\n";

static int logs_data(const char *data, size_t len, void *userdata)
{
        return log_split_feed(userdata, data, len);
}

static int logs_record(const LogRecord *rec, void *userdata)
{
        return log_output_record(userdata, rec);
}

int verb_logs(Berthctl *ctx, int argc, char **argv)
{
        enum { ARG_TAIL = 0x100 };
        static const struct option options[] = {
            {"follow", no_argument, NULL, 'f'},
            {"tail", required_argument, NULL, ARG_TAIL},
            {"timestamps", no_argument, NULL, 't'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(log_split_freep) LogSplit *split = NULL;
        _cleanup_free_ char *n = NULL, *path = NULL;
        LogOutput out = {.stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO};
        const char *name, *tail = NULL;
        bool follow = false;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":fth", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, logs_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                switch (ch) {
                case 'f':
                        follow = true;
                        break;
                case 't':
                        out.timestamps = true;
                        break;
                case ARG_TAIL:
                        if (!optarg[0] || strspn(optarg, "0123456789") != strlen(optarg) ||
                            strlen(optarg) > 9)
                                return usage_error(ctx, "--tail: \"%s\" is not a number of lines", optarg);
                        tail = optarg;
                        break;
                default:
                        return usage_getopt_error(ctx, ch, argv);
                }
        }
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;

        n = url_escape(name);
        if (!n || asprintf(&path, "/v1/workloads/%s/logs?format=raw%s%s%s", n, follow ? "&follow=1" : "",
                           tail ? "&tail=" : "", strempty(tail)) < 0)
                return EXIT_DAEMON_ERROR;
        r = log_split_new(logs_record, &out, &split);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = client_stream(c, path, logs_data, NULL, split);
        if (r >= 0)
                r = log_split_finish(split);
        if (r == -EBADMSG)
                fprintf(stderr, "berthctl: malformed log record from berthd\n");
        else if (r == -EPIPE)
                return EXIT_OK; /* reader went away (| head) */
        else if (r < 0 && r != -EREMOTEIO && r != -ENOTCONN)
                fprintf(stderr, "berthctl: writing logs: %s\n", strerror(-r));
        return client_exit_code(r);
}
