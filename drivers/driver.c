/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/driver.h"

int driver_workload_dir(const char *root_dir, const char *name, char **ret)
{
        if (!spec_name_is_valid(name))
                return -EINVAL;
        if (asprintf(ret, "%s/workloads/%s", root_dir, name) < 0)
                return -ENOMEM;
        return 0;
}
