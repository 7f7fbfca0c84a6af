/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl events, berthctl node */
#include <inttypes.h>

#include "cli/berthctl.h"
#include "cli/client.h"

static const char events_help[] =
    "Usage: berthctl events [-f] [--since ID] [--workload NAME] [-o json]\n"
    "\n"
    "Print recorded events, one per line: TIME TYPE WORKLOAD MESSAGE [(by CALLER)]\n"
    "('-' for a node event's workload or an empty message; CALLER is who caused it\n"
    "through the API: \"uid=0 gid=0 pid=123\" on the unix sockets, \"cert:CN=...\" over TLS).\n"
    "\n"
    "Flags:\n"
    "  -f, --follow           keep streaming live events\n"
    "  --since ID             only events with an id greater than ID (resume)\n"
    "  --workload NAME        only events of this workload\n"
    "  -o, --output json      the raw ndjson stream, one JSON object per line\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl events\n"
    "  berthctl events -f --workload web\n"
    "  berthctl events -o json --since 42\n";

typedef struct EventsStream {
        bool json;
        char *line;
        size_t len, cap;
} EventsStream;

static int events_line(EventsStream *s, const char *line, size_t len)
{
        _cleanup_(json_decrefp) json_t *ev = NULL;
        const char *msg, *caller;
        json_t *wl;

        if (len == 0)
                return 0;
        if (s->json) {
                fwrite(line, 1, len, stdout);
                fputc('\n', stdout);
                fflush(stdout);
                return 0;
        }
        ev = json_loadb(line, len, 0, NULL);
        if (!json_is_object(ev)) {
                fprintf(stderr, "berthctl: malformed event from berthd\n");
                return -EBADMSG;
        }
        wl = json_object_get(ev, "workload");
        msg = json_string_value(json_object_get(ev, "message"));
        caller = json_string_value(json_object_get(ev, "caller"));
        printf("%-27s  %-15s  %-20s  %s%s%s%s\n", strempty(json_string_value(json_object_get(ev, "time"))),
               strempty(json_string_value(json_object_get(ev, "type"))),
               json_is_string(wl) ? json_string_value(wl) : "-", msg && msg[0] ? msg : "-",
               caller && caller[0] ? "  (by " : "", caller && caller[0] ? caller : "", caller && caller[0] ? ")" : "");
        fflush(stdout);
        return 0;
}

static int events_data(const char *data, size_t len, void *userdata)
{
        EventsStream *s = userdata;
        const char *p = data, *end = data + len;
        int r;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

                r = buf_printf(&s->line, &s->len, &s->cap, "%.*s", (int)n, p);
                if (r < 0)
                        return r;
                if (!nl)
                        break;
                r = events_line(s, s->line, s->len);
                s->len = 0;
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        return 0;
}

int verb_events(Berthctl *ctx, int argc, char **argv)
{
        enum { ARG_SINCE = 0x100, ARG_WORKLOAD };
        static const struct option options[] = {
            {"follow", no_argument, NULL, 'f'},
            {"since", required_argument, NULL, ARG_SINCE},
            {"workload", required_argument, NULL, ARG_WORKLOAD},
            {"output", required_argument, NULL, 'o'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_free_ char *path = NULL, *wl = NULL;
        EventsStream s = {};
        OutputFormat fmt = OUTPUT_HUMAN;
        const char *since = NULL, *workload = NULL;
        bool follow = false;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":fo:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, events_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                switch (ch) {
                case 'f':
                        follow = true;
                        break;
                case ARG_SINCE:
                        if (!optarg[0] || strspn(optarg, "0123456789") != strlen(optarg) ||
                            strlen(optarg) > 19)
                                return usage_error(ctx, "--since: \"%s\" is not an event id", optarg);
                        since = optarg;
                        break;
                case ARG_WORKLOAD:
                        workload = optarg;
                        break;
                case 'o':
                        if (output_format_parse(ctx, optarg, 1u << OUTPUT_JSON, &fmt) < 0)
                                return EXIT_USAGE;
                        break;
                default:
                        return usage_getopt_error(ctx, ch, argv);
                }
        }
        if (optind < argc)
                return usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
        if (workload) {
                wl = url_escape(workload);
                if (!wl)
                        return EXIT_DAEMON_ERROR;
        }
        {
                size_t len = 0, cap = 0;
                const char *sep = "?";

                r = buf_printf(&path, &len, &cap, "/v1/events");
                if (r >= 0 && follow) {
                        r = buf_printf(&path, &len, &cap, "%sfollow=1", sep);
                        sep = "&";
                }
                if (r >= 0 && since) {
                        r = buf_printf(&path, &len, &cap, "%ssince=%s", sep, since);
                        sep = "&";
                }
                if (r >= 0 && wl)
                        r = buf_printf(&path, &len, &cap, "%sworkload=%s", sep, wl);
                if (r < 0)
                        return EXIT_DAEMON_ERROR;
        }
        s.json = fmt == OUTPUT_JSON;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_stream(c, path, events_data, NULL, &s);
        if (r >= 0 && s.len > 0)
                r = events_line(&s, s.line, s.len);
        free(s.line);
        return client_exit_code(r);
}

