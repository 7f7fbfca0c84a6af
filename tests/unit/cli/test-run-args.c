/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl run: flags -> document, and the usage errors. */
#include <fcntl.h>

#include "cli/run-args.h"
#include "lib/spec.h"
#include "tap.h"

static char errbuf[4096];

/* Runs run_parse_args on a NULL-terminated argv, capturing stderr into errbuf. */
static int parse(RunOptions *o, char **argv)
{
        Berthctl ctx = {.socket_path = "/nonexistent", .verb = "run"};
        char path[] = "/tmp/berth-test-run-args-XXXXXX";
        int argc = 0, fd, saved, r;
        ssize_t n;

        while (argv[argc])
                argc++;
        fd = mkostemp(path, O_CLOEXEC);
        unlink(path);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        *o = (RunOptions){};
        r = run_parse_args(&ctx, argc, argv, o);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = pread(fd, errbuf, sizeof(errbuf) - 1, 0);
        errbuf[n > 0 ? n : 0] = 0;
        /* One line, so that TAP output stays parseable. */
        for (char *p = errbuf; *p; p++)
                if (*p == '\n')
                        *p = '|';
        close(fd);
        return r;
}

static const char *sget(const json_t *doc, const char *a, const char *b, const char *c)
{
        const json_t *j = json_object_get(doc, a);

        if (b)
                j = json_object_get(j, b);
        if (c)
                j = json_object_get(j, c);
        return json_string_value(j);
}

/* -p before --network: both land in one spec.network object. */
static void test_publish(void)
{
        char *argv[] = {"run", "--rootfs", "/r", "-p", "8080:80", "--publish", "53:53/udp", "--network", "bridge",
                        "--", "x", NULL};
        _cleanup_(spec_freep) Spec *spec = NULL;
        BerthError err = {};
        RunOptions o;
        json_t *ports;
        int r;

        r = parse(&o, argv);
        CHECK(r == 0, "-p/--publish parse (r=%d, %s)", r, errbuf);
        if (r != 0)
                return;
        CHECK_STREQ(sget(o.doc, "spec", "network", "mode"), "bridge", "network.mode bridge kept after -p");
        ports = json_object_get(json_object_get(json_object_get(o.doc, "spec"), "network"), "ports");
        CHECK(json_array_size(ports) == 2 && streq(json_string_value(json_array_get(ports, 1)), "53:53/udp"),
              "two ports in order");
        r = spec_from_json(o.doc, &spec, &err);
        CHECK(r >= 0 && spec->n_ports == 2 && spec->network == NETWORK_BRIDGE,
              "the daemon's validator accepts them (%s: %s)", err.field, err.message);
        run_options_done(&o);
}

