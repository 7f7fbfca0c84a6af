/* SPDX-License-Identifier: Apache-2.0 */
/* berthd: parse args, parse config, open the state, manager_new,
 * manager_start (load + re-adopt), serve the API, READY=1, sd_event_loop.
 * On SIGTERM/SIGINT it stops serving and exits; workloads keep running. */
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "agent/config.h"
#include "agent/manager.h"
#include "agent/state.h"
#include "api/api.h"
#include "berth-config.h"
#include "lib/log.h"

typedef struct Args {
        const char *config;
        const char *root;
        const char *run_dir;
        const char *shim;
        const char *cgroup_parent;
        const char *cgroup_root;
        const char *log_level;
} Args;

static void help(void)
{
        printf("Usage: berthd [OPTIONS]\n\n"
               "The berth node agent.\n\n"
               "  -c --config FILE         configuration file (default %s)\n"
               "     --root DIR            state directory (default %s)\n"
               "     --run-dir DIR         runtime directory (default %s)\n"
               "     --shim PATH           berth-shim binary\n"
               "     --cgroup-parent NAME  parent cgroup for workloads (default %s)\n"
               "     --cgroup-root DIR     cgroup filesystem root (default %s)\n"
               "     --log-level LEVEL     debug, info, notice, warning, error\n"
               "  -h --help                show this help\n"
               "     --version             show the version\n",
               CONFIG_DEFAULT_PATH, CONFIG_DEFAULT_ROOT, CONFIG_DEFAULT_RUN_DIR, CONFIG_DEFAULT_CGROUP_PARENT,
               CONFIG_DEFAULT_CGROUP_ROOT);
}

/* Returns 1 to continue, 0 to exit successfully, < 0 on error. */
static int parse_argv(int argc, char **argv, Args *a)
{
        enum { ARG_ROOT = 0x100, ARG_RUN_DIR, ARG_SHIM, ARG_CGROUP_PARENT, ARG_CGROUP_ROOT, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "root", required_argument, NULL, ARG_ROOT },
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "shim", required_argument, NULL, ARG_SHIM },
                { "cgroup-parent", required_argument, NULL, ARG_CGROUP_PARENT },
                { "cgroup-root", required_argument, NULL, ARG_CGROUP_ROOT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        a->config = optarg;
                        break;
                case ARG_ROOT:
                        a->root = optarg;
                        break;
                case ARG_RUN_DIR:
                        a->run_dir = optarg;
                        break;
                case ARG_SHIM:
                        a->shim = optarg;
                        break;
                case ARG_CGROUP_PARENT:
                        a->cgroup_parent = optarg;
                        break;
                case ARG_CGROUP_ROOT:
                        a->cgroup_root = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        a->log_level = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("berthd %s\n", BERTH_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "unexpected argument: %s", argv[optind]);
        return 1;
}

static int override_path(char **field, const char *v, const char *flag)
{
        if (!v)
                return 0;
        if (v[0] != '/')
                return log_error_errno(-EINVAL, "%s: \"%s\" is not an absolute path", flag, v);
        free(*field);
        *field = strdup(v);
        return *field ? 0 : -ENOMEM;
}

static int apply_args(Config *c, const Args *a)
{
        int r;

        if ((r = override_path(&c->root, a->root, "--root")) < 0 ||
            (r = override_path(&c->run_dir, a->run_dir, "--run-dir")) < 0 ||
            (r = override_path(&c->shim, a->shim, "--shim")) < 0 ||
            (r = override_path(&c->cgroup_root, a->cgroup_root, "--cgroup-root")) < 0)
                return r;
        if (a->cgroup_parent) {
                if (!a->cgroup_parent[0] || strchr(a->cgroup_parent, '/'))
                        return log_error_errno(-EINVAL, "--cgroup-parent: \"%s\" is not a valid name",
                                               a->cgroup_parent);
                free(c->cgroup_parent);
                c->cgroup_parent = strdup(a->cgroup_parent);
                if (!c->cgroup_parent)
                        return -ENOMEM;
        }
        if (a->log_level && config_parse_log_level(a->log_level, &c->log_level) < 0)
                return log_error_errno(-EINVAL, "--log-level: \"%s\" is not a log level", a->log_level);
        return 0;
}