static const char node_help[] =
    "Usage: berthctl node [-o json|yaml]\n"
    "\n"
    "Summarise the node: name, versions, cgroup version, CPUs, memory, workloads.\n"
    "\n"
    "Flags:\n"
    "  -o, --output FORMAT    json or yaml: the API's node object\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl node\n"
    "  berthctl node -o json\n";

static const char *format_bytes(char *buf, size_t size, const json_t *j)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double v;
        size_t u = 0;

        if (!json_is_integer(j)) {
                snprintf(buf, size, "-");
                return buf;
        }
        v = (double)json_integer_value(j);
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
        return buf;
}

static json_int_t int_or_zero(const json_t *j, const char *key)
{
        return json_integer_value(json_object_get(j, key));
}

int verb_node(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"output", required_argument, NULL, 'o'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *node = NULL;
        OutputFormat fmt = OUTPUT_HUMAN;
        char total[32], avail[32], age[32];
        json_t *mem, *wl;
        int ch, r, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":o:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, node_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch != 'o')
                        return usage_getopt_error(ctx, ch, argv);
                if (output_format_parse(ctx, optarg, 1u << OUTPUT_JSON | 1u << OUTPUT_YAML, &fmt) < 0)
                        return EXIT_USAGE;
        }
        if (optind < argc)
                return usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", "/v1/node", NULL, &node);
        if (r < 0)
                return client_exit_code(r);
        if (fmt == OUTPUT_JSON)
                return print_json(node) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
        if (fmt == OUTPUT_YAML)
                return print_yaml(node) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;

        mem = json_object_get(node, "memory");
        wl = json_object_get(node, "workloads");
        printf("Name:       %s\n", strempty(json_string_value(json_object_get(node, "name"))));
        printf("Version:    %s\n", strempty(json_string_value(json_object_get(node, "version"))));
        printf("Kernel:     %s\n", strempty(json_string_value(json_object_get(node, "kernel"))));
        printf("Cgroup:     v%" JSON_INTEGER_FORMAT "\n", int_or_zero(node, "cgroupVersion"));
        printf("CPUs:       %" JSON_INTEGER_FORMAT "\n", int_or_zero(node, "cpus"));
        printf("Memory:     %s total, %s available\n",
               format_bytes(total, sizeof(total), json_object_get(mem, "totalBytes")),
               format_bytes(avail, sizeof(avail), json_object_get(mem, "availableBytes")));
        printf(
            "Started:    %s (%s)\n", strempty(json_string_value(json_object_get(node, "startedAt"))),
            format_age_json(age, sizeof(age), json_object_get(node, "startedAt"), now_usec(CLOCK_REALTIME)));
        printf("Workloads:  %" JSON_INTEGER_FORMAT " total, %" JSON_INTEGER_FORMAT
               " running, %" JSON_INTEGER_FORMAT " exited, %" JSON_INTEGER_FORMAT
               " created, %" JSON_INTEGER_FORMAT " paused, %" JSON_INTEGER_FORMAT " unknown\n",
               int_or_zero(wl, "total"), int_or_zero(wl, "running"), int_or_zero(wl, "exited"),
               int_or_zero(wl, "created"), int_or_zero(wl, "paused"), int_or_zero(wl, "unknown"));
        node_print_scheduler(node); /* cli/verb-node-sched.c */
        return EXIT_OK;
}
