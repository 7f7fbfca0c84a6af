/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl pause, resume, update */
#include "cli/berthctl.h"
#include "cli/client.h"

static int call_one(Berthctl *ctx, const char *method, const char *name, const char *suffix, const json_t *body)
{
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_free_ char *n = url_escape(name), *path = NULL;
        int r;

        if (!n || asprintf(&path, "/v1/workloads/%s%s", n, strempty(suffix)) < 0)
                return EXIT_DAEMON_ERROR;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, method, path, body, NULL);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", name);
        return EXIT_OK;
}

static int simple(Berthctl *ctx, int argc, char **argv, const char *help, const char *suffix)
{
        static const struct option options[] = {
            VERB_COMMON_OPTIONS,
            {},
        };
        const char *name;
        int ch, code, r;

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
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        return call_one(ctx, "POST", name, suffix, NULL);
}

static const char pause_help[] = "Usage: berthctl pause NAME\n"
                                 "\n"
                                 "Freeze every process of a running workload (cgroup freezer) and print its name.\n"
                                 "\n"
                                 "Flags:\n"
                                 "  --socket PATH          berthd socket\n"
                                 "  -h, --help             show this help\n";

int verb_pause(Berthctl *ctx, int argc, char **argv)
{
        return simple(ctx, argc, argv, pause_help, "/pause");
}

static const char resume_help[] = "Usage: berthctl resume NAME\n"
                                  "\n"
                                  "Thaw a paused workload and print its name.\n"
                                  "\n"
                                  "Flags:\n"
                                  "  --socket PATH          berthd socket\n"
                                  "  -h, --help             show this help\n";

int verb_resume(Berthctl *ctx, int argc, char **argv)
{
        return simple(ctx, argc, argv, resume_help, "/resume");
}

static const char update_help[] =
        "Usage: berthctl update NAME [FLAGS]\n"
        "\n"
        "Change the resources of a workload; a running one gets them live\n"
        "(PATCH /v1/workloads/NAME). \"none\" removes a limit.\n"
        "\n"
        "Flags:\n"
        "  --memory QUANTITY      memory limit (128Mi, 1G)\n"
        "  --memory-high QUANTITY throttling threshold below the limit\n"
        "  --swap QUANTITY        swap on top of the memory limit\n"
        "  --cpu QUANTITY         CPU limit (500m, 2)\n"
        "  --cpu-weight N         relative CPU share, 1..10000 (default 100)\n"
        "  --io-weight N          relative I/O share, 1..10000 (default 100)\n"
        "  --pids N               process limit\n"
        "  --socket PATH          berthd socket\n"
        "  -h, --help             show this help\n"
        "\n"
        "Examples:\n"
        "  berthctl update web --memory 256Mi\n"
        "  berthctl update web --cpu none --cpu-weight 500\n";

int verb_update(Berthctl *ctx, int argc, char **argv)
{
        enum { O_MEMORY = 0x100, O_MEMORY_HIGH, O_SWAP, O_CPU, O_CPU_WEIGHT, O_IO_WEIGHT, O_PIDS };
        static const struct option options[] = {
            {"memory", required_argument, NULL, O_MEMORY},
            {"memory-high", required_argument, NULL, O_MEMORY_HIGH},
            {"swap", required_argument, NULL, O_SWAP},
            {"cpu", required_argument, NULL, O_CPU},
            {"cpu-weight", required_argument, NULL, O_CPU_WEIGHT},
            {"io-weight", required_argument, NULL, O_IO_WEIGHT},
            {"pids", required_argument, NULL, O_PIDS},
            VERB_COMMON_OPTIONS,
            {},
        };
        static const char *const keys[] = { "memory", "memoryHigh", "swap", "cpu", "cpuWeight", "ioWeight", "pids" };
        _cleanup_(json_decrefp) json_t *body = json_object(), *res = json_object();
        const char *name;
        int ch, code, r;

        if (!body || !res || json_object_set(body, "resources", res) < 0)
                return EXIT_DAEMON_ERROR;
        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                json_t *v;

                if (verb_common_option(ctx, ch, update_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch < O_MEMORY || ch > O_PIDS)
                        return usage_getopt_error(ctx, ch, argv);
                if (streq(optarg, "none"))
                        v = json_null();
                else if (ch == O_CPU_WEIGHT || ch == O_IO_WEIGHT || ch == O_PIDS) {
                        char *end;
                        unsigned long long n;

                        errno = 0;
                        n = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end)
                                return usage_error(ctx, "--%s: \"%s\" is not a number", options[ch - O_MEMORY].name,
                                                   optarg);
                        v = json_integer((json_int_t)n);
                } else
                        v = json_string(optarg);
                if (json_object_set_new(res, keys[ch - O_MEMORY], v) < 0)
                        return EXIT_DAEMON_ERROR;
        }
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        if (json_object_size(res) == 0)
                return usage_error(ctx, "nothing to update (see --help)");
        return call_one(ctx, "PATCH", name, NULL, body);
}
