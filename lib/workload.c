/* SPDX-License-Identifier: Apache-2.0 */
#include "lib/workload.h"

static const char *const state_names[_WORKLOAD_STATE_MAX] = {
        [WORKLOAD_CREATED] = "created", [WORKLOAD_RUNNING] = "running", [WORKLOAD_PAUSED] = "paused",
        [WORKLOAD_EXITED] = "exited",   [WORKLOAD_UNKNOWN] = "unknown",
};

const char *workload_state_to_string(WorkloadState s)
{
        return s >= 0 && s < _WORKLOAD_STATE_MAX ? state_names[s] : NULL;
}

WorkloadState workload_state_from_string(const char *s)
{
        if (!s)
                return _WORKLOAD_STATE_INVALID;
        for (int i = 0; i < _WORKLOAD_STATE_MAX; i++)
                if (streq(state_names[i], s))
                        return (WorkloadState)i;
        return _WORKLOAD_STATE_INVALID;
}

void workload_status_done(WorkloadStatus *s)
{
        free(s->reason);
        free(s->message);
        s->reason = s->message = NULL;
}
