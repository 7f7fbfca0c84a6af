/* SPDX-License-Identifier: Apache-2.0 */
/* Issue 3 part B in the manager: live update, pause/resume (manager-harden.c)
 * and health checks (manager-health.c). */
#pragma once

#include "agent/manager.h"

static inline const char *wname_of(const MWorkload *w)
{
        return w->spec->name;
}

int manager_backend_update(void *backend, const char *name, Spec *spec, const Workload **ret, BerthError *err);
int manager_backend_pause(void *backend, const char *name, const Workload **ret, BerthError *err);
int manager_backend_resume(void *backend, const char *name, const Workload **ret, BerthError *err);
int manager_backend_exec(void *backend, const char *name, char **argv, bool tty, ApiExecIo *ret, BerthError *err);
/* manager-health.c: one timer drives the probes of every workload with a
 * spec.healthCheck while it runs; status.health shows the result and every
 * change is an event ("health-status"). */
int manager_health_start(Manager *m);
/* A workload with a spec.healthCheck was added: the tick runs again. */
void manager_health_kick(Manager *m);
void manager_health_free(MWorkload *w);
/* Called before a signal is sent to a workload (stop, kill, remove). */
void manager_workload_thaw_before_signal(MWorkload *w);
