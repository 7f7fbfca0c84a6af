/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/driver.h"

#define WORKLOADS_SUBDIR "/workloads/"

int driver_workload_dir(const char *root_dir, const char *name, char **ret)
{
        if (!spec_name_is_valid(name))
                return -EINVAL;
        if (asprintf(ret, "%s" WORKLOADS_SUBDIR "%s", root_dir, name) < 0)
                return -ENOMEM;
        return 0;
}

size_t driver_workload_dir_max(const char *root_dir)
{
        return strlen(root_dir) + strlen(WORKLOADS_SUBDIR) + SPEC_NAME_MAX;
}
