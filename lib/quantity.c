/* SPDX-License-Identifier: Apache-2.0 */
/* Quantities: memory sizes and CPU amounts, parsed exactly (no floating
 * point) so that "1.5Gi" is whole bytes and "0.1" is exactly 100m. */
#include <inttypes.h>

#include "lib/spec.h"

/* Fraction digits we keep exactly; more (after trailing zeros are dropped)
 * can never be a whole number of bytes for any suffix we know. */
#define FRACTION_DIGITS_MAX 18

typedef struct Decimal {
        uint64_t integer;  /* digits before the point */
        uint64_t fraction; /* digits after the point, as an integer */
        unsigned digits;   /* number of significant fraction digits */
        const char *end;   /* first character after the number */
} Decimal;

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Unsigned decimal: DIGITS [ '.' DIGITS ]. No sign, no exponent, no blanks. */
static int decimal_parse(const char *s, Decimal *ret)
{
        Decimal d = {};
        const char *p = s;

        if (!is_digit(*p))
                return -EINVAL;
        for (; is_digit(*p); p++) {
                unsigned v = (unsigned)(*p - '0');
                if (d.integer > (UINT64_MAX - v) / 10)
                        return -ERANGE;
                d.integer = d.integer * 10 + v;
        }
        if (*p == '.') {
                const char *f = ++p, *last;

                if (!is_digit(*p))
                        return -EINVAL;
                while (is_digit(*p))
                        p++;
                /* Ignore trailing zeros: "1.50" is "1.5". */
                last = p;
                while (last > f && last[-1] == '0')
                        last--;
                if (last - f > FRACTION_DIGITS_MAX)
                        return -EDOM;
                for (const char *q = f; q < last; q++) {
                        d.fraction = d.fraction * 10 + (uint64_t)(*q - '0');
                        d.digits++;
                }
        }
        d.end = p;
        *ret = d;
        return 0;
}

static uint64_t pow10_u64(unsigned n)
{
        uint64_t r = 1;
        while (n-- > 0)
                r *= 10;
        return r;
}

static const struct {
        const char *suffix;
        uint64_t factor;
} memory_suffixes[] = {
    {"Ki", UINT64_C(1) << 10},      {"Mi", UINT64_C(1) << 20},         {"Gi", UINT64_C(1) << 30},
    {"Ti", UINT64_C(1) << 40},      {"Pi", UINT64_C(1) << 50},         {"Ei", UINT64_C(1) << 60},
    {"k", UINT64_C(1000)},          {"M", UINT64_C(1000000)},          {"G", UINT64_C(1000000000)},
    {"T", UINT64_C(1000000000000)}, {"P", UINT64_C(1000000000000000)}, {"E", UINT64_C(1000000000000000000)},
};

/* -EINVAL: not a size; -ERANGE: too big for 64 bits; -EDOM: not a whole
 * number of bytes. */
int parse_memory_quantity(const char *s, uint64_t *ret)
{
        uint64_t factor = 1;
        unsigned __int128 total, frac;
        Decimal d;
        int r;

        if (!s)
                return -EINVAL;
        r = decimal_parse(s, &d);
        if (r < 0)
                return r;
        if (*d.end) {
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(memory_suffixes); i++)
                        if (streq(d.end, memory_suffixes[i].suffix)) {
                                factor = memory_suffixes[i].factor;
                                found = true;
                                break;
                        }
                if (!found)
                        return -EINVAL;
        }

        total = (unsigned __int128)d.integer * factor;
        if (d.digits > 0) {
                uint64_t den = pow10_u64(d.digits);

                /* fraction < 10^18 and factor <= 2^60: fits in 128 bits. */
                frac = (unsigned __int128)d.fraction * factor;
                if (frac % den != 0)
                        return -EDOM;
                total += frac / den;
        }
        if (total > UINT64_MAX)
                return -ERANGE;
        *ret = (uint64_t)total;
        return 0;
}

/* -EINVAL: not a CPU amount; -ERANGE: too big; -EDOM: finer than 1m. */
int parse_cpu_quantity(const char *s, uint64_t *ret_millis)
{
        unsigned __int128 total;
        Decimal d;
        int r;

        if (!s)
                return -EINVAL;
        r = decimal_parse(s, &d);
        if (r < 0)
                return r;
        if (streq(d.end, "m")) {
                if (d.digits > 0)
                        return -EDOM; /* "1.5m": finer than a millicore */
                *ret_millis = d.integer;
                return 0;
        }
        if (*d.end)
                return -EINVAL;
        if (d.digits > 3)
                return -EDOM;
        total = (unsigned __int128)d.integer * 1000 + d.fraction * pow10_u64(3 - d.digits);
        if (total > UINT64_MAX)
                return -ERANGE;
        *ret_millis = (uint64_t)total;
        return 0;
}

char *format_memory_quantity(char *buf, size_t size, uint64_t bytes)
{
        static const char *const binary[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};

        if (bytes != 0)
                for (size_t i = 0; i < ELEMENTSOF(binary); i++) {
                        unsigned shift = (unsigned)(60 - 10 * i);
                        if ((bytes & ((UINT64_C(1) << shift) - 1)) == 0) {
                                snprintf(buf, size, "%" PRIu64 "%s", bytes >> shift, binary[i]);
                                return buf;
                        }
                }
        snprintf(buf, size, "%" PRIu64, bytes);
        return buf;
}

char *format_cpu_quantity(char *buf, size_t size, uint64_t millis)
{
        if (millis % 1000 == 0)
                snprintf(buf, size, "%" PRIu64, millis / 1000);
        else
                snprintf(buf, size, "%" PRIu64 "m", millis);
        return buf;
}
