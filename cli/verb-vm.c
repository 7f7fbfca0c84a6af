/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl vm snapshot|snapshots|inspect|rm|restore|clone: microVM snapshots
 * (docs/CLI.md, docs/VM.md "Snapshots", docs/API.md "VM snapshots"). */
#include <inttypes.h>

#include "cli/berthctl.h"
#include "cli/client.h"
#include "cli/table.h"

#define CLONE_MAX 100

static const char vm_help[] =
    "Usage: berthctl vm VERB [FLAGS] [ARGS]\n"
    "\n"
    "Snapshot, restore and clone microVMs (isolation: vm).\n"
    "\n"
    "Verbs:\n"
    "  snapshot NAME [--id ID]             snapshot a running or paused VM (it keeps running)\n"
    "  snapshots [-o json]                 list snapshots\n"
    "  inspect ID                          show one snapshot (JSON)\n"
    "  rm ID...                            remove snapshots\n"
    "  restore ID --name NAME              a new VM that continues from the snapshot\n"
    "  clone ID [--count N] [--prefix P]   N restores named P-1..P-N (default 3, P = ID)\n"
    "\n"
    "Run 'berthctl vm VERB --help' for a verb's flags and examples.\n";

typedef struct VmFlags {
        const char *id;
        const char *name;
        const char *prefix;
        const char *output;
        unsigned count;
} VmFlags;

/* Parses the flags of one vm verb; returns -1 to go on, else an exit code. */
static int vm_flags(Berthctl *ctx, int argc, char **argv, const char *help, VmFlags *f)
{
        static const struct option options[] = {
            {"id", required_argument, NULL, 'i'},
            {"name", required_argument, NULL, 'n'},
            {"prefix", required_argument, NULL, 'p'},
            {"count", required_argument, NULL, 'c'},
            {"output", required_argument, NULL, 'o'},
            VERB_COMMON_OPTIONS,
            {},
        };
        int ch, code;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, ":i:n:p:c:o:h", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                switch (ch) {
                case 'i':
                        f->id = optarg;
                        break;
                case 'n':
                        f->name = optarg;
                        break;
                case 'p':
                        f->prefix = optarg;
                        break;
                case 'o':
                        f->output = optarg;
                        break;
                case 'c': {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (!optarg[0] || *end || v < 1 || v > CLONE_MAX)
                                return usage_error(ctx, "--count: \"%s\" is not a number from 1 to %d",
                                                   optarg, CLONE_MAX);
                        f->count = (unsigned)v;
                        break;
                }
                default:
                        return usage_getopt_error(ctx, ch, argv);
                }
        }
        return -1;
}

static const char snapshot_help[] =
    "Usage: berthctl vm snapshot NAME [--id ID]\n"
    "\n"
    "Snapshot a running (or paused) microVM: its memory and device state and its\n"
    "disk, at one instant. The VM is stopped for the moment it takes and then\n"
    "continues. Prints the snapshot's id once the snapshot is complete and on disk.\n"
    "\n"
    "Flags:\n"
    "  --id ID        the snapshot's id (a DNS label; default NAME-<hex time>)\n"
    "  --socket PATH  berthd socket\n"
    "  -h, --help     show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl vm snapshot web\n"
    "  berthctl vm snapshot web --id web-warm\n";

static int vm_snapshot(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *body = NULL, *res = NULL;
        _cleanup_free_ char *en = NULL, *path = NULL;
        VmFlags f = {};
        const char *name;
        int r;

        r = vm_flags(ctx, argc, argv, snapshot_help, &f);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &name);
        if (r != 0)
                return r;
        body = f.id ? json_pack("{s:s}", "id", f.id) : json_object();
        en = url_escape(name);
        if (!body || !en || asprintf(&path, "/v1/workloads/%s/snapshot", en) < 0)
                return EXIT_DAEMON_ERROR;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "POST", path, body, &res);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", strempty(json_string_value(json_object_get(res, "id"))));
        return EXIT_OK;
}

