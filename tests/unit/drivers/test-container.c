/* SPDX-License-Identifier: Apache-2.0 */
/* End to end, as root: the container driver starts berth-shim on a busybox
 * rootfs and we check output, exit codes, OOM, and the container's view
 * (hostname, pid 1, fds, network). argv[1] is the built berth-shim. */
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/container/cgroup.h"
#include "drivers/driver.h"
#include "lib/logfile.h"
#include "test-util.h"

static char tmp[64], rootfs[80], state[80], parent[64];
static Driver *drv;
static const DriverOps *ops = &container_driver_ops;

static int run(const char *name, char **cmd, uint64_t memory, DriverExit *ret_exit, char **ret_out,
               int *ret_start)
{
        Spec s = {
                .name = (char *)name,
                .isolation = ISOLATION_CONTAINER,
                .rootfs = rootfs,
                .command = cmd,
                .working_dir = (char *)"/",
                .memory_bytes = memory,
                .network = NETWORK_NONE,
        };
        BerthError err = {};
        DriverRun r = { .shim_pidfd = -EBADF };
        int nfd = -EBADF, q;

        while (s.command[s.n_command])
                s.n_command++;
        q = ops->prepare(drv, &s, &err);
        if (q < 0) {
                fprintf(stderr, "prepare: %s\n", err.message);
                return q;
        }
        q = ops->start(drv, &s, &nfd, NULL, &err);
        if (q < 0) {
                fprintf(stderr, "start: %s\n", err.message);
                return q;
        }
        struct pollfd p = { .fd = nfd, .events = POLLIN };
        CHECK(poll(&p, 1, 30000) == 1);
        *ret_start = ops->start_finish(drv, &s, nfd, &r, &err);
        close(nfd);
        if (*ret_start < 0)
                fprintf(stderr, "start_finish (expected for some cases): %s\n", err.message);
        if (*ret_start >= 0 && r.shim_pidfd >= 0) {
                struct pollfd sp = { .fd = r.shim_pidfd, .events = POLLIN };
                CHECK(r.pid > 0 && r.shim_pid > 0);
                CHECK(poll(&sp, 1, 60000) == 1);
                close(r.shim_pidfd);
        }
        q = ops->read_exit(drv, name, ret_exit);
        if (q < 0)
                return q;

        /* collect the log as "stdout:line" / "stderr:line" */
        _cleanup_free_ char *dir = NULL;
        char *out = NULL;
        size_t len = 0, cap = 0;
        LogReader *rd = NULL;
        LogRecord rec;
        driver_workload_dir(state, name, &dir);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        CHECK_RC(log_reader_open(dfd, &rd));
        while (log_reader_next(rd, &rec) == 1)
                buf_printf(&out, &len, &cap, "%s:%s\n", rec.stream == LOG_STREAM_STDERR ? "stderr" : "stdout",
                           rec.data);
        log_reader_free(rd);
        close(dfd);
        *ret_out = out ? out : strdup("");
        return 0;
}

static void cleanup(void)
{
        static const char *const names[] = { "t-echo", "t-nope", "t-oom", "t-view" };
        static const char *const c[] = { "cpu", "cpuacct", "memory", "pids", "freezer", "cpuset" };
        char p[256];

        for (size_t i = 0; drv && !getenv("BERTH_TEST_KEEP") && i < ELEMENTSOF(names); i++)
                (void)ops->remove(drv, names[i]);
        if (drv)
                ops->free(drv);
        for (size_t i = 0; i < ELEMENTSOF(c); i++) {
                snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", c[i], parent);
                (void)rmdir(p);
        }
        snprintf(p, sizeof(p), "/sys/fs/cgroup/%s", parent);
        (void)rmdir(p);
        while (waitpid(-1, NULL, WNOHANG) > 0) /* shims reparented to us */
                ;
        if (getenv("BERTH_TEST_KEEP"))
                fprintf(stderr, "keeping %s\n", tmp);
        else
                rm_rf_at(AT_FDCWD, tmp);
}

