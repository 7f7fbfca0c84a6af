/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl image import|pull|ls|inspect|rm, berthctl commit, berthctl system df
 * (docs/IMAGES.md). import, pull and commit read the daemon's NDJSON stream
 * and show its progress. */
#include <inttypes.h>
#include <limits.h>

#include "cli/berthctl.h"
#include "cli/client.h"

typedef struct Job {
        char *line;
        size_t len;
        bool tty;
        bool progress_shown;
        bool ok;
        bool ended;
        char *images; /* names from the final line, comma separated */
} Job;

static void fmt_bytes(char *buf, size_t size, uint64_t b)
{
        if (b >= (1u << 30))
                snprintf(buf, size, "%.1fGiB", (double)b / (1u << 30));
        else if (b >= (1u << 20))
                snprintf(buf, size, "%.1fMiB", (double)b / (1u << 20));
        else if (b >= 1024)
                snprintf(buf, size, "%.1fKiB", (double)b / 1024);
        else
                snprintf(buf, size, "%" PRIu64 "B", b);
}

static void job_line(Job *j, const char *s, size_t n)
{
        json_t *o = json_loadb(s, n, 0, NULL);
        const char *st = json_string_value(json_object_get(o, "status"));

        if (!o || !st) {
                json_decref(o);
                return;
        }
        if (streq(st, "progress")) {
                const char *id = strempty(json_string_value(json_object_get(o, "id")));
                uint64_t cur = (uint64_t)json_integer_value(json_object_get(o, "current"));
                uint64_t tot = (uint64_t)json_integer_value(json_object_get(o, "total"));
                char a[32], b[32];
                const char *shortid = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
                fmt_bytes(a, sizeof(a), cur);
                fmt_bytes(b, sizeof(b), tot);
                if (j->tty) {
                        fprintf(stderr, "\r%.12s: %s / %s %s", shortid, a, b, cur >= tot ? "done\n" : "   ");
                        j->progress_shown = cur < tot;
                } else if (cur >= tot)
                        fprintf(stderr, "%.12s: %s done\n", shortid, b);
        } else if (streq(st, "done")) {
                json_t *imgs = json_object_get(o, "images"), *v;
                size_t i;
                j->ok = true;
                j->ended = true;
                if (j->progress_shown)
                        fputc('\n', stderr);
                json_array_foreach(imgs, i, v) printf("%s\n", json_string_value(v));
        } else if (streq(st, "error")) {
                const char *field = json_string_value(json_object_get(o, "field"));
                j->ended = true;
                if (j->progress_shown)
                        fputc('\n', stderr);
                if (field && *field)
                        fprintf(stderr, "berthctl: %s: %s\n", field,
                                strempty(json_string_value(json_object_get(o, "message"))));
                else
                        fprintf(stderr, "berthctl: %s\n",
                                strempty(json_string_value(json_object_get(o, "message"))));
        } else
                fprintf(stderr, "%s %s\n", st,
                        strempty(json_string_value(json_object_get(o, "path")) ?: json_string_value(json_object_get(o, "ref"))
                                 ?: json_string_value(json_object_get(o, "workload"))));
        json_decref(o);
}

static int job_data(const char *data, size_t len, void *userdata)
{
        Job *j = userdata;
        char *nb = realloc(j->line, j->len + len);

        if (!nb)
                return -ENOMEM;
        j->line = nb;
        memcpy(j->line + j->len, data, len);
        j->len += len;
        for (char *nl; (nl = memchr(j->line, '\n', j->len));) {
                size_t l = (size_t)(nl - j->line);
                job_line(j, j->line, l);
                memmove(j->line, nl + 1, j->len - l - 1);
                j->len -= l + 1;
        }
        return 0;
}

static int run_job(Berthctl *ctx, const char *path)
{
        _cleanup_(client_freep) Client *c = NULL;
        Job j = {.tty = isatty(STDERR_FILENO)};
        int r;

        r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return client_exit_code(r);
        r = client_stream_method(c, "POST", path, job_data, NULL, &j);
        free(j.line);
        if (r < 0)
                return client_exit_code(r);
        if (!j.ended) {
                fprintf(stderr, "berthctl: the stream ended without a result\n");
                return EXIT_DAEMON_ERROR;
        }
        return j.ok ? EXIT_OK : EXIT_DAEMON_ERROR;
}

/* getopt loop with only the common flags plus the given extra ones */
static int flags(Berthctl *ctx, int argc, char **argv, const char *help, const struct option *extra,
                 const char *short_extra, int (*on)(int ch, void *userdata), void *userdata)
{
        struct option options[16] = {VERB_COMMON_OPTIONS};
        char shorts[32];
        size_t n = 2;
        int ch, code;

        for (const struct option *o = extra; o && o->name && n < ELEMENTSOF(options) - 1; o++)
                options[n++] = *o;
        options[n] = (struct option){};
        snprintf(shorts, sizeof(shorts), ":h%s", strempty(short_extra));
        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, shorts, options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (on && on(ch, userdata) == 0)
                        continue;
                return usage_getopt_error(ctx, ch, argv);
        }
        return -1;
}

