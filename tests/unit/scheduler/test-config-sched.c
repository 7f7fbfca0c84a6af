/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler: section of berthd.yaml (agent/config-sched.c). */
#include <string.h>

#include "agent/config.h"
#include "tests/unit/lib/tap.h"

static int load(Config *c, const char *yaml, BerthError *err)
{
        *err = (BerthError){};
        if (config_init(c) < 0)
                return -ENOMEM;
        int r = config_parse(c, yaml, strlen(yaml), err);
        if (r >= 0)
                r = config_finish(c, err);
        return r;
}

int main(void)
{
        Config c;
        BerthError err;

        tap_ok(load(&c, "root: /var/lib/berth\n", &err) == 0 && c.sched.reserved_memory_bytes[1] == (64u << 20) &&
               c.sched.overcommit[1][1] == 1000 && c.sched.siblings == 1 && c.sched.psi_high == 0,
               "defaults: berth reserves 64Mi, ratios 1.0, prefer-whole-cores, eviction off");
        config_done(&c);

        tap_ok(load(&c,
                    "scheduler:\n"
                    "  reserved:\n"
                    "    system: {cpu: 500m, memory: 1Gi}\n"
                    "    berth: {cpu: 100m, memory: 128Mi}\n"
                    "  overcommit:\n"
                    "    cpu: {burstable: \"4\", bestEffort: \"8\"}\n"
                    "    memory: {burstable: \"1.5\"}\n"
                    "  vmOverhead: {memory: 96Mi, cpu: 250m}\n"
                    "  cpuManager: {siblings: require-whole-cores, sharedPoolMinCpus: \"2\"}\n"
                    "  eviction: {psiHigh: \"20%\", availableLow: 256Mi, interval: 500ms}\n",
                    &err) == 0,
               "a full scheduler section parses (%s)", err.message);
        tap_ok(c.sched.reserved_cpu_millis[0] == 500 && c.sched.reserved_memory_bytes[0] == (1u << 30) &&
               c.sched.reserved_cpu_millis[1] == 100 && c.sched.reserved_memory_bytes[1] == (128u << 20),
               "reservations");
        tap_ok(c.sched.overcommit[0][1] == 4000 && c.sched.overcommit[0][2] == 8000 && c.sched.overcommit[1][1] == 1500 &&
               c.sched.overcommit[1][0] == 1000, "overcommit per resource and QoS class");
        tap_ok(c.sched.vm_overhead_memory_bytes == (96u << 20) && c.sched.vm_overhead_cpu_millis == 250, "VM overhead");
        tap_ok(c.sched.siblings == 2 && c.sched.pool_min_cpus == 2, "cpu manager");
        tap_ok(c.sched.psi_high == 2000 && c.sched.psi_low == 1000 && c.sched.available_low == (256u << 20) &&
               c.sched.available_high == (512u << 20) && c.sched.evict_interval_usec == 500 * USEC_PER_MSEC,
               "eviction thresholds; the low marks default to half / double (hysteresis)");
        config_done(&c);

        tap_ok(load(&c, "scheduler:\n  overcommit:\n    memory: {guaranteed: \"0.5\"}\n", &err) < 0 &&
               streq(err.field, "scheduler.overcommit.memory.guaranteed"), "ratio below 1 names the key (%s)", err.field);
        config_done(&c);
        tap_ok(load(&c, "scheduler:\n  cpuManager: {siblings: sometimes}\n", &err) < 0 &&
               streq(err.field, "scheduler.cpuManager.siblings"), "unknown sibling policy names the key");
        config_done(&c);
        tap_ok(load(&c, "scheduler:\n  eviction: {psiHigh: \"10%\", psiLow: \"20%\"}\n", &err) < 0 &&
               streq(err.field, "scheduler.eviction.psiLow"), "psiLow above psiHigh refused");
        config_done(&c);
        tap_ok(load(&c, "scheduler:\n  reserve: {}\n", &err) < 0 && streq(err.field, "scheduler.reserve"),
               "unknown key refused");
        config_done(&c);
        return tap_finish();
}