static void fmt_size(char *buf, size_t size, uint64_t b)
{
        if (b >= (UINT64_C(1) << 30))
                snprintf(buf, size, "%.1fGiB", (double)b / (1u << 30));
        else if (b >= (UINT64_C(1) << 20))
                snprintf(buf, size, "%.1fMiB", (double)b / (1u << 20));
        else
                snprintf(buf, size, "%.1fKiB", (double)b / 1024);
}

static const char snapshots_help[] =
    "Usage: berthctl vm snapshots [-o json]\n"
    "\n"
    "List the microVM snapshots: id, source workload, age, state and disk sizes.\n"
    "\n"
    "Flags:\n"
    "  -o, --output json  the API's JSON instead of a table\n"
    "  --socket PATH      berthd socket\n"
    "  -h, --help         show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl vm snapshots\n";

static int vm_snapshots(Berthctl *ctx, int argc, char **argv)
{
        static const char *const headers[] = {"ID", "WORKLOAD", "CREATED", "MEMORY", "DISK"};
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *res = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *text = NULL;
        VmFlags f = {};
        size_t i, len;
        json_t *s;
        int r;

        r = vm_flags(ctx, argc, argv, snapshots_help, &f);
        if (r >= 0)
                return r;
        if (optind < argc)
                return usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
        if (f.output && !streq(f.output, "json"))
                return usage_error(ctx, "-o: \"%s\" is not json", f.output);
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", "/v1/vm-snapshots", NULL, &res);
        if (r < 0)
                return client_exit_code(r);
        if (f.output)
                return print_json(res) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
        if (table_new(headers, ELEMENTSOF(headers), &t) < 0)
                return EXIT_DAEMON_ERROR;
        usec_t now = now_usec(CLOCK_REALTIME);
        json_array_foreach(json_object_get(res, "items"), i, s)
        {
                char age[32], mem[32], disk[32];
                format_age_json(age, sizeof(age), json_object_get(s, "createdAt"), now);
                fmt_size(mem, sizeof(mem), (uint64_t)json_integer_value(json_object_get(s, "memoryBytes")));
                fmt_size(disk, sizeof(disk), (uint64_t)json_integer_value(json_object_get(s, "diskBytes")));
                const char *cells[] = {json_string_value(json_object_get(s, "id")),
                                       json_string_value(json_object_get(s, "workload")), age, mem, disk};
                if (table_add_row(t, cells) < 0)
                        return EXIT_DAEMON_ERROR;
        }
        if (table_render(t, &text, &len) < 0)
                return EXIT_DAEMON_ERROR;
        fwrite(text, 1, len, stdout);
        return EXIT_OK;
}

static const char inspect_help[] =
    "Usage: berthctl vm inspect ID\n"
    "\n"
    "Print one snapshot as JSON (id, workload, createdAt, memoryBytes, diskBytes,\n"
    "wasRunning, and the source's spec that restores use).\n"
    "\n"
    "Examples:\n"
    "  berthctl vm inspect web-warm\n";

static int vm_inspect(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *res = NULL;
        _cleanup_free_ char *en = NULL, *path = NULL;
        VmFlags f = {};
        const char *id;
        int r;

        r = vm_flags(ctx, argc, argv, inspect_help, &f);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &id);
        if (r != 0)
                return r;
        en = url_escape(id);
        if (!en || asprintf(&path, "/v1/vm-snapshots/%s", en) < 0 || client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = client_call(c, "GET", path, NULL, &res);
        if (r < 0)
                return client_exit_code(r);
        return print_json(res) < 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
}

static const char rm_help[] = "Usage: berthctl vm rm ID...\n"
                              "\n"
                              "Remove snapshots. VMs restored from one keep running and can restart: they\n"
                              "hold their own link to its state and disk layer. Prints each removed id.\n"
                              "\n"
                              "Examples:\n"
                              "  berthctl vm rm web-warm\n";

static int vm_rm(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        VmFlags f = {};
        int r, rc = EXIT_OK;

        r = vm_flags(ctx, argc, argv, rm_help, &f);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return usage_error(ctx, "missing ID");
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        for (int i = optind; i < argc; i++) {
                _cleanup_free_ char *en = url_escape(argv[i]), *path = NULL;
                if (!en || asprintf(&path, "/v1/vm-snapshots/%s", en) < 0)
                        return EXIT_DAEMON_ERROR;
                r = client_call(c, "DELETE", path, NULL, NULL);
                if (r < 0) {
                        rc = client_exit_code(r);
                        if (r == -ENOTCONN)
                                return rc;
                        continue;
                }
                printf("%s\n", argv[i]);
        }
        return rc;
}

