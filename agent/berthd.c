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

#include "agent/cluster.h"
#include "agent/berthd-grpc.h"
#include "agent/config.h"
#include "agent/manager.h"
#include "agent/notify.h"
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
                        /* The crash-point tests look for "crash-points" here. */
                        printf("berthd %s%s\n", BERTH_VERSION, BERTH_CRASH_POINTS ? " +crash-points" : "");
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

/* SIGHUP: re-read the configuration file (and re-apply the command line).
 * Only keys that need no restart take effect (logLevel, stopTimeout, the
 * restart backoff); workloads are not touched. docs/OPERATIONS.md. */
typedef struct ReloadContext {
        Config *config;
        const Args *args;
        Notify *notify;
        ApiGrpc *grpc; /* TLS certificates are re-read on SIGHUP */
        ApiHttp *http_tcp;
} ReloadContext;

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        ReloadContext *rc = userdata;
        _cleanup_(config_donep) Config n = {};
        BerthError err = {};
        char buf[1100];
        int r;

        notify_reloading(rc->notify);
        log_info("received SIGHUP, reloading the configuration (workloads are not touched)");
        r = config_init(&n);
        if (r >= 0)
                r = config_load_file(&n, rc->args->config ?: CONFIG_DEFAULT_PATH, !rc->args->config, &err);
        if (r >= 0)
                r = apply_args(&n, rc->args);
        if (r >= 0)
                r = config_finish(&n, &err);
        if (r < 0)
                log_error_errno(r, "reload failed, keeping the current configuration: %s",
                                berth_error_format(&err, buf, sizeof(buf)));
        else {
                if (!streq(n.root, rc->config->root) || !streq(n.run_dir, rc->config->run_dir) ||
                    !streq(n.api_socket, rc->config->api_socket) || !streq(n.cgroup_root, rc->config->cgroup_root) ||
                    !streq(n.cgroup_parent, rc->config->cgroup_parent) ||
                    n.log_max_bytes != rc->config->log_max_bytes)
                        log_warning("reload: root, runDir, api.socket, cgroup.* and workloads.logMaxBytes "
                                    "take effect only after a restart");
                rc->config->log_level = n.log_level;
                rc->config->stop_timeout = n.stop_timeout;
                rc->config->backoff_initial = n.backoff_initial;
                rc->config->backoff_max = n.backoff_max;
                log_set_max_level(n.log_level);
                log_info("configuration reloaded (logLevel %s)", config_log_level_to_string(n.log_level));
        }
        (void)api_grpc_reload_tls(rc->grpc);
        (void)api_http_reload_tls(rc->http_tcp);
        notify_ready(rc->notify);
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
        _cleanup_(cluster_freep) Cluster *cluster = NULL; /* freed before the manager */
        Notify *notify = NULL;
        ReloadContext reload = {};
        _cleanup_free_ char *shim = NULL, *db_path = NULL, *workloads_dir = NULL;
        ApiHttp *http = NULL;
        _cleanup_(api_grpc_freep) ApiGrpc *grpc = NULL;
        _cleanup_(api_http_freep) ApiHttp *http_tcp = NULL;
        BerthError err = {};
        char buf[1100];
        Args args = {};
        sigset_t mask;
        int r;

        log_set_ident("berthd");
        log_parse_environment();
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
            (r = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, &reload)) < 0)
                return log_error_errno(r, "cannot watch signals: %m");
        r = notify_new(event, &notify);
        if (r < 0)
                return r;
        reload = (ReloadContext){ .config = &config, .args = &args, .notify = notify };
        /* Shims are detached, but a pipe to a client that went away must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = manager_new(event, &config, state, shim, &manager);
        if (r < 0) {
                notify_free(notify);
                return r;
        }
        notify_set_manager(notify, manager);

        ApiBackend backend = { .ops = &manager_backend_ops, .userdata = manager };
        ApiHttpConfig hc = {
                .socket_path = config.api_socket,
                .socket_gid = lookup_group(config.api_socket_group),
                .listen_fd = notify_listen_fd(), /* -EBADF unless socket-activated */
                .default_stop_timeout = config.stop_timeout,
        };
        if (hc.listen_fd < 0 && hc.listen_fd != -EBADF) {
                notify_free(notify);
                return hc.listen_fd;
        }
        r = api_http_new(event, &hc, &backend, &http);
        if (r < 0) {
                notify_free(notify);
                return log_error_errno(r, "cannot serve the API on %s: %m", config.api_socket);
        }
        r = berthd_grpc_start(event, &config, hc.socket_gid, &backend, &grpc);
        if (r < 0) {
                api_http_free(http);
                notify_free(notify);
                return r;
        }
        reload.grpc = grpc;
        r = berthd_http_tcp_start(event, &config, &backend, &http_tcp);
        if (r < 0) {
                api_http_free(http);
                notify_free(notify);
                return r;
        }
        reload.http_tcp = http_tcp;

        /* /readyz answers 503 until the state is loaded and the runs re-adopted. */
        r = manager_start(manager);
        if (r < 0) {
                api_http_free(http);
                notify_free(notify);
                return r;
        }
        /* A cluster: section joins the fleet in the background (docs/CLUSTER.md);
         * an unreachable etcd never keeps berthd from serving. */
        if (config.cluster_endpoints) {
                r = cluster_new(event, &config, &backend, &cluster);
                if (r < 0) {
                        api_http_free(http);
                        notify_free(notify);
                        return log_error_errno(r, "cannot set up the cluster store client: %m");
                }
                manager->cluster = cluster;
                (void)cluster_start(cluster);
        }
        log_info("berthd %s ready on %s (root %s, cgroup %s/%s)", BERTH_VERSION, config.api_socket, config.root,
                 config.cgroup_root, config.cgroup_parent);
        notify_ready(notify);

        r = sd_event_loop(event);
        notify_stopping(notify);
        grpc = api_grpc_free(grpc); /* GOAWAY to gRPC clients */
        http_tcp = api_http_free(http_tcp);
        api_http_free(http);
        manager->cluster = NULL;
        cluster = cluster_free(cluster);
        manager_shutdown(manager);
        notify_free(notify);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}

int main(int argc, char **argv)
{
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