static gid_t lookup_group(const char *name)
{
        struct group grp, *res = NULL;
        char buf[4096];

        if (!name || !*name)
                return (gid_t)-1;
        if (getgrnam_r(name, &grp, buf, sizeof(buf), &res) != 0 || !res) {
                log_debug("group %s does not exist, leaving the socket group as is", name);
                return (gid_t)-1;
        }
        return res->gr_gid;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        log_info("received SIG%s, shutting down (workloads keep running)", strempty(sigabbrev_np((int)si->ssi_signo)));
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        log_info("received SIGHUP; configuration reload is not supported yet");
        return 0;
}

/* berthd is the child subreaper of the shims it spawns (they are detached by
 * a double fork and would otherwise be reparented to PID 1, which is not
 * always a reaping init). Reap them here; the manager learns of their exit
 * through pidfds, which stay readable after the reap. */
static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        for (;;) {
                siginfo_t info = {};

                if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0)
                        break;
                log_debug("reaped child %d", (int)info.si_pid);
        }
        return 0;
}

static int run(int argc, char **argv)
{
        _cleanup_(config_donep) Config config = {};
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(state_freep) State *state = NULL;
        _cleanup_(manager_freep) Manager *manager = NULL;
        _cleanup_free_ char *shim = NULL, *db_path = NULL, *workloads_dir = NULL;
        ApiHttp *http = NULL;
        BerthError err = {};
        char buf[1100];
        Args args = {};
        sigset_t mask;
        int r;

        log_set_ident("berthd");
        r = parse_argv(argc, argv, &args);
        if (r <= 0)
                return r;

        r = config_init(&config);
        if (r < 0)
                return log_error_errno(r, "out of memory");
        /* The default file may be absent (embedded defaults); an explicit one must exist. */
        r = config_load_file(&config, args.config ?: CONFIG_DEFAULT_PATH, !args.config, &err);
        if (r < 0)
                return log_error_errno(r, "configuration %s: %s", args.config ?: CONFIG_DEFAULT_PATH,
                                       berth_error_format(&err, buf, sizeof(buf)));
        r = apply_args(&config, &args);
        if (r < 0)
                return r;
        r = config_finish(&config, &err);
        if (r < 0)
                return log_error_errno(r, "configuration: %s", berth_error_format(&err, buf, sizeof(buf)));
        log_set_max_level(config.log_level);

        r = config_find_shim(&config, BERTH_LIBEXECDIR, &shim);
        if (r < 0)
                return log_error_errno(r, "cannot find berth-shim (use --shim or the shim key): %m");

        umask(0022);
        if (asprintf(&workloads_dir, "%s/workloads", config.root) < 0)
                return log_error_errno(-ENOMEM, "out of memory");
        if ((r = mkdir_p(config.root, 0700)) < 0 || (r = mkdir_p(workloads_dir, 0700)) < 0)
                return log_error_errno(r, "cannot create %s: %m", config.root);
        r = mkdir_p(config.run_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "cannot create %s: %m", config.run_dir);

        if (asprintf(&db_path, "%s/state.db", config.root) < 0)
                return log_error_errno(-ENOMEM, "out of memory");
        r = state_open(db_path, &state);
        if (r < 0)
                return r;

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "cannot create the event loop: %m");
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                log_warning_errno(errno, "cannot become the shims' subreaper: %m");
        if ((r = sd_event_add_signal(event, NULL, SIGCHLD, on_sigchld, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, NULL)) < 0)
                return log_error_errno(r, "cannot watch signals: %m");
        /* Shims are detached, but a pipe to a client that went away must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = manager_new(event, &config, state, shim, &manager);
        if (r < 0)
                return r;

        ApiBackend backend = { .ops = &manager_backend_ops, .userdata = manager };
        ApiHttpConfig hc = {
                .socket_path = config.api_socket,
                .socket_gid = lookup_group(config.api_socket_group),
                .listen_fd = -EBADF,
                .default_stop_timeout = config.stop_timeout,
        };
        r = api_http_new(event, &hc, &backend, &http);
        if (r < 0)
                return log_error_errno(r, "cannot serve the API on %s: %m", config.api_socket);

        /* /readyz answers 503 until the state is loaded and the runs re-adopted. */
        r = manager_start(manager);
        if (r < 0) {
                api_http_free(http);
                return r;
        }
        log_info("berthd %s ready on %s (root %s, cgroup %s/%s)", BERTH_VERSION, config.api_socket, config.root,
                 config.cgroup_root, config.cgroup_parent);
        (void)sd_notify(false, "READY=1\nSTATUS=serving");

        r = sd_event_loop(event);
        (void)sd_notify(false, "STOPPING=1");
        api_http_free(http);
        manager_shutdown(manager);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}

int main(int argc, char **argv)
{
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
