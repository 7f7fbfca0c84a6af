/* SPDX-License-Identifier: Apache-2.0 */
/* Parses the scheduler: keys (agent/config-sched.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config-sched.h"
#include "agent/config.h"
#include "lib/error.h"
#include "lib/spec.h"

static const char *const paths[_CONFIG_SCHED_KEY_MAX] = {
        [CONFIG_SCHED_SYSTEM_CPU] = "scheduler.reserved.system.cpu",
        [CONFIG_SCHED_SYSTEM_MEMORY] = "scheduler.reserved.system.memory",
        [CONFIG_SCHED_BERTH_CPU] = "scheduler.reserved.berth.cpu",
        [CONFIG_SCHED_BERTH_MEMORY] = "scheduler.reserved.berth.memory",
        [CONFIG_SCHED_OC_CPU_GUARANTEED] = "scheduler.overcommit.cpu.guaranteed",
        [CONFIG_SCHED_OC_CPU_BURSTABLE] = "scheduler.overcommit.cpu.burstable",
        [CONFIG_SCHED_OC_CPU_BEST_EFFORT] = "scheduler.overcommit.cpu.bestEffort",
        [CONFIG_SCHED_OC_MEMORY_GUARANTEED] = "scheduler.overcommit.memory.guaranteed",
        [CONFIG_SCHED_OC_MEMORY_BURSTABLE] = "scheduler.overcommit.memory.burstable",
        [CONFIG_SCHED_OC_MEMORY_BEST_EFFORT] = "scheduler.overcommit.memory.bestEffort",
        [CONFIG_SCHED_VM_MEMORY] = "scheduler.vmOverhead.memory",
        [CONFIG_SCHED_VM_CPU] = "scheduler.vmOverhead.cpu",
        [CONFIG_SCHED_SIBLINGS] = "scheduler.cpuManager.siblings",
        [CONFIG_SCHED_POOL_MIN] = "scheduler.cpuManager.sharedPoolMinCpus",
        [CONFIG_SCHED_PSI_HIGH] = "scheduler.eviction.psiHigh",
        [CONFIG_SCHED_PSI_LOW] = "scheduler.eviction.psiLow",
        [CONFIG_SCHED_AVAILABLE_LOW] = "scheduler.eviction.availableLow",
        [CONFIG_SCHED_AVAILABLE_HIGH] = "scheduler.eviction.availableHigh",
        [CONFIG_SCHED_EVICT_INTERVAL] = "scheduler.eviction.interval",
        [CONFIG_SCHED_TOPOLOGY_ROOT] = "scheduler.topologyRoot",
};

const char *config_sched_key_path(ConfigSchedKey k)
{
        return k < _CONFIG_SCHED_KEY_MAX ? paths[k] : NULL;
}

/* "1.5" -> 1500, "2" -> 2000; 1.0 .. 100.0 with at most 3 decimals. */
static int parse_ratio(const char *s, unsigned *ret)
{
        uint64_t m;

        if (parse_cpu_quantity(s, &m) < 0 || strchr(s, 'm')) /* same grammar as "0.25" CPUs */
                return -EINVAL;
        if (m < 1000 || m > 100000)
                return -ERANGE;
        *ret = (unsigned)m;
        return 0;
}

/* "10%", "10.5%", "10" -> x100 */
static int parse_percent(const char *s, unsigned *ret)
{
        char buf[32];
        size_t l = strlen(s);
        uint64_t m;

        if (l == 0 || l >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, l + 1);
        if (buf[l - 1] == '%')
                buf[l - 1] = 0;
        if (parse_cpu_quantity(buf, &m) < 0 || strchr(buf, 'm') || m > 100000 || m % 10)
                return -EINVAL;
        *ret = (unsigned)(m / 10);
        return 0;
}