int main(int argc, char *argv[])
{
        const CgroupOps *cg;
        DriverExit e;
        char *out = NULL, cmdline[1024];
        int sr;

        if (argc < 2)
                SKIP("usage: test-container PATH-TO-BERTH-SHIM");
        if (geteuid() != 0)
                SKIP("needs root");
        if (access("/bin/busybox", X_OK) < 0)
                SKIP("needs busybox-static (/bin/busybox)");
        if (cgroup_detect("/sys/fs/cgroup", &cg) < 0)
                SKIP("no usable cgroup hierarchy");
        if (system("file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'") != 0 &&
            system("ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'") != 0)
                SKIP("/bin/busybox is not static (install busybox-static)");

        /* shims double-fork away from us; make them ours to reap */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        strcpy(tmp, "/tmp/berth-ctest-XXXXXX");
        if (!mkdtemp(tmp))
                SKIP("mkdtemp: %m");
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
        snprintf(state, sizeof(state), "%s/state", tmp);
        snprintf(parent, sizeof(parent), "berth-ctest-%d", (int)getpid());
        snprintf(cmdline, sizeof(cmdline),
                 "mkdir -p %s/bin %s/tmp && cp /bin/busybox %s/bin/busybox && chroot %s /bin/busybox --install -s /bin",
                 rootfs, rootfs, rootfs, rootfs);
        if (system(cmdline) != 0) {
                cleanup();
                SKIP("could not build the busybox rootfs");
        }

        DriverConfig dc = {
                .root_dir = state, .run_dir = tmp, .cgroup_root = "/sys/fs/cgroup",
                .cgroup_parent = parent, .shim_path = argv[1], .log_max_bytes = 1 << 20,
        };
        if (CHECK_RC(ops->new(&dc, &drv)) < 0) {
                cleanup();
                return 1;
        }

        /* 1: output on both streams and the exit code */
        char *c1[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
        if (CHECK_RC(run("t-echo", c1, 0, &e, &out, &sr)) >= 0) {
                CHECK(sr == 0);
                CHECK(e.exit_code == 3 && streq(e.reason, "Error") && !e.oom_killed);
                CHECK(strstr(out, "stdout:out\n") && strstr(out, "stderr:err\n"));
                fprintf(stderr, "echo log:\n%s", out);
                free(out);
        }

        /* 2: a missing command */
        char *c2[] = { "/bin/nope", NULL };
        if (CHECK_RC(run("t-nope", c2, 0, &e, &out, &sr)) >= 0) {
                CHECK(sr < 0);
                CHECK(e.exit_code == 127 && streq(e.reason, "StartFailed"));
                CHECK(streq(e.message, "exec /bin/nope: No such file or directory"));
                CHECK(strstr(out, "exec /bin/nope: No such file or directory") != NULL);
                free(out);
        }

        /* 3: OOM under a 16Mi limit */
        char *c3[] = { "sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done", NULL };
        if (CHECK_RC(run("t-oom", c3, 16 << 20, &e, &out, &sr)) >= 0) {
                CHECK(sr == 0);
                fprintf(stderr, "oom: code=%d reason=%s oom=%d\n", e.exit_code, e.reason, e.oom_killed);
                CHECK(e.oom_killed && e.exit_code == 137 && streq(e.reason, "OOMKilled"));
                free(out);
        }

        /* 4: the container's view */
        char *c4[] = { "sh", "-c",
                       "echo host=$(hostname); echo pid=$$; echo fds-begin; ls /proc/1/fd; echo fds-end;"
                       " echo ifs=$(ls /sys/class/net | tr '\\n' ' '); echo loflags=$(cat /sys/class/net/lo/flags);"
                       " echo env=$HOSTNAME:$PATH; true",
                       NULL };
        if (CHECK_RC(run("t-view", c4, 0, &e, &out, &sr)) >= 0) {
                fprintf(stderr, "view log:\n%s", out);
                CHECK(e.exit_code == 0 && streq(e.reason, "Completed"));
                CHECK(strstr(out, "stdout:host=t-view\n") != NULL);
                CHECK(strstr(out, "stdout:pid=1\n") != NULL);
                /* ls as a plain command: while it runs, the shell (pid 1) holds
                 * no pipe of its own (a pipeline or $(...) would, racily) */
                CHECK(strstr(out, "stdout:fds-begin\nstdout:0\nstdout:1\nstdout:2\nstdout:fds-end\n") != NULL);
                CHECK(strstr(out, "stdout:ifs=lo\n") != NULL);
                CHECK(strstr(out, "stdout:loflags=0x9\n") != NULL);
                CHECK(strstr(out, "stdout:env=t-view:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
                free(out);
        }

        cleanup();
        return test_result("test-container");
}
