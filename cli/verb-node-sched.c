/* SPDX-License-Identifier: Apache-2.0 */
/* `berthctl node`: the scheduler's part (docs/SCHEDULER.md): capacity,
 * allocatable, allocated and free per resource, the shared pool, and where
 * each workload sits (cpuset, NUMA node, QoS class). */
#include <inttypes.h>
#include <stdio.h>

#include "cli/berthctl.h"
#include "lib/spec.h"

static uint64_t u64(const json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

void node_print_scheduler(const json_t *node)
{
        const json_t *res = json_object_get(node, "resources"), *pl = json_object_get(node, "placements"), *v;
        const json_t *cpu = json_object_get(res, "cpu"), *mem = json_object_get(res, "memory");
        char a[32], b[32], c[32], d[32];
        size_t i;

        if (!json_is_object(res))
                return;
        printf("Scheduler:  %-8s %12s %12s %12s %12s\n", "", "CAPACITY", "ALLOCATABLE", "ALLOCATED", "FREE");
        printf("            %-8s %12s %12s %12s %12s\n", "cpu", format_cpu_quantity(a, sizeof(a), u64(cpu, "capacity")),
               format_cpu_quantity(b, sizeof(b), u64(cpu, "allocatable")),
               format_cpu_quantity(c, sizeof(c), u64(cpu, "allocated")), format_cpu_quantity(d, sizeof(d), u64(cpu, "free")));
        printf("            %-8s %12s %12s %12s %12s\n", "memory",
               format_memory_quantity(a, sizeof(a), u64(mem, "capacity")),
               format_memory_quantity(b, sizeof(b), u64(mem, "allocatable")),
               format_memory_quantity(c, sizeof(c), u64(mem, "allocated")),
               format_memory_quantity(d, sizeof(d), u64(mem, "free")));
        printf("Shared CPUs: %s%s\n", json_string_value(json_object_get(node, "sharedPool")) ?: "",
               json_is_true(json_object_get(node, "underPressure")) ? "   (memory pressure: evicting)" : "");
        if (json_array_size(pl) == 0)
                return;
        printf("Placements:\n  %-24s %-12s %-16s %-5s %9s %10s %10s\n", "WORKLOAD", "QOS", "CPUSET", "NUMA", "PRIORITY",
               "CPU", "MEMORY");
        json_array_foreach(pl, i, v) {
                const json_t *ch = json_object_get(v, "charged"), *numa = json_object_get(v, "numaNode");
                char n[16] = "-";
                if (json_is_integer(numa))
                        snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT, json_integer_value(numa));
                printf("  %-24s %-12s %-16s %-5s %9" JSON_INTEGER_FORMAT " %10s %10s\n",
                       json_string_value(json_object_get(v, "workload")) ?: "",
                       json_string_value(json_object_get(v, "qos")) ?: "",
                       json_string_value(json_object_get(v, "cpuset")) ?: "", n,
                       json_integer_value(json_object_get(v, "priority")),
                       format_cpu_quantity(a, sizeof(a), u64(ch, "cpuMillis")),
                       format_memory_quantity(b, sizeof(b), u64(ch, "memoryBytes")));
                if (json_is_string(json_object_get(v, "vcpuPins")))
                        printf("  %-24s vCPU=CPU %s\n", "", json_string_value(json_object_get(v, "vcpuPins")));
        }
}