int config_sched_parse(char *const *str, ConfigSched *ret, BerthError *err)
{
        ConfigSched c = {
                .reserved_cpu_millis = { 0, 100 },
                .reserved_memory_bytes = { 0, UINT64_C(64) << 20 },
                .vm_overhead_memory_bytes = UINT64_C(64) << 20,
                .vm_overhead_cpu_millis = 100,
                .siblings = 1,
                .pool_min_cpus = 1,
                .evict_interval_usec = 2 * USEC_PER_SEC,
                .topology_root = "/",
        };
        for (int r = 0; r < 2; r++)
                for (int q = 0; q < 3; q++)
                        c.overcommit[r][q] = 1000;

        for (int k = 0; k < _CONFIG_SCHED_KEY_MAX; k++) {
                const char *v = str[k];
                int r = 0;

                if (!v)
                        continue;
                switch ((ConfigSchedKey)k) {
                case CONFIG_SCHED_SYSTEM_CPU:
                case CONFIG_SCHED_BERTH_CPU:
                        r = parse_cpu_quantity(v, &c.reserved_cpu_millis[k == CONFIG_SCHED_BERTH_CPU]);
                        break;
                case CONFIG_SCHED_SYSTEM_MEMORY:
                case CONFIG_SCHED_BERTH_MEMORY:
                        r = config_parse_size(v, &c.reserved_memory_bytes[k == CONFIG_SCHED_BERTH_MEMORY]);
                        break;
                case CONFIG_SCHED_OC_CPU_GUARANTEED ... CONFIG_SCHED_OC_MEMORY_BEST_EFFORT: {
                        int i = k - CONFIG_SCHED_OC_CPU_GUARANTEED;
                        r = parse_ratio(v, &c.overcommit[i / 3][i % 3]);
                        if (r < 0)
                                return berth_error_set(err, -EINVAL, paths[k],
                                                       "\"%s\" is not a ratio from 1.0 to 100", v);
                        break;
                }
                case CONFIG_SCHED_VM_MEMORY:
                        r = config_parse_size(v, &c.vm_overhead_memory_bytes);
                        break;
                case CONFIG_SCHED_VM_CPU:
                        r = parse_cpu_quantity(v, &c.vm_overhead_cpu_millis);
                        break;
                case CONFIG_SCHED_SIBLINGS:
                        if (strcmp(v, "none") == 0)
                                c.siblings = 0;
                        else if (strcmp(v, "prefer-whole-cores") == 0)
                                c.siblings = 1;
                        else if (strcmp(v, "require-whole-cores") == 0)
                                c.siblings = 2;
                        else
                                return berth_error_set(err, -EINVAL, paths[k],
                                                       "\"%s\" is not none, prefer-whole-cores or require-whole-cores", v);
                        break;
                case CONFIG_SCHED_POOL_MIN: {
                        char *end;
                        unsigned long n = strtoul(v, &end, 10);
                        if (*end || end == v || n < 1 || n > 1024)
                                return berth_error_set(err, -EINVAL, paths[k], "must be a number of CPUs from 1 to 1024");
                        c.pool_min_cpus = (unsigned)n;
                        break;
                }
                case CONFIG_SCHED_PSI_HIGH:
                case CONFIG_SCHED_PSI_LOW:
                        r = parse_percent(v, k == CONFIG_SCHED_PSI_HIGH ? &c.psi_high : &c.psi_low);
                        if (r < 0)
                                return berth_error_set(err, -EINVAL, paths[k], "\"%s\" is not a percentage (\"20%%\")", v);
                        break;
                case CONFIG_SCHED_AVAILABLE_LOW:
                        r = config_parse_size(v, &c.available_low);
                        break;
                case CONFIG_SCHED_AVAILABLE_HIGH:
                        r = config_parse_size(v, &c.available_high);
                        break;
                case CONFIG_SCHED_EVICT_INTERVAL:
                        r = config_parse_duration(v, &c.evict_interval_usec);
                        if (r >= 0 && (c.evict_interval_usec < 100 * USEC_PER_MSEC || c.evict_interval_usec > 600 * USEC_PER_SEC))
                                return berth_error_set(err, -EINVAL, paths[k], "must be between 100ms and 10m");
                        break;
                case CONFIG_SCHED_TOPOLOGY_ROOT:
                        if (v[0] != '/')
                                return berth_error_set(err, -EINVAL, paths[k], "must be an absolute path");
                        c.topology_root = v;
                        break;
                default:
                        break;
                }
                if (r < 0)
                        return berth_error_set(err, -EINVAL, paths[k], "\"%s\" is not a valid value", v);
        }
        if (c.psi_high && !str[CONFIG_SCHED_PSI_LOW])
                c.psi_low = c.psi_high / 2;
        if (c.psi_low > c.psi_high)
                return berth_error_set(err, -EINVAL, paths[CONFIG_SCHED_PSI_LOW], "must not exceed eviction.psiHigh");
        if (c.available_low && !str[CONFIG_SCHED_AVAILABLE_HIGH])
                c.available_high = c.available_low * 2;
        if (c.available_high < c.available_low)
                return berth_error_set(err, -EINVAL, paths[CONFIG_SCHED_AVAILABLE_HIGH],
                                       "must not be below eviction.availableLow");
        *ret = c;
        return 0;
}