static int restore_one(Client *c, const char *id, const char *name)
{
        _cleanup_(json_decrefp) json_t *body = json_pack("{s:s}", "name", name);
        _cleanup_free_ char *en = url_escape(id), *path = NULL;

        if (!body || !en || asprintf(&path, "/v1/vm-snapshots/%s/restore", en) < 0)
                return -ENOMEM;
        return client_call(c, "POST", path, body, NULL);
}

static const char restore_help[] =
    "Usage: berthctl vm restore ID --name NAME\n"
    "\n"
    "Create and start workload NAME from snapshot ID: a microVM that continues\n"
    "where the snapshot was taken (no boot), on its own writable disk overlay and,\n"
    "with bridge networking, its own address. Logs, wait, stop, kill and rm work as\n"
    "for any workload; a restart restores from the snapshot again. Prints NAME.\n"
    "\n"
    "Flags:\n"
    "  --name NAME    the new workload's name (required)\n"
    "  --socket PATH  berthd socket\n"
    "  -h, --help     show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl vm restore web-warm --name web2\n";

static int vm_restore(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        VmFlags f = {};
        const char *id;
        int r;

        r = vm_flags(ctx, argc, argv, restore_help, &f);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &id);
        if (r != 0)
                return r;
        if (!f.name)
                return usage_error(ctx, "--name is required");
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        r = restore_one(c, id, f.name);
        if (r < 0)
                return client_exit_code(r);
        printf("%s\n", f.name);
        return EXIT_OK;
}

static const char clone_help[] =
    "Usage: berthctl vm clone ID [--count N] [--prefix P]\n"
    "\n"
    "Restore snapshot ID N times (default 3, at most 100) as workloads P-1..P-N\n"
    "(P defaults to ID). Each clone has its own disk overlay and, with bridge\n"
    "networking, its own address and MAC. Prints each name as it is created;\n"
    "stops at the first failure (exit 1).\n"
    "\n"
    "Flags:\n"
    "  -c, --count N    how many (1..100)\n"
    "  -p, --prefix P   name prefix\n"
    "  --socket PATH    berthd socket\n"
    "  -h, --help       show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl vm clone web-warm --count 3\n"
    "  berthctl vm clone web-warm --count 10 --prefix worker\n";

static int vm_clone(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        VmFlags f = {.count = 3};
        const char *id;
        int r;

        r = vm_flags(ctx, argc, argv, clone_help, &f);
        if (r >= 0)
                return r;
        r = verb_one_name(ctx, argc, argv, &id);
        if (r != 0)
                return r;
        if (client_new(ctx->socket_path, &c) < 0)
                return EXIT_DAEMON_ERROR;
        for (unsigned i = 1; i <= f.count; i++) {
                char name[128];
                snprintf(name, sizeof(name), "%s-%u", f.prefix ? f.prefix : id, i);
                r = restore_one(c, id, name);
                if (r < 0)
                        return client_exit_code(r);
                printf("%s\n", name);
                fflush(stdout);
        }
        return EXIT_OK;
}

int verb_vm(Berthctl *ctx, int argc, char **argv)
{
        static const struct {
                const char *name;
                const char *full; /* for messages: "berthctl vm clone: ..." */
                int (*run)(Berthctl *ctx, int argc, char **argv);
        } sub[] = {
            {"snapshot", "vm snapshot", vm_snapshot}, {"snapshots", "vm snapshots", vm_snapshots},
            {"inspect", "vm inspect", vm_inspect},    {"rm", "vm rm", vm_rm},
            {"restore", "vm restore", vm_restore},    {"clone", "vm clone", vm_clone},
        };

        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fputs(vm_help, argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(sub); i++)
                if (streq(argv[1], sub[i].name)) {
                        ctx->verb = sub[i].full;
                        return sub[i].run(ctx, argc - 1, argv + 1);
                }
        return usage_error(ctx, "unknown vm verb \"%s\"", argv[1]);
}