static void test_full(void)
{
        char *argv[] = {"run",   "--name",    "web",       "--rootfs", "/srv/./busybox//x/..",
                        "--cpu", "500m",      "--memory",  "128Mi",    "--pids",
                        "64",    "--env",     "A=1",       "--env",    "B=x=y",
                        "--env", "A=2",       "--workdir", "/tmp",     "--network",
                        "host",  "--restart", "OnFailure", "--label",  "app=web",
                        "-d",    "--",        "/bin/sh",   "-c",       "echo hi",
                        NULL};
        _cleanup_(spec_freep) Spec *spec = NULL;
        BerthError err = {};
        RunOptions o;
        json_t *cmd, *env;
        const char *k;
        int r;

        r = parse(&o, argv);
        CHECK(r == 0, "full flag set parses (r=%d, %s)", r, errbuf);
        if (r != 0)
                return;
        CHECK(o.detach && !o.remove && !o.dry_run, "-d sets detach only");
        CHECK_STREQ(o.name, "web", "name");
        CHECK_STREQ(sget(o.doc, "apiVersion", NULL, NULL), "berth/v1", "apiVersion");
        CHECK_STREQ(sget(o.doc, "kind", NULL, NULL), "Workload", "kind");
        CHECK_STREQ(sget(o.doc, "metadata", "name", NULL), "web", "metadata.name");
        CHECK_STREQ(sget(o.doc, "metadata", "labels", "app"), "web", "metadata.labels.app");
        CHECK_STREQ(sget(o.doc, "spec", "rootfs", NULL), "/srv/busybox", "rootfs normalised");
        CHECK_STREQ(sget(o.doc, "spec", "isolation", NULL), "container", "isolation default container");
        CHECK_STREQ(sget(o.doc, "spec", "resources", "cpu"), "500m", "cpu");
        CHECK_STREQ(sget(o.doc, "spec", "resources", "memory"), "128Mi", "memory");
        CHECK(json_integer_value(json_object_get(
                  json_object_get(json_object_get(o.doc, "spec"), "resources"), "pids")) == 64,
              "pids is an integer 64");
        CHECK_STREQ(sget(o.doc, "spec", "workingDir", NULL), "/tmp", "workingDir");
        CHECK_STREQ(sget(o.doc, "spec", "network", "mode"), "host", "network.mode");
        CHECK_STREQ(sget(o.doc, "spec", "restartPolicy", NULL), "OnFailure", "restartPolicy");
        env = json_object_get(json_object_get(o.doc, "spec"), "env");
        CHECK(json_object_size(env) == 2, "env has two variables");
        CHECK_STREQ(json_string_value(json_object_get(env, "A")), "2", "later --env A wins");
        CHECK_STREQ(json_string_value(json_object_get(env, "B")), "x=y", "value keeps later '='");
        k = json_object_iter_key(json_object_iter(env));
        CHECK_STREQ(k, "A", "env keeps first-seen order");
        cmd = json_object_get(json_object_get(o.doc, "spec"), "command");
        CHECK(json_array_size(cmd) == 3, "command has 3 entries");
        CHECK_STREQ(json_string_value(json_array_get(cmd, 2)), "echo hi", "command argument kept whole");

        /* The document is what the daemon's validator accepts. */
        r = spec_from_json(o.doc, &spec, &err);
        CHECK(r >= 0, "spec_from_json accepts the document (%s: %s)", err.field, err.message);
        if (r >= 0) {
                CHECK(spec->memory_bytes == 128u << 20, "validator reads memory 128Mi");
                CHECK(spec->cpu_millis == 500, "validator reads cpu 500m");
                CHECK(spec->n_env == 2, "validator reads 2 env");
        }
        run_options_done(&o);
}

static void test_defaults(void)
{
        char *argv[] = {"run", "--rootfs", "rel/dir", "--vm", "--rm", "true", "-x", NULL};
        _cleanup_free_ char *cwd = getcwd(NULL, 0), *expect = NULL;
        RunOptions o;
        json_t *cmd;
        int r;

        r = parse(&o, argv);
        CHECK(r == 0, "minimal run parses (%s)", errbuf);
        if (r != 0)
                return;
        CHECK(o.remove && !o.detach, "--rm");
        CHECK(o.name && strncmp(o.name, "run-", 4) == 0 && spec_name_is_valid(o.name),
              "generated name %s is a DNS label", o.name);
        CHECK(asprintf(&expect, "%s/rel/dir", cwd) > 0, "asprintf");
        CHECK_STREQ(sget(o.doc, "spec", "rootfs", NULL), expect, "relative rootfs made absolute");
        CHECK_STREQ(sget(o.doc, "spec", "isolation", NULL), "vm", "--vm sets isolation vm");
        cmd = json_object_get(json_object_get(o.doc, "spec"), "command");
        CHECK(json_array_size(cmd) == 2 && streq(json_string_value(json_array_get(cmd, 1)), "-x"),
              "flags after the first COMMAND word belong to the command");
        CHECK(!json_object_get(json_object_get(o.doc, "spec"), "resources"), "no resources unless given");
        run_options_done(&o);
}

static void expect_usage(char **argv, const char *needle, const char *what)
{
        RunOptions o;
        int r = parse(&o, argv);

        CHECK(r == EXIT_USAGE && strstr(errbuf, needle) &&
                  strstr(errbuf, "Run 'berthctl run --help' for usage."),
              "%s -> exit 2 and \"%s\" (r=%d, stderr: %s)", what, needle, r, errbuf);
        if (r == 0)
                run_options_done(&o);
}

