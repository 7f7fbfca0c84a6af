/* SPDX-License-Identifier: Apache-2.0 */
/* The driver ops table. A driver turns a validated Spec into a running
 * workload and back. The container driver (drivers/container) and the
 * microVM driver (drivers/vm, QEMU microvm or libvirt) implement it; the
 * manager picks one by spec.isolation.
 *
 * Every run is owned by a per-workload supervisor process, berth-shim
 * (drivers/shim), not by berthd: the shim holds the workload's stdio, writes
 * the size-bounded log and records the exit status durably before it exits.
 * berthd only watches the shim through a pidfd, so it can exit, restart and
 * re-adopt runs without touching them.
 *
 * Per-workload directory, <root>/workloads/<name>/ (persistent, survives
 * berthd restarts; removed by ops->remove):
 *   config.json   what the shim needs (written by ops->start, read by the shim)
 *   state.json    written atomically by the shim once the workload runs:
 *                 shim pid + start time, workload pid + start time, boot id
 *   exit.json     written atomically (tmp, fsync, rename, fsync dir) by the
 *                 shim after the workload ended, before the shim exits
 *   log, log.1    the workload's output (lib/logfile.h)
 *
 * Drivers never include api/ or scheduler/ headers. All functions return
 * >= 0 on success, a negative errno on failure; BerthError (may be NULL)
 * carries the reason for a human. Nothing here blocks for long: start()
 * forks the shim and returns; the caller learns the outcome when notify_fd
 * becomes readable (start report or EOF) and calls start_finish(). */
#pragma once

#include <sys/types.h>

#include "lib/error.h"
#include "lib/spec.h"
#include "lib/util.h"

typedef struct DriverConfig {
        const char *root_dir;       /* berth state root, e.g. /var/lib/berth */
        const char *run_dir;        /* runtime dir, e.g. /run/berth */
        const char *cgroup_root;    /* "/sys/fs/cgroup"; tests may point it at a fake tree */
        const char *cgroup_parent;  /* relative parent for workload cgroups, e.g. "berth" */
        const char *shim_path;      /* absolute path of the berth-shim binary */
        uint64_t log_max_bytes;     /* per-workload log cap (log + log.1) */
        struct Net *net;            /* bridge networking (drivers/net/net.h), owned by the agent;
                                     * NULL when the bridge could not be set up */
        const char *vm_guest_dir;   /* vm driver: guest kernel tree; NULL = /var/lib/berth/guest */
        const char *vm_accelerator; /* vm driver: "auto", "kvm", "tcg"; NULL = auto */
        const char *vm_user;        /* vm driver: user QEMU runs as; NULL = nobody if it exists */
        const char *vm_backend;     /* vm driver: default of spec.vm.backend, "microvm"|"libvirt"; NULL = microvm */
        const char *vm_libvirt_uri; /* vm driver, libvirt backend: NULL = qemu:///embed under <root>/lv per VM */
} DriverConfig;

/* One run of a workload, as persisted by the agent for re-adoption. */
typedef struct DriverRun {
        pid_t shim_pid;
        uint64_t shim_start_time;   /* /proc/<pid>/stat field 22, guards against pid reuse */
        pid_t pid;                  /* workload init (container init, or QEMU) */
        uint64_t pid_start_time;
        usec_t started_at;          /* CLOCK_REALTIME */
        int shim_pidfd;             /* owned by the caller; -EBADF when not running.
                                     * Readable (EPOLLIN) once the shim has exited. */
        const char *vm_accelerator; /* VM driver: static "kvm"/"tcg"; NULL otherwise */
        const char *vm_backend;     /* VM driver: static "microvm"/"libvirt"; NULL otherwise */
} DriverRun;

typedef enum DriverAdoptResult {
        DRIVER_ADOPT_RUNNING,       /* run is alive; DriverRun filled, shim_pidfd open */
        DRIVER_ADOPT_EXITED,        /* exit.json present: call read_exit() */
        DRIVER_ADOPT_UNKNOWN,       /* no live shim and no exit record (e.g. host reboot) */
        DRIVER_ADOPT_NEVER_STARTED, /* no state.json: nothing ran */
        _DRIVER_ADOPT_RESULT_MAX,
        _DRIVER_ADOPT_RESULT_INVALID = -EINVAL,
} DriverAdoptResult;

typedef struct DriverExit {
        int exit_code;              /* 0..255; 128+N when killed by signal N */
        int term_signal;            /* 0 unless killed by a signal */
        bool oom_killed;
        usec_t finished_at;         /* CLOCK_REALTIME */
        char reason[32];            /* "Completed", "Error", "Signaled", "OOMKilled", "StartFailed" */
        char message[512];          /* e.g. "exec /bin/nope: No such file or directory" */
} DriverExit;

typedef struct DriverStats {
        uint64_t cpu_usage_nsec;
        uint64_t memory_bytes;      /* current usage */
        uint64_t memory_limit_bytes;/* 0 = unlimited */
        uint64_t pids_current;
        uint64_t oom_kill_count;
        /* VM driver (vm set): CPU time of QEMU's vCPU threads, QEMU's RSS. */
        bool vm;
        uint64_t vm_vcpu_nsec;
        uint64_t vm_qemu_rss_bytes;
} DriverStats;

/* What a finished snapshot holds (snapshot_poll). */
typedef struct DriverSnapshot {
        char layer[4096];       /* <root>/vm/layers/<n>.qcow2 */
        uint64_t memory_bytes;  /* size of the migration stream */
        uint64_t disk_bytes;    /* allocated bytes of the layer */
        bool was_running;
} DriverSnapshot;

