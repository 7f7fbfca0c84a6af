/* SPDX-License-Identifier: Apache-2.0 */
/* GET /v1/node and GET /metrics: node facts and per-workload figures. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include "agent/cluster.h"
#include "agent/manager.h"
#include "lib/log.h"

static char node_name[256];
static char node_kernel[256];

static int cgroup_version(const char *root)
{
        struct statfs sfs;

        if (statfs(root, &sfs) < 0)
                return 1;
        return sfs.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
}

static void read_meminfo(uint64_t *total, uint64_t *avail)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];

        *total = *avail = 0;
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long v;

                if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
                        *total = (uint64_t)v * 1024;
                else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
                        *avail = (uint64_t)v * 1024;
        }
}

int manager_backend_node(void *backend, ApiNode *ret)
{
        Manager *m = backend;
        struct utsname u;
        long cpus;

        *ret = (ApiNode){};
        if (gethostname(node_name, sizeof(node_name) - 1) < 0)
                snprintf(node_name, sizeof(node_name), "localhost");
        if (uname(&u) >= 0)
                snprintf(node_kernel, sizeof(node_kernel), "%s", u.release);
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ret->name = node_name;
        ret->version = BERTH_VERSION;
        ret->kernel = node_kernel;
        ret->cgroup_version = cgroup_version(m->config->cgroup_root);
        ret->cpus = cpus > 0 ? (unsigned)cpus : 1;
        read_meminfo(&ret->memory_total_bytes, &ret->memory_available_bytes);
        ret->started_at = m->started_at;
        for (size_t i = 0; i < m->n_workloads; i++) {
                WorkloadState s = m->workloads[i]->pub.status.state;
                if (s >= 0 && s < _WORKLOAD_STATE_MAX)
                        ret->workloads[s]++;
        }
        ret->ready = m->ready;
        if (m->cluster)
                ret->cluster = cluster_state_to_string(cluster_get_state(m->cluster));
        manager_sched_node(m, ret); /* capacity, allocations and placements */
        return 0;
}