/* ---- image import ---- */

static const char import_help[] =
    "Usage: berthctl image import [--name NAME] PATH\n"
    "\n"
    "Import an OCI image layout (a directory or a tar of one) or a docker-archive\n"
    "tar (docker save) into berthd's store. PATH is read by berthd on this node.\n"
    "Prints the stored image names.\n"
    "\n"
    "Flags:\n"
    "  --name NAME            store the (first) image under NAME\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl image import ./busybox-oci          # directory from umoci/skopeo\n"
    "  berthctl image import --name app:1 app.tar  # docker save output\n";

typedef struct ImportOpts {
        const char *name;
        bool insecure;
        const char *output;
} ImportOpts;

static int on_import_flag(int ch, void *userdata)
{
        ImportOpts *o = userdata;
        if (ch == 'n') {
                o->name = optarg;
                return 0;
        }
        if (ch == 'k') {
                o->insecure = true;
                return 0;
        }
        if (ch == 'o') {
                o->output = optarg;
                return 0;
        }
        return -1;
}

static int image_import(Berthctl *ctx, int argc, char **argv)
{
        static const struct option extra[] = {{"name", required_argument, NULL, 'n'}, {}};
        _cleanup_free_ char *abs = NULL, *ep = NULL, *en = NULL, *path = NULL;
        ImportOpts o = {};
        int r;

        r = flags(ctx, argc, argv, import_help, extra, "", on_import_flag, &o);
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return usage_error(ctx, "expected exactly one PATH");
        abs = realpath(argv[optind], NULL);
        if (!abs) {
                fprintf(stderr, "berthctl: %s: %m\n", argv[optind]);
                return EXIT_DAEMON_ERROR;
        }
        ep = url_escape(abs);
        en = o.name ? url_escape(o.name) : NULL;
        if (!ep || (o.name && !en) ||
            asprintf(&path, "/v1/images/import?path=%s%s%s", ep, en ? "&name=" : "", strempty(en)) < 0)
                return EXIT_DAEMON_ERROR;
        return run_job(ctx, path);
}

/* ---- image pull ---- */

static const char pull_help[] =
    "Usage: berthctl image pull [--insecure] REF\n"
    "\n"
    "Pull an image from an OCI distribution registry (token auth, manifest lists\n"
    "resolved to linux/amd64, gzip and zstd layers), showing progress.\n"
    "\n"
    "Flags:\n"
    "  --insecure             plain HTTP (always used for 127.0.0.1 and localhost)\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  berthctl image pull 127.0.0.1:5000/busybox:latest\n"
    "  berthctl image pull registry.example.com/team/app@sha256:...\n";

static int image_pull(Berthctl *ctx, int argc, char **argv)
{
        static const struct option extra[] = {{"insecure", no_argument, NULL, 'k'}, {}};
        _cleanup_free_ char *er = NULL, *path = NULL;
        ImportOpts o = {};
        int r;

        r = flags(ctx, argc, argv, pull_help, extra, "", on_import_flag, &o);
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return usage_error(ctx, "expected exactly one REF");
        er = url_escape(argv[optind]);
        if (!er || asprintf(&path, "/v1/images/pull?ref=%s%s", er, o.insecure ? "&insecure=true" : "") < 0)
                return EXIT_DAEMON_ERROR;
        return run_job(ctx, path);
}

/* ---- image ls / inspect / rm ---- */

static const char ls_help[] = "Usage: berthctl image ls [-o json|yaml] [-q]\n"
                              "\n"
                              "List the images in berthd's store.\n"
                              "\n"
                              "Flags:\n"
                              "  -o, --output FORMAT    json or yaml instead of the table\n"
                              "  -q, --quiet            names only\n"
                              "  --socket PATH          berthd socket\n"
                              "  -h, --help             show this help\n";

static int on_ls_flag(int ch, void *userdata)
{
        ImportOpts *o = userdata;
        if (ch == 'o') {
                o->output = optarg;
                return 0;
        }
        if (ch == 'q') {
                o->insecure = true; /* reused: quiet */
                return 0;
        }
        return -1;
}

static int get_doc(Berthctl *ctx, const char *method, const char *path, json_t **ret)
{
        _cleanup_(client_freep) Client *c = NULL;
        int r = client_new(ctx->socket_path, &c);
        if (r < 0)
                return client_exit_code(r);
        r = client_call(c, method, path, NULL, ret);
        return r < 0 ? client_exit_code(r) : EXIT_OK;
}