typedef struct Driver Driver;

typedef struct DriverOps {
        const char *name;           /* "container" */
        Isolation isolation;

        int (*new)(const DriverConfig *config, Driver **ret);
        Driver *(*free)(Driver *d);

        /* Creates the per-workload resources (directory, cgroup with limits).
         * Idempotent: safe to call again for an existing workload. */
        int (*prepare)(Driver *d, const Spec *spec, BerthError *err);

        /* Writes config.json and spawns the shim detached (new session, not a
         * child of berthd once started). Returns a pipe read end in
         * *ret_notify_fd (O_CLOEXEC|O_NONBLOCK); the shim writes its start
         * report there and closes it. Returns quickly. With ret_gate_fd, the
         * start is gated (drivers/start-gate.h): the shim sets the
         * run up but lets nothing of it run before the caller says go through
         * *ret_gate_fd (start_gate_go), or cancels it (start_gate_cancel). */
        int (*start)(Driver *d, const Spec *spec, int *ret_notify_fd, int *ret_gate_fd, BerthError *err);

        /* Called once notify_fd is readable or hung up. On success fills *ret
         * (with an open shim_pidfd) and returns 0. If the workload failed to
         * start, returns a negative errno with the reason in err; the shim has
         * then written exit.json (e.g. exit code 127 for a missing command).
         * A run that already ended and whose shim was already reaped returns 0
         * with shim_pidfd == -EBADF: exit.json holds the result (read_exit()). */
        int (*start_finish)(Driver *d, const Spec *spec, int notify_fd, DriverRun *ret, BerthError *err);

        /* Optional. Gets ready for the next start ahead of it, if this driver
         * has started anything yet (the container driver: one pooled
         * berth-shim, drivers/container/shim-pool.h). The manager calls it off
         * every start's path, when the event loop has nothing else to do. */
        void (*warm)(Driver *d);

        /* After berthd's restart: looks at state.json/exit.json and the live
         * processes (pid + start time + boot id) and says what became of the run. */
        int (*adopt)(Driver *d, const char *name, DriverRun *ret, DriverAdoptResult *ret_result);

        /* Sends signo to the workload init (pidfd_send_signal, identity checked). */
        int (*kill)(Driver *d, const char *name, const DriverRun *run, int signo);

        /* Reads exit.json after the shim exited. -ENOENT if there is none.
         * Also lets go of what only the run used outside the workload
         * directory (the VM driver: a libvirt embedded root). */
        int (*read_exit)(Driver *d, const char *name, DriverExit *ret);

        /* Resource figures from the workload's cgroup. */
        int (*stats)(Driver *d, const char *name, DriverStats *ret);

        /* Forgets the previous run (state.json, exit.json) before a restart,
         * keeping the log. */
        int (*reset)(Driver *d, const char *name);

        /* Removes everything prepare/start made: cgroups, files, the log.
         * Only called when no process of the workload is left. */
        int (*remove)(Driver *d, const char *name);

        /* Issue 3 part B (additive; NULL in a driver that lacks them). */
        /* Re-applies spec's resources to the live workload (cgroup limits). */
        int (*update)(Driver *d, const Spec *spec, BerthError *err);
        /* Freezes / thaws every process of the workload (cgroup freezer). */
        int (*pause)(Driver *d, const char *name, BerthError *err);
        int (*resume)(Driver *d, const char *name, BerthError *err);
        /* Starts CMD inside the running workload (all its namespaces and its
         * cgroup) as a child of the caller, stdio on the given fds (tty_fd
         * >= 0: a pty replica for 0-2 and the controlling terminal).
         * *ret_pidfd: the helper (SIGKILL it to cancel). *ret_status_fd:
         * read end of a pipe on which the helper writes the command's exit
         * code as one native int (128+N for signal N) before it exits; EOF
         * without it means the exec failed (berthd's SIGCHLD reaper takes
         * the helper's own status, so this pipe is the only result). */
        int (*exec)(Driver *d, const char *name, const DriverRun *run, char **argv, int stdin_fd, int stdout_fd,
                    int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd, BerthError *err);

        /* VM snapshots (drivers/vm/vm-snapshot.c, docs/VM.md "Snapshots";
         * additive, NULL in the container driver). */
        /* Asks the running VM's shim to write a snapshot into tmp_dir (an
         * empty directory on berth's root filesystem); returns at once. */
        int (*snapshot_begin)(Driver *d, const char *name, const char *tmp_dir, BerthError *err);
        /* -EAGAIN while the shim works; 0 when the snapshot in tmp_dir is
         * complete and on disk (*ret filled); another error with the reason. */
        int (*snapshot_poll)(Driver *d, const char *tmp_dir, DriverSnapshot *ret, BerthError *err);
        /* The next prepare() of `name` makes it a restore: state_path (the
         * migration stream) and layer (the frozen disk layer) of a snapshot.
         * NULLs disarm. Only berth's own snapshot files, never user input. */
        int (*restore_arm)(Driver *d, const char *name, const char *state_path, const char *layer);
        /* Removes disk layers that no snapshot directory and no workload
         * disk reaches (called after a snapshot is removed, and at startup). */
        int (*snapshot_gc)(Driver *d);
} DriverOps;

extern const DriverOps container_driver_ops;
extern const DriverOps vm_driver_ops;

/* "<root>/workloads/<name>", the directory that holds the log files. */
int driver_workload_dir(const char *root_dir, const char *name, char **ret);
/* The length of the longest path driver_workload_dir can return. */
size_t driver_workload_dir_max(const char *root_dir);