int manager_backend_metrics(void *backend, char **ret_text, size_t *ret_len)
{
        Manager *m = backend;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        ApiNode node;
        int r;

        r = manager_backend_node(m, &node);
        if (r < 0)
                return r;

#define P(...)                                                                                               \
        do {                                                                                                 \
                r = buf_printf(&buf, &len, &cap, __VA_ARGS__);                                               \
                if (r < 0)                                                                                   \
                        return r;                                                                            \
        } while (0)

        P("# HELP berth_build_info berth version.\n# TYPE berth_build_info gauge\n");
        P("berth_build_info{version=\"%s\"} 1\n", BERTH_VERSION);
        P("# HELP berth_node_cpus Online CPUs.\n# TYPE berth_node_cpus gauge\n");
        P("berth_node_cpus %u\n", node.cpus);
        P("# HELP berth_node_memory_total_bytes Total memory.\n# TYPE berth_node_memory_total_bytes gauge\n");
        P("berth_node_memory_total_bytes %" PRIu64 "\n", node.memory_total_bytes);
        P("# HELP berth_node_memory_available_bytes Available memory.\n"
          "# TYPE berth_node_memory_available_bytes gauge\n");
        P("berth_node_memory_available_bytes %" PRIu64 "\n", node.memory_available_bytes);
        P("# HELP berth_workloads Workloads by state.\n# TYPE berth_workloads gauge\n");
        for (int s = 0; s < _WORKLOAD_STATE_MAX; s++)
                P("berth_workloads{state=\"%s\"} %u\n", workload_state_to_string(s), node.workloads[s]);

        P("# HELP berth_workload_state Current state of each workload.\n# TYPE berth_workload_state gauge\n");
        for (size_t i = 0; i < m->n_workloads; i++) {
                const MWorkload *w = m->workloads[i];
                for (int s = 0; s < _WORKLOAD_STATE_MAX; s++)
                        P("berth_workload_state{workload=\"%s\",state=\"%s\"} %d\n", w->spec->name,
                          workload_state_to_string(s), w->pub.status.state == (WorkloadState)s);
        }

        static const struct {
                const char *name, *type, *help;
        } fam[] = {
                { "berth_workload_cpu_usage_seconds_total", "counter", "CPU time used." },
                { "berth_workload_memory_bytes", "gauge", "Memory in use." },
                { "berth_workload_memory_limit_bytes", "gauge", "Memory limit (absent when unlimited)." },
                { "berth_workload_pids", "gauge", "Processes and threads." },
                { "berth_workload_restarts_total", "counter", "Restarts by the restart policy." },
                { "berth_workload_oom_kills_total", "counter", "OOM kills in the workload's cgroup." },
                { "berth_vm_vcpu_seconds_total", "counter", "CPU time of a microVM's vCPU threads." },
                { "berth_vm_qemu_rss_bytes", "gauge", "Resident memory of a microVM's QEMU process." },
        };
        DriverStats *stats = calloc(m->n_workloads + 1, sizeof(*stats));
        bool *have = calloc(m->n_workloads + 1, sizeof(*have));
        if (!stats || !have) {
                free(stats);
                free(have);
                return -ENOMEM;
        }
        for (size_t i = 0; i < m->n_workloads; i++) {
                const MWorkload *w = m->workloads[i];
                have[i] = w->driver && (w->spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops)->stats(w->driver, w->spec->name, &stats[i]) >= 0;
                if (have[i] && stats[i].memory_limit_bytes == 0)
                        stats[i].memory_limit_bytes = w->spec->memory_bytes;
        }
        for (size_t f = 0; f < ELEMENTSOF(fam); f++) {
                r = buf_printf(&buf, &len, &cap, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                               fam[f].name, fam[f].type);
                for (size_t i = 0; r >= 0 && i < m->n_workloads; i++) {
                        const MWorkload *w = m->workloads[i];
                        const DriverStats *st = &stats[i];
                        const char *n = w->spec->name, *fn = fam[f].name;

                        switch (f) {
                        case 0:
                                if (have[i])
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %.6f\n", fn, n,
                                                       (double)st->cpu_usage_nsec / 1e9);
                                break;
                        case 1:
                                if (have[i])
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %" PRIu64 "\n", fn,
                                                       n, st->memory_bytes);
                                break;
                        case 2: {
                                uint64_t lim = have[i] ? st->memory_limit_bytes : w->spec->memory_bytes;
                                if (lim)
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %" PRIu64 "\n", fn,
                                                       n, lim);
                                break;
                        }
                        case 3:
                                if (have[i])
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %" PRIu64 "\n", fn,
                                                       n, st->pids_current);
                                break;
                        case 4:
                                r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %u\n", fn, n,
                                               w->pub.status.restart_count);
                                break;
                        case 5:
                                r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %" PRIu64 "\n", fn, n,
                                               have[i] ? st->oom_kill_count : (uint64_t)w->pub.status.oom_killed);
                                break;
                        case 6:
                                if (have[i] && st->vm)
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %.6f\n", fn, n,
                                                       (double)st->vm_vcpu_nsec / 1e9);
                                break;
                        case 7:
                                if (have[i] && st->vm)
                                        r = buf_printf(&buf, &len, &cap, "%s{workload=\"%s\"} %" PRIu64 "\n", fn,
                                                       n, st->vm_qemu_rss_bytes);
                                break;
                        }
                }
                if (r < 0)
                        break;
        }
        free(stats);
        free(have);
        if (r < 0)
                return r;
#undef P
        r = cluster_metrics_append(m->cluster, &buf, &len, &cap);
        if (r < 0)
                return r;
        *ret_len = len;
        *ret_text = TAKE_PTR(buf);
        return 0;
}
