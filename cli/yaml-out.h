/* SPDX-License-Identifier: Apache-2.0 */
/* Renders a JSON tree as block-style YAML (inspect -o yaml). Pure. Strings
 * that a YAML reader could take for anything but a string (numbers, bools,
 * null, timestamps, indicators) are double-quoted with JSON escapes, which
 * are valid YAML double-quoted escapes. */
#pragma once

#include <jansson.h>

#include "lib/util.h"

int yaml_render(const json_t *j, char **ret, size_t *ret_len);
/* True if s may be written as a plain (unquoted) scalar. */
bool yaml_plain_ok(const char *s);
