/* SPDX-License-Identifier: Apache-2.0 */
/* The `ls` table from the API's workload objects. Pure. */
#pragma once

#include <jansson.h>

#include "lib/util.h"

/* Renders NAME STATE EXIT PID CREATED STARTED ISOLATION for items (an array
 * of workload objects), ages relative to now (CLOCK_REALTIME usec). */
int list_table_render(const json_t *items, usec_t now, char **ret, size_t *ret_len);
