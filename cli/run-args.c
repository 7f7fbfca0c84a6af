/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <inttypes.h>
#include <sys/random.h>

#include "cli/run-args.h"
#include "lib/spec.h"

const char run_help[] =
    "Usage: berthctl run [FLAGS] [--] COMMAND [ARG...]\n"
    "\n"
    "Create and start a workload. Without --detach, stream its output (stdout to\n"
    "stdout, stderr to stderr), wait for it to exit, and exit with its exit code.\n"
    "\n"
    "Flags:\n"
    "  --name NAME            workload name, a DNS label (default: run-XXXXXXXX)\n"
    "  --rootfs DIR           root filesystem directory (made absolute)\n"
    "  --image REF            image in berthd's store (berthctl image ls); its config gives the defaults\n"
    "  --cpu QUANTITY         CPU limit: \"500m\", \"2\", \"0.25\"\n"
    "  --memory QUANTITY      memory limit: \"128Mi\", \"1G\", bytes\n"
    "  --pids N               maximum number of processes\n"
    "  --env KEY=VALUE        environment variable (repeatable)\n"
    "  --workdir DIR          working directory inside the workload (absolute)\n"
    "  --network none|host|bridge  network mode (default: bridge when berthd has its bridge, else none)\n"
    "  -p, --publish HOST:PORT[/tcp|udp]  publish a port through the bridge (repeatable; implies bridge)\n"
    "  --restart Never|OnFailure|Always   restart policy (default Never)\n"
    "  --label KEY=VALUE      label (repeatable)\n"
    "  --vm                   run in a microVM (isolation: vm)\n"
    "  --vm-backend microvm|libvirt  the VM backend (implies --vm; default: berthd's vm.backend)\n"
    "  --rm                   remove the workload after it exited (not with -d)\n"
    "  -d, --detach           print the name and return once it is created\n"
    "  --dry-run              ask berthd's scheduler what it would decide; print the document\n"
    "                         and the admission (placement, preemptions, reason) as JSON\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit codes: the workload's exit code; 125 if it could not be created;\n"
    "2 usage error; 3 berthd unreachable. With -d or --dry-run: 0, 1, 2, 3.\n"
    "\n"
    "Examples:\n"
    "  berthctl run --rootfs ./rootfs -- /bin/echo hello\n"
    "  berthctl run -d --name web --memory 128Mi --cpu 500m --rootfs /srv/web -- /bin/httpd -f\n"
    "  berthctl run --rm --env GREETING=hi --rootfs /srv/busybox -- /bin/sh -c 'echo $GREETING'\n"
    "  berthctl run --dry-run --rootfs /srv/busybox -- /bin/true\n";

void run_options_done(RunOptions *o)
{
        json_decref(o->doc);
        free(o->name);
        free(o->file);
        *o = (RunOptions){};
}

int path_make_absolute(const char *rel, char **ret)
{
        _cleanup_free_ char *cwd = NULL, *joined = NULL;
        char *out, *w;
        const char *p;

        if (rel[0] == '/')
                joined = strdup(rel);
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                if (asprintf(&joined, "%s/%s", cwd, rel) < 0)
                        joined = NULL;
        }
        if (!joined)
                return -ENOMEM;
        out = malloc(strlen(joined) + 2);
        if (!out)
                return -ENOMEM;
        w = out;
        p = joined;
        while (*p) {
                size_t n;

                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (n == 1 && p[0] == '.') {
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        while (w > out && *--w != '/')
                                ;
                } else {
                        *w++ = '/';
                        memcpy(w, p, n);
                        w += n;
                }
                p += n;
        }
        if (w == out)
                *w++ = '/';
        *w = 0;
        *ret = out;
        return 0;
}

int run_generate_name(char **ret)
{
        uint32_t v;

        if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                return -errno;
        if (asprintf(ret, "run-%08x", v) < 0)
                return -ENOMEM;
        return 0;
}