static int print_doc(const Berthctl *ctx, const json_t *doc, const char *output)
{
        OutputFormat f = OUTPUT_JSON;
        if (output && output_format_parse(ctx, output, (1u << OUTPUT_JSON) | (1u << OUTPUT_YAML), &f) < 0)
                return EXIT_USAGE;
        if (f == OUTPUT_YAML)
                print_yaml(doc);
        else
                print_json(doc);
        return EXIT_OK;
}

static int image_ls(Berthctl *ctx, int argc, char **argv)
{
        static const struct option extra[] = {
            {"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'}, {}};
        _cleanup_(json_decrefp) json_t *doc = NULL;
        ImportOpts o = {};
        json_t *v;
        size_t i;
        int r;

        r = flags(ctx, argc, argv, ls_help, extra, "o:q", on_ls_flag, &o);
        if (r >= 0)
                return r;
        if (argc != optind)
                return usage_error(ctx, "takes no arguments");
        r = get_doc(ctx, "GET", "/v1/images", &doc);
        if (r != EXIT_OK)
                return r;
        if (o.output)
                return print_doc(ctx, doc, o.output);
        if (!o.insecure)
                printf("%-40s %-14s %-10s %-6s %s\n", "NAME", "DIGEST", "SIZE", "LAYERS", "CREATED");
        usec_t now = now_usec(CLOCK_REALTIME);
        json_array_foreach(doc, i, v)
        {
                const char *d = strempty(json_string_value(json_object_get(v, "digest")));
                char sz[32], age[32];
                if (o.insecure) {
                        printf("%s\n", strempty(json_string_value(json_object_get(v, "name"))));
                        continue;
                }
                fmt_bytes(sz, sizeof(sz), (uint64_t)json_integer_value(json_object_get(v, "size")));
                printf("%-40s %-14.12s %-10s %-6zu %s\n",
                       strempty(json_string_value(json_object_get(v, "name"))),
                       strncmp(d, "sha256:", 7) == 0 ? d + 7 : d, sz,
                       json_array_size(json_object_get(v, "layers")),
                       format_age_json(age, sizeof(age), json_object_get(v, "created"), now));
        }
        return EXIT_OK;
}

static const char inspect_help[] =
    "Usage: berthctl image inspect [-o json|yaml] REF\n"
    "\n"
    "Show one image: digest, layers, its config (Entrypoint, Cmd, Env, WorkingDir,\n"
    "User, ExposedPorts) and the workloads made from it. REF is a name, a digest\n"
    "or a unique digest prefix of at least 12 hex digits.\n";

static int image_inspect(Berthctl *ctx, int argc, char **argv)
{
        static const struct option extra[] = {{"output", required_argument, NULL, 'o'}, {}};
        _cleanup_(json_decrefp) json_t *doc = NULL;
        _cleanup_free_ char *er = NULL, *path = NULL;
        ImportOpts o = {};
        int r;

        r = flags(ctx, argc, argv, inspect_help, extra, "o:", on_ls_flag, &o);
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return usage_error(ctx, "expected exactly one REF");
        er = url_escape(argv[optind]);
        if (!er || asprintf(&path, "/v1/images/%s", er) < 0)
                return EXIT_DAEMON_ERROR;
        r = get_doc(ctx, "GET", path, &doc);
        if (r != EXIT_OK)
                return r;
        return print_doc(ctx, doc, o.output);
}

static const char rm_help[] = "Usage: berthctl image rm REF...\n"
                              "\n"
                              "Remove images by name; blobs and layers no other image uses are then\n"
                              "garbage-collected. An image a workload was made from cannot be removed.\n";

static int image_rm(Berthctl *ctx, int argc, char **argv)
{
        int r, ret = EXIT_OK;

        r = flags(ctx, argc, argv, rm_help, NULL, "", NULL, NULL);
        if (r >= 0)
                return r;
        if (argc == optind)
                return usage_error(ctx, "expected at least one REF");
        for (int i = optind; i < argc; i++) {
                _cleanup_(json_decrefp) json_t *doc = NULL;
                _cleanup_free_ char *er = url_escape(argv[i]), *path = NULL;
                if (!er || asprintf(&path, "/v1/images/%s", er) < 0)
                        return EXIT_DAEMON_ERROR;
                r = get_doc(ctx, "DELETE", path, &doc);
                if (r != EXIT_OK) {
                        ret = r;
                        continue;
                }
                printf("%s\n", strempty(json_string_value(json_object_get(doc, "removed"))));
        }
        return ret;
}

static const char image_help[] = "Usage: berthctl image VERB [FLAGS] [ARGS]\n"
                                 "\n"
                                 "Verbs:\n"
                                 "  import PATH     import an OCI layout (dir or tar) or a docker-archive\n"
                                 "  pull REF        pull from a registry\n"
                                 "  ls              list images\n"
                                 "  inspect REF     show one image\n"
                                 "  rm REF...       remove images (then GC)\n"
                                 "\n"
                                 "Run 'berthctl image VERB --help' for details.\n";

int verb_image(Berthctl *ctx, int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*run)(Berthctl *ctx, int argc, char **argv);
        } sub[] = {
            {"import", image_import}, {"pull", image_pull},       {"ls", image_ls},
            {"list", image_ls},       {"inspect", image_inspect}, {"rm", image_rm},
        };

        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fputs(image_help, argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(sub); i++)
                if (streq(argv[1], sub[i].name)) {
                        ctx->verb = sub[i].name;
                        return sub[i].run(ctx, argc - 1, argv + 1);
                }
        return usage_error(ctx, "unknown image verb \"%s\"", argv[1]);
}

