/* SPDX-License-Identifier: Apache-2.0 */
/* A test double of ApiBackendOps: an in-memory workload table whose slow
 * operations (exit after stop/kill, remove, wait, event replay) complete later
 * from sd-event time/defer sources, as the real manager's would.
 *
 * Behaviour by name: a workload whose name starts with "short" exits by
 * itself 300 ms after it was created or started (appending "bye" to its log
 * first); others run until stopped, killed or removed. */
#pragma once

#include "api/api.h"

typedef struct TestBackend TestBackend;

extern const ApiBackendOps test_backend_ops;

int test_backend_new(sd_event *e, const char *log_root, TestBackend **ret);
TestBackend *test_backend_free(TestBackend *b);
/* Adds a workload from a JSON document, in state running. */
int test_backend_add(TestBackend *b, const char *json);
void test_backend_set_ready(TestBackend *b, bool ready);
/* Watches currently registered and not yet finished/cancelled (any thread). */
int test_backend_live_watches(void);
/* Total watches cancelled by the adapter (any thread). */
int test_backend_cancelled_watches(void);