static bool env_name_is_valid(const char *s, size_t n)
{
        if (n == 0 || (!isalpha((unsigned char)s[0]) && s[0] != '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_')
                        return false;
        return true;
}

/* KEY=VALUE into obj (a later KEY replaces an earlier one, keeping its place). */
static int add_key_value(Berthctl *ctx, json_t *obj, const char *flag, const char *arg, bool env)
{
        const char *eq = strchr(arg, '=');
        _cleanup_free_ char *key = NULL;

        if (!eq || eq == arg)
                return usage_error(ctx, "%s: expected KEY=VALUE, got \"%s\"", flag, arg);
        key = strndup(arg, (size_t)(eq - arg));
        if (!key)
                return -ENOMEM;
        if (env && !env_name_is_valid(key, strlen(key)))
                return usage_error(ctx,
                                   "%s: \"%s\" is not a valid variable name (letters, digits, '_'; not "
                                   "starting with a digit)",
                                   flag, key);
        if (json_object_set_new(obj, key, json_string(eq + 1)) < 0)
                return usage_error(ctx, "%s: \"%s\" is not valid UTF-8", flag, arg);
        return 0;
}

enum {
        ARG_NAME = 0x100,
        ARG_ROOTFS,
        ARG_IMAGE,
        ARG_CPU,
        ARG_MEMORY,
        ARG_PIDS,
        ARG_ENV,
        ARG_WORKDIR,
        ARG_NETWORK,
        ARG_RESTART,
        ARG_LABEL,
        ARG_VM,
        ARG_RM,
        ARG_DRY_RUN,
        ARG_PUBLISH,
        ARG_VM_BACKEND,
};

/* spec.network, created on first use so --network and --publish combine in any order. */
static json_t *spec_network_object(json_t *spec)
{
        json_t *net = json_object_get(spec, "network");

        if (!net) {
                net = json_object();
                json_object_set_new(spec, "network", net);
        }
        return net;
}

static int parse_flags(Berthctl *ctx, int argc, char **argv, const char *help, bool allow_file,
                       RunOptions *o, json_t *spec, json_t *resources, json_t *env, json_t *labels,
                       bool *have_rootfs, bool *have_image, const char **restart)
{
        static const struct option options[] = {
            {"name", required_argument, NULL, ARG_NAME},
            {"rootfs", required_argument, NULL, ARG_ROOTFS},
            {"image", required_argument, NULL, ARG_IMAGE},
            {"cpu", required_argument, NULL, ARG_CPU},
            {"memory", required_argument, NULL, ARG_MEMORY},
            {"pids", required_argument, NULL, ARG_PIDS},
            {"env", required_argument, NULL, ARG_ENV},
            {"workdir", required_argument, NULL, ARG_WORKDIR},
            {"network", required_argument, NULL, ARG_NETWORK},
            {"restart", required_argument, NULL, ARG_RESTART},
            {"label", required_argument, NULL, ARG_LABEL},
            {"vm", no_argument, NULL, ARG_VM},
            {"vm-backend", required_argument, NULL, ARG_VM_BACKEND},
            {"rm", no_argument, NULL, ARG_RM},
            {"detach", no_argument, NULL, 'd'},
            {"dry-run", no_argument, NULL, ARG_DRY_RUN},
            {"publish", required_argument, NULL, 'p'},
            VERB_COMMON_OPTIONS,
            {"filename", required_argument, NULL, 'f'}, /* create only: the last entry */
            {},
        };
        struct option table[ELEMENTSOF(options)];
        int c, r, code;

        memcpy(table, options, sizeof(table));
        if (!allow_file)
                table[ELEMENTSOF(table) - 2] = (struct option){};
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, allow_file ? "+:dhp:f:" : "+:dhp:", table, NULL)) >= 0) {
                if (verb_common_option(ctx, c, help, &code)) {
                        if (code >= 0)
                                return RUN_ARGS_HELP;
                        continue;
                }
                switch (c) {
                case ARG_NAME:
                        if (!spec_name_is_valid(optarg))
                                return usage_error(ctx,
                                                   "--name: \"%s\" is not a DNS label (1-63 of a-z, 0-9 and "
                                                   "'-', starting and ending alphanumeric)",
                                                   optarg);
                        free(o->name);
                        o->name = strdup(optarg);
                        if (!o->name)
                                return -ENOMEM;
                        break;
                case ARG_ROOTFS: {
                        _cleanup_free_ char *abs = NULL;

                        if (!optarg[0])
                                return usage_error(ctx, "--rootfs: empty path");
                        r = path_make_absolute(optarg, &abs);
                        if (r < 0)
                                return usage_error(ctx, "--rootfs: cannot make \"%s\" absolute: %s", optarg,
                                                   strerror(-r));
                        json_object_set_new(spec, "rootfs", json_string(abs));
                        *have_rootfs = true;
                        break;
                }
                case ARG_IMAGE:
                        if (!optarg[0])
                                return usage_error(ctx, "--image: empty reference");
                        json_object_set_new(spec, "image", json_string(optarg));
                        *have_image = true;
                        break;
                case ARG_CPU: {
                        uint64_t m;

                        r = parse_cpu_quantity(optarg, &m);
                        if (r < 0)
                                return usage_error(
                                    ctx,
                                    "--cpu: \"%s\" is not a CPU quantity (e.g. \"500m\", \"2\", \"0.25\")",
                                    optarg);
                        if (m == 0 || m > SPEC_CPU_MILLIS_MAX)
                                return usage_error(ctx, "--cpu: \"%s\" is out of range (1m to %" PRIu64 ")",
                                                   optarg, SPEC_CPU_MILLIS_MAX / 1000);
                        json_object_set_new(resources, "cpu", json_string(optarg));
                        break;
                }
                case ARG_MEMORY: {
                        uint64_t b;

                        r = parse_memory_quantity(optarg, &b);
                        if (r < 0)
                                return usage_error(
                                    ctx, "--memory: \"%s\" is not a size (e.g. \"128Mi\", \"1G\", bytes)",
                                    optarg);
                        if (b < SPEC_MEMORY_MIN || b > SPEC_MEMORY_MAX)
                                return usage_error(ctx, "--memory: \"%s\" is out of range (4Mi to 1Pi)",
                                                   optarg);
                        json_object_set_new(resources, "memory", json_string(optarg));
                        break;
                }
                case ARG_PIDS: {
                        char *end;
                        unsigned long long n;

                        errno = 0;
                        n = strtoull(optarg, &end, 10);
                        if (!isdigit((unsigned char)optarg[0]) || *end || errno != 0)
                                return usage_error(ctx, "--pids: \"%s\" is not a number", optarg);
                        if (n == 0 || n > SPEC_PIDS_MAX)
                                return usage_error(ctx, "--pids: %llu is out of range (1 to %" PRIu64 ")", n,
                                                   SPEC_PIDS_MAX);
                        json_object_set_new(resources, "pids", json_integer((json_int_t)n));
                        break;
                }
                case ARG_ENV:
                        r = add_key_value(ctx, env, "--env", optarg, true);
                        if (r != 0)
                                return r;
                        break;
                case ARG_LABEL:
                        r = add_key_value(ctx, labels, "--label", optarg, false);
                        if (r != 0)
                                return r;
                        break;
                case ARG_WORKDIR:
                        if (optarg[0] != '/')
                                return usage_error(ctx, "--workdir: \"%s\" is not an absolute path", optarg);
                        json_object_set_new(spec, "workingDir", json_string(optarg));
                        break;
                case ARG_NETWORK:
                        if (!streq(optarg, "none") && !streq(optarg, "host") && !streq(optarg, "bridge"))
                                return usage_error(ctx, "--network: \"%s\" is not one of none, host, bridge",
                                                   optarg);
                        json_object_set_new(spec_network_object(spec), "mode", json_string(optarg));
                        break;
                case 'p': {
                        json_t *net = spec_network_object(spec), *ports = json_object_get(net, "ports");
                        SpecPort port;

                        if (spec_port_parse(optarg, &port) < 0)
                                return usage_error(ctx, "--publish: \"%s\" is not HOSTPORT:PORT[/tcp|udp]", optarg);
                        if (!ports) {
                                ports = json_array();
                                json_object_set_new(net, "ports", ports);
                        }
                        json_array_append_new(ports, json_string(optarg));
                        break;
                }
                case ARG_RESTART:
                        if (!streq(optarg, "Never") && !streq(optarg, "OnFailure") &&
                            !streq(optarg, "Always"))
                                return usage_error(
                                    ctx, "--restart: \"%s\" is not one of Never, OnFailure, Always", optarg);
                        *restart = optarg;
                        break;
                case ARG_VM:
                        json_object_set_new(spec, "isolation", json_string("vm"));
                        break;
                case ARG_VM_BACKEND: {
                        json_t *vm = json_object_get(spec, "vm");

                        if (!streq(optarg, "microvm") && !streq(optarg, "libvirt"))
                                return usage_error(ctx, "--vm-backend: \"%s\" is not microvm or libvirt", optarg);
                        if (!vm) {
                                vm = json_object();
                                json_object_set_new(spec, "vm", vm);
                        }
                        json_object_set_new(vm, "backend", json_string(optarg));
                        json_object_set_new(spec, "isolation", json_string("vm"));
                        break;
                }
                case ARG_RM:
                        o->remove = true;
                        break;
                case 'd':
                        o->detach = true;
                        break;
                case ARG_DRY_RUN:
                        o->dry_run = true;
                        break;
                case 'f':
                        free(o->file);
                        o->file = strdup(optarg);
                        if (!o->file)
                                return -ENOMEM;
                        break;
                default:
                        return usage_getopt_error(ctx, c, argv);
                }
        }
        return 0;
}

