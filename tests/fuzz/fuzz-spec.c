/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the spec module: every input goes through both the YAML
 * and the JSON parser. Whatever parses must round-trip exactly through
 * spec_to_json()/spec_from_json() and spec_dup(); anything else is a crash. */
#include "lib/spec.h"
#include "tests/fuzz/fuzz.h"

static void check_round_trip(const Spec *s)
{
        _cleanup_(spec_freep) Spec *back = NULL, *dup = NULL;
        json_t *a, *b = NULL, *c = NULL;
        BerthError err = {};

        a = spec_to_json(s);
        if (!a)
                abort();
        if (spec_from_json(a, &back, &err) < 0) {
                fprintf(stderr, "canonical document rejected: %s: %s\n", err.field, err.message);
                abort();
        }
        b = spec_to_json(back);
        dup = spec_dup(s);
        c = dup ? spec_to_json(dup) : NULL;
        if (!b || !c || !json_equal(a, b) || !json_equal(a, c))
                abort();
        json_decref(a);
        json_decref(b);
        json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(spec_freep) Spec *y = NULL, *j = NULL;
        BerthError err = {};
        char buf[1024];

        if (spec_parse_yaml((const char *)data, size, &y, &err) >= 0)
                check_round_trip(y);
        else if (err.error >= 0 || !berth_error_format(&err, buf, sizeof(buf)))
                abort(); /* a failure must carry its errno */
        err = (BerthError){};
        if (spec_parse_json((const char *)data, size, &j, &err) >= 0)
                check_round_trip(j);
        else if (err.error >= 0)
                abort();
        return 0;
}