/* ---- commit ---- */

static const char commit_help[] = "Usage: berthctl commit WORKLOAD IMAGE\n"
                                  "\n"
                                  "Store the changes a workload made to its image's filesystem (its active\n"
                                  "snapshot's upper layer) as one new layer, giving image IMAGE = the\n"
                                  "workload's image + that layer. Only for workloads made from spec.image.\n"
                                  "\n"
                                  "Examples:\n"
                                  "  berthctl commit web web-snapshot:1\n";

int verb_commit(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_free_ char *en = NULL, *ei = NULL, *path = NULL;
        int r;

        r = flags(ctx, argc, argv, commit_help, NULL, "", NULL, NULL);
        if (r >= 0)
                return r;
        if (argc - optind != 2)
                return usage_error(ctx, "expected WORKLOAD and IMAGE");
        en = url_escape(argv[optind]);
        ei = url_escape(argv[optind + 1]);
        if (!en || !ei || asprintf(&path, "/v1/workloads/%s/commit?image=%s", en, ei) < 0)
                return EXIT_DAEMON_ERROR;
        return run_job(ctx, path);
}

/* ---- system df ---- */

static const char system_help[] = "Usage: berthctl system df [-o json|yaml]\n"
                                  "\n"
                                  "Show what the image store holds: images, blobs, committed layers and\n"
                                  "active snapshots, and how much of it is unreferenced (reclaimable).\n";

int verb_system(Berthctl *ctx, int argc, char **argv)
{
        static const struct option extra[] = {{"output", required_argument, NULL, 'o'}, {}};
        _cleanup_(json_decrefp) json_t *doc = NULL;
        ImportOpts o = {};
        char a[32], b[32];
        int r;

        if (argc < 2 || !streq(argv[1], "df")) {
                if (argc >= 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                        fputs(system_help, stdout);
                        return EXIT_OK;
                }
                return usage_error(ctx, "expected \"df\"");
        }
        r = flags(ctx, argc - 1, argv + 1, system_help, extra, "o:", on_ls_flag, &o);
        if (r >= 0)
                return r;
        r = get_doc(ctx, "GET", "/v1/system/df", &doc);
        if (r != EXIT_OK)
                return r;
        if (o.output)
                return print_doc(ctx, doc, o.output);
        json_t *bl = json_object_get(doc, "blobs"), *sn = json_object_get(doc, "snapshots"),
               *rc = json_object_get(doc, "reclaimable");
        fmt_bytes(a, sizeof(a), (uint64_t)json_integer_value(json_object_get(bl, "bytes")));
        fmt_bytes(b, sizeof(b), (uint64_t)json_integer_value(json_object_get(sn, "bytes")));
        printf("%-12s %-8s %-10s %s\n", "TYPE", "COUNT", "SIZE", "RECLAIMABLE");
        printf("%-12s %-8" JSON_INTEGER_FORMAT " %-10s %s\n", "images",
               json_integer_value(json_object_get(doc, "images")), "-", "-");
        printf("%-12s %-8" JSON_INTEGER_FORMAT " %-10s %" JSON_INTEGER_FORMAT "\n", "blobs",
               json_integer_value(json_object_get(bl, "count")), a,
               json_integer_value(json_object_get(rc, "blobs")));
        printf("%-12s %-8" JSON_INTEGER_FORMAT " %-10s %" JSON_INTEGER_FORMAT "\n", "layers",
               json_integer_value(json_object_get(sn, "committed")), b,
               json_integer_value(json_object_get(rc, "snapshots")));
        printf("%-12s %-8" JSON_INTEGER_FORMAT " %-10s %s\n", "snapshots",
               json_integer_value(json_object_get(sn, "active")), "-", "-");
        return EXIT_OK;
}
