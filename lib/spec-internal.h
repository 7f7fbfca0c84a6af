/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the spec module (lib/spec*.c): field path building. */
#pragma once

#include "lib/spec.h"

static inline void spec_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_json_ _cleanup_(spec_json_decrefp)

/* Large enough for any path we build; BerthError.field truncates to 256. */
#define SPEC_PATH_MAX 512

/* parent + key: "spec.env.FOO", or `metadata.labels["app.kubernetes.io/name"]`
 * when the key is not an identifier or the parent is a label map (label keys
 * are always bracketed so the path reads the same for every key). */
char *spec_path_key(char *buf, size_t size, const char *parent, const char *key);
/* parent + index: "spec.command[2]". */
char *spec_path_index(char *buf, size_t size, const char *parent, size_t index);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool spec_utf8_is_valid(const char *s, size_t len);

/* lib/spec-harden.c: spec.security, spec.healthCheck, resource extras. */
int spec_validate_harden(const json_t *spec, Spec *s, BerthError *err);
int spec_validate_resources_harden(const json_t *res, Spec *s, BerthError *err);
int spec_harden_to_json(const Spec *s, json_t *spec, json_t *res);
int spec_harden_dup(const Spec *src, Spec *dst);
void spec_harden_free(Spec *s);

/* lib/spec-sched.c: spec.resources.requests/limits and spec.priority. Runs after
 * the flat resources were read; fills the requests (default: the limits). */
int spec_sched_from_json(const json_t *spec, Spec *s, BerthError *err);
int spec_sched_to_json(const Spec *s, json_t *spec, json_t *res);
