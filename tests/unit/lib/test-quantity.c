/* SPDX-License-Identifier: Apache-2.0 */
/* Quantity parsing and formatting: suffixes, fractions, overflow at 2^64. */
#include <inttypes.h>

#include "lib/spec.h"
#include "tests/unit/lib/tap.h"

static const struct {
        const char *s;
        int r;
        uint64_t v;
} memory[] = {
    {"0", 0, 0},
    {"1", 0, 1},
    {"007", 0, 7},
    {"1Ki", 0, 1024},
    {"1Mi", 0, UINT64_C(1) << 20},
    {"128Mi", 0, UINT64_C(128) << 20},
    {"1.5Gi", 0, UINT64_C(3) << 29},
    {"1.50Ki", 0, 1536},
    {"0.5Ki", 0, 512},
    {"1k", 0, 1000},
    {"1.5k", 0, 1500},
    {"0.001k", 0, 1},
    {"2M", 0, 2000000},
    {"1G", 0, 1000000000},
    {"1T", 0, UINT64_C(1000000000000)},
    {"1P", 0, UINT64_C(1000000000000000)},
    {"1E", 0, UINT64_C(1000000000000000000)},
    {"18E", 0, UINT64_C(18000000000000000000)},
    {"15Ei", 0, UINT64_C(15) << 60},
    {"1.0000000000000000000000", 0, 1},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -ERANGE, 0},
    {"99999999999999999999999", -ERANGE, 0},
    {"16Ei", -ERANGE, 0},
    {"19E", -ERANGE, 0},
    {"9999999999Ti", -ERANGE, 0},
    {"15.9999999Ei", -EDOM, 0},
    {"0.5", -EDOM, 0},
    {"1.5", -EDOM, 0},
    {"0.0001k", -EDOM, 0},
    {"0.1Ki", -EDOM, 0},
    {"1.0000000000000000001", -EDOM, 0},
    {"", -EINVAL, 0},
    {" 1", -EINVAL, 0},
    {"1 ", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"+1", -EINVAL, 0},
    {"1.", -EINVAL, 0},
    {".5", -EINVAL, 0},
    {"1e3", -EINVAL, 0},
    {"12Xi", -EINVAL, 0},
    {"1K", -EINVAL, 0},
    {"1ki", -EINVAL, 0},
    {"1m", -EINVAL, 0},
    {"1Gib", -EINVAL, 0},
    {"Gi", -EINVAL, 0},
    {"0x10", -EINVAL, 0},
};

static const struct {
        const char *s;
        int r;
        uint64_t v;
} cpu[] = {
    {"500m", 0, 500},
    {"2", 0, 2000},
    {"0.25", 0, 250},
    {"0.001", 0, 1},
    {"1.5", 0, 1500},
    {"0", 0, 0},
    {"0m", 0, 0},
    {"2.000000", 0, 2000},
    {"18446744073709551615m", 0, UINT64_MAX},
    {"18446744073709551", 0, UINT64_C(18446744073709551000)},
    {"18446744073709552", -ERANGE, 0},
    {"18446744073709551616m", -ERANGE, 0},
    {"0.0001", -EDOM, 0},
    {"1.2345", -EDOM, 0},
    {"1.5m", -EDOM, 0},
    {"m", -EINVAL, 0},
    {"", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"1 m", -EINVAL, 0},
    {"1M", -EINVAL, 0},
    {"1k", -EINVAL, 0},
    {"1e3", -EINVAL, 0},
};

static const struct {
        uint64_t v;
        const char *s;
} memory_fmt[] = {
    {0, "0"},
    {1, "1"},
    {100, "100"},
    {1024, "1Ki"},
    {1536, "1536"},
    {UINT64_C(1536) << 10, "1536Ki"},
    {UINT64_C(128) << 20, "128Mi"},
    {UINT64_C(3) << 29, "1536Mi"},
    {UINT64_C(1) << 50, "1Pi"},
    {UINT64_C(15) << 60, "15Ei"},
    {UINT64_MAX, "18446744073709551615"},
};

static const struct {
        uint64_t v;
        const char *s;
} cpu_fmt[] = {
    {0, "0"}, {1, "1m"}, {500, "500m"}, {1000, "1"}, {2500, "2500m"}, {4096000, "4096"},
};

int main(void)
{
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(memory); i++) {
                uint64_t v = 12345;
                int r = parse_memory_quantity(memory[i].s, &v);
                tap_ok(r == memory[i].r && (r < 0 ? v == 12345 : v == memory[i].v),
                       "memory \"%s\" -> %d %" PRIu64, memory[i].s, r, v);
        }
        for (size_t i = 0; i < ELEMENTSOF(cpu); i++) {
                uint64_t v = 12345;
                int r = parse_cpu_quantity(cpu[i].s, &v);
                tap_ok(r == cpu[i].r && (r < 0 ? v == 12345 : v == cpu[i].v), "cpu \"%s\" -> %d %" PRIu64,
                       cpu[i].s, r, v);
        }
        for (size_t i = 0; i < ELEMENTSOF(memory_fmt); i++)
                tap_ok(streq(format_memory_quantity(buf, sizeof(buf), memory_fmt[i].v), memory_fmt[i].s),
                       "format memory %" PRIu64 " -> %s", memory_fmt[i].v, buf);
        for (size_t i = 0; i < ELEMENTSOF(cpu_fmt); i++)
                tap_ok(streq(format_cpu_quantity(buf, sizeof(buf), cpu_fmt[i].v), cpu_fmt[i].s),
                       "format cpu %" PRIu64 " -> %s", cpu_fmt[i].v, buf);
        tap_ok(parse_memory_quantity(NULL, &(uint64_t){0}) == -EINVAL &&
                   parse_cpu_quantity(NULL, &(uint64_t){0}) == -EINVAL,
               "NULL input");

        /* parse(format(x)) == x over a spread of values, incl. every power of two. */
        {
                unsigned bad = 0;
                uint64_t x = 0x9e3779b97f4a7c15;
                for (unsigned i = 0; i < 20000; i++) {
                        uint64_t v, back = 0;
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        v = i < 64 ? UINT64_C(1) << i : i < 128 ? x >> (i - 64) : x;
                        if (parse_memory_quantity(format_memory_quantity(buf, sizeof(buf), v), &back) < 0 ||
                            back != v)
                                bad++;
                        if (parse_cpu_quantity(format_cpu_quantity(buf, sizeof(buf), v), &back) < 0 ||
                            back != v)
                                bad++;
                }
                tap_ok(bad == 0, "format/parse round-trip (%u mismatches)", bad);
        }
        return tap_finish();
}
