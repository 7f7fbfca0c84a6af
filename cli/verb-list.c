/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl ls, berthctl inspect */
#include "cli/berthctl.h"
#include "cli/client.h"
#include "cli/list-table.h"

static const char ls_help[] =
    "Usage: berthctl ls [-q] [-o json|yaml]\n"
    "\n"
    "List workloads, sorted by name, as a table:\n"
    "NAME STATE EXIT PID CREATED STARTED ISOLATION (ages like \"5s ago\"; '-' when unset).\n"
    "\n"
    "Flags:\n"
    "  -q, --quiet            names only, one per line\n"
    "  -o, --output FORMAT    json or yaml: the API's {\"items\": [...]} object\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl ls\n"
    "  berthctl ls -q | xargs berthctl rm -f\n"
    "  berthctl ls -o json\n";

int verb_ls(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"quiet", no_argument, NULL, 'q'},
            {"output", required_argument, NULL, 'o'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_free_ char *text = NULL;
        OutputFormat fmt = OUTPUT_HUMAN;
        bool quiet = false;
        size_t len, i;
        json_t *items, *w;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":qo:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, ls_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                switch (ch) {
                case 'q':
                        quiet = true;
                        break;
                case 'o':
                        if (output_format_parse(ctx, optarg, 1u << OUTPUT_JSON | 1u << OUTPUT_YAML, &fmt) <
                            0)
                                return EXIT_USAGE;
                        break;
                default:
                        return usage_getopt_error(ctx, ch, argv);
                }
        }
        if (optind < argc)
                return usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);

        r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", "/v1/workloads", NULL, &list);
        if (r < 0)
                return client_exit_code(r);
        items = json_object_get(list, "items");
        if (!json_is_array(items)) {
                fprintf(stderr, "berthctl: malformed answer from berthd: no \"items\" array\n");
                return EXIT_DAEMON_ERROR;
        }
        if (fmt == OUTPUT_JSON)
                return print_json(list) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
        if (fmt == OUTPUT_YAML)
                return print_yaml(list) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
        if (quiet) {
                json_array_foreach(items, i, w) printf(
                    "%s\n",
                    strempty(json_string_value(json_object_get(json_object_get(w, "metadata"), "name"))));
                return EXIT_OK;
        }
        r = list_table_render(items, now_usec(CLOCK_REALTIME), &text, &len);
        if (r < 0) {
                fprintf(stderr, "berthctl: cannot render the table: %s\n", strerror(-r));
                return EXIT_DAEMON_ERROR;
        }
        fwrite(text, 1, len, stdout);
        return EXIT_OK;
}

static const char inspect_help[] =
    "Usage: berthctl inspect NAME [-o json|yaml]\n"
    "\n"
    "Show one workload object (metadata, canonical spec, status) as the API returns it.\n"
    "\n"
    "Flags:\n"
    "  -o, --output FORMAT    json (default, indented) or yaml\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl inspect web\n"
    "  berthctl inspect web -o yaml\n";

int verb_inspect(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"output", required_argument, NULL, 'o'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *w = NULL;
        _cleanup_free_ char *n = NULL, *path = NULL;
        OutputFormat fmt = OUTPUT_JSON;
        const char *name;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":o:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, inspect_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch != 'o')
                        return usage_getopt_error(ctx, ch, argv);
                if (output_format_parse(ctx, optarg, 1u << OUTPUT_JSON | 1u << OUTPUT_YAML, &fmt) < 0)
                        return EXIT_USAGE;
        }
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        n = url_escape(name);
        if (!n || asprintf(&path, "/v1/workloads/%s", n) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", path, NULL, &w);
        if (r < 0)
                return client_exit_code(r);
        r = fmt == OUTPUT_YAML ? print_yaml(w) : print_json(w);
        return r < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
}