static void test_errors(void)
{
        expect_usage((char *[]){"run", "--rootfs", "/r", "--memory", "12Xi", "--", "x", NULL},
                     "--memory: \"12Xi\" is not a size", "bad memory");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--memory", "1Mi", "--", "x", NULL},
                     "--memory: \"1Mi\" is out of range", "memory below minimum");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--cpu", "abc", "--", "x", NULL},
                     "--cpu: \"abc\" is not a CPU quantity", "bad cpu");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--cpu", "0.0001", "--", "x", NULL},
                     "--cpu: \"0.0001\"", "cpu with 4 decimals");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--pids", "-3", "--", "x", NULL},
                     "--pids: \"-3\" is not a number", "negative pids");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--pids", "0", "--", "x", NULL},
                     "--pids: 0 is out of range", "zero pids");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--env", "NOEQUALS", "--", "x", NULL},
                     "--env: expected KEY=VALUE, got \"NOEQUALS\"", "env without =");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--env", "=v", "--", "x", NULL},
                     "--env: expected KEY=VALUE", "env with empty key");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--env", "1A=v", "--", "x", NULL},
                     "--env: \"1A\" is not a valid variable name", "env key starting with a digit");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--env", "A-B=v", "--", "x", NULL},
                     "--env: \"A-B\" is not a valid variable name", "env key with '-'");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--label", "v", "--", "x", NULL},
                     "--label: expected KEY=VALUE", "label without =");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--name", "Web_1", "--", "x", NULL},
                     "--name: \"Web_1\" is not a DNS label", "bad name");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--network", "wifi", "--", "x", NULL},
                     "--network: \"wifi\" is not one of none, host, bridge", "bad network");
        expect_usage((char *[]){"run", "--rootfs", "/r", "-p", "8080", "--", "x", NULL},
                     "--publish: \"8080\" is not HOSTPORT:PORT[/tcp|udp]", "bad publish");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--restart", "always", "--", "x", NULL},
                     "--restart: \"always\" is not one of Never, OnFailure, Always",
                     "restart is case-sensitive");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--workdir", "tmp", "--", "x", NULL},
                     "--workdir: \"tmp\" is not an absolute path", "relative workdir");
        expect_usage((char *[]){"run", "--rootfs", "/r", "--frobnicate", "--", "x", NULL},
                     "berthctl run: unknown flag --frobnicate", "unknown long flag");
        expect_usage((char *[]){"run", "--rootfs", "/r", "-z", "--", "x", NULL},
                     "berthctl run: unknown flag -z", "unknown short flag");
        expect_usage((char *[]){"run", "--rootfs", NULL}, "berthctl run: flag --rootfs needs a value",
                     "missing value");
        expect_usage((char *[]){"run", "--rootfs", "/r", NULL}, "missing COMMAND", "no command");
        expect_usage((char *[]){"run", "--", "x", NULL}, "one of --rootfs or --image is required",
                     "no rootfs nor image");
        expect_usage((char *[]){"run", "--rm", "-d", "--rootfs", "/r", "--", "x", NULL},
                     "--rm cannot be combined with --detach", "--rm with -d");
        expect_usage((char *[]){"run", "--rm", "--restart", "Always", "--rootfs", "/r", "--", "x", NULL},
                     "--rm cannot be combined with --restart Always", "--rm with restart");
}

static void test_help_and_image(void)
{
        RunOptions o;
        int r, saved = dup(STDOUT_FILENO), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

        fflush(stdout);
        dup2(devnull, STDOUT_FILENO);
        r = parse(&o, (char *[]){"run", "--help", NULL});
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        close(devnull);
        CHECK(r == RUN_ARGS_HELP, "--help is reported as help (exit 0)");

        r = parse(&o, (char *[]){"run", "--image", "docker.io/library/busybox:1", "--dry-run", NULL});
        CHECK(r == 0 && o.dry_run, "--image without COMMAND is accepted (%s)", errbuf);
        if (r == 0) {
                CHECK_STREQ(sget(o.doc, "spec", "image", NULL), "docker.io/library/busybox:1",
                            "image is sent");
                run_options_done(&o);
        }
}

static void test_path(void)
{
        static const char *const cases[][2] = {
            {"/", "/"},      {"//a//b/", "/a/b"}, {"/a/./b/../c", "/a/c"},
            {"/../..", "/"}, {"/a/b/..", "/a"},   {"/a/..b", "/a/..b"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = NULL;

                CHECK(path_make_absolute(cases[i][0], &p) == 0, "path_make_absolute(%s)", cases[i][0]);
                CHECK_STREQ(p, cases[i][1], "normalises %s", cases[i][0]);
        }
}

int main(void)
{
        test_full();
        test_publish();
        test_defaults();
        test_errors();
        test_help_and_image();
        test_path();
        return tap_done();
}