int run_parse_args(Berthctl *ctx, int argc, char **argv, RunOptions *ret)
{
        return run_parse_args_as(ctx, argc, argv, run_help, false, ret);
}

int run_parse_args_as(Berthctl *ctx, int argc, char **argv, const char *help, bool create, RunOptions *ret)
{
        _cleanup_(json_decrefp) json_t *spec = json_object(), *resources = json_object(),
                                       *env = json_object(), *labels = json_object(),
                                       *command = json_array();
        RunOptions o = {};
        bool have_rootfs = false, have_image = false;
        const char *restart = NULL;
        json_t *metadata;
        int r;

        if (!spec || !resources || !env || !labels || !command)
                return -ENOMEM;
        /* Keep the document in the order docs/API.md shows it. */
        json_object_set_new(spec, "isolation", json_string("container"));

        r = parse_flags(ctx, argc, argv, help, create, &o, spec, resources, env, labels, &have_rootfs,
                        &have_image, &restart);
        if (r != 0) {
                run_options_done(&o);
                return r;
        }
        if (create && (o.remove || o.detach || o.dry_run)) {
                run_options_done(&o);
                return usage_error(ctx, "%s is a flag of run, not of create",
                                   o.remove ? "--rm" : o.detach ? "--detach" : "--dry-run");
        }
        if (o.file) {
                /* create -f FILE: the document is the whole workload */
                if (optind < argc || json_object_size(spec) > 1 || json_object_size(resources) > 0 ||
                    json_object_size(env) > 0 || json_object_size(labels) > 0 || restart || o.name) {
                        run_options_done(&o);
                        return usage_error(
                            ctx, "-f FILE cannot be combined with other workload flags or a COMMAND");
                }
                *ret = o;
                return 0;
        }
        for (int i = optind; i < argc; i++)
                if (json_array_append_new(command, json_string(argv[i])) < 0) {
                        run_options_done(&o);
                        return usage_error(ctx, "COMMAND: argument %d is not valid UTF-8", i - optind + 1);
                }

        if (!have_rootfs && !have_image)
                r = usage_error(ctx, "one of --rootfs or --image is required");
        else if (json_array_size(command) == 0 && !have_image)
                r = usage_error(ctx, "missing COMMAND (give it after --)");
        else if (o.remove && o.detach)
                r = usage_error(ctx, "--rm cannot be combined with --detach");
        else if (o.remove && restart && !streq(restart, "Never"))
                r = usage_error(ctx, "--rm cannot be combined with --restart %s", restart);
        if (r != 0) {
                run_options_done(&o);
                return r;
        }
        if (!o.name) {
                r = run_generate_name(&o.name);
                if (r < 0) {
                        run_options_done(&o);
                        return r;
                }
        }

        if (json_array_size(command) > 0)
                json_object_set(spec, "command", command);
        if (json_object_size(env) > 0)
                json_object_set(spec, "env", env);
        if (json_object_size(resources) > 0)
                json_object_set(spec, "resources", resources);
        if (restart)
                json_object_set_new(spec, "restartPolicy", json_string(restart));

        metadata = json_pack("{s:s}", "name", o.name);
        if (metadata && json_object_size(labels) > 0)
                json_object_set(metadata, "labels", labels);
        o.doc = json_pack("{s:s, s:s, s:o, s:O}", "apiVersion", "berth/v1", "kind", "Workload", "metadata",
                          metadata, "spec", spec);
        if (!o.doc) {
                run_options_done(&o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}
