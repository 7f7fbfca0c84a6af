/* SPDX-License-Identifier: Apache-2.0 */
/* API core operations of the image and snapshot store (docs/IMAGES.md): the
 * parameter checks both the HTTP routes (api/http-images.c) and the gRPC
 * Images service (api/grpc-images.c) rely on, then the backend call. */
#include <limits.h>

#include "api/api-core.h"

#define IMAGE_REF_MAX 512

static int unsupported(BerthError *err)
{
        return berth_error_set(err, -EOPNOTSUPP, NULL, "images are not supported by this daemon");
}

static int fill(int r, BerthError *err)
{
        if (r < 0)
                api_error_fill(err, r);
        return r;
}

static int check_ref(const char *ref, const char *field, BerthError *err)
{
        if (!ref || !*ref)
                return berth_error_set(err, -EINVAL, field, "is required");
        if (strlen(ref) > IMAGE_REF_MAX)
                return berth_error_set(err, -EINVAL, field, "is longer than %d bytes", IMAGE_REF_MAX);
        return 0;
}

int api_core_image_list(ApiCore *c, json_t **ret, BerthError *err)
{
        if (!c->backend.ops->image_list)
                return unsupported(err);
        return fill(c->backend.ops->image_list(c->backend.userdata, ret, err), err);
}

int api_core_image_inspect(ApiCore *c, const char *ref, json_t **ret, BerthError *err)
{
        int r;

        if (!c->backend.ops->image_inspect)
                return unsupported(err);
        r = check_ref(ref, "ref", err);
        if (r < 0)
                return r;
        return fill(c->backend.ops->image_inspect(c->backend.userdata, ref, ret, err), err);
}

int api_core_image_remove(ApiCore *c, const char *ref, json_t **ret, BerthError *err)
{
        int r;

        if (!c->backend.ops->image_remove)
                return unsupported(err);
        r = check_ref(ref, "ref", err);
        if (r < 0)
                return r;
        return fill(c->backend.ops->image_remove(c->backend.userdata, ref, ret, err), err);
}

int api_core_system_df(ApiCore *c, json_t **ret, BerthError *err)
{
        if (!c->backend.ops->system_df)
                return unsupported(err);
        return fill(c->backend.ops->system_df(c->backend.userdata, ret, err), err);
}

int api_core_image_job(ApiCore *c, const ApiImageJob *job, ApiImageJobCallback cb, void *userdata,
                       ApiImageWatch **ret, BerthError *err)
{
        int r;

        if (!c->backend.ops->image_job)
                return unsupported(err);
        switch (job->kind) {
        case API_IMAGE_IMPORT:
                if (!job->path || job->path[0] != '/')
                        return berth_error_set(err, -EINVAL, "path", "must be an absolute path on the node");
                if (strlen(job->path) >= PATH_MAX)
                        return berth_error_set(err, -EINVAL, "path", "is longer than %d bytes",
                                               PATH_MAX - 1);
                if (job->name && *job->name && (r = check_ref(job->name, "name", err)) < 0)
                        return r;
                break;
        case API_IMAGE_PULL:
                r = check_ref(job->ref, "ref", err);
                if (r < 0)
                        return r;
                break;
        case API_IMAGE_COMMIT:
                r = api_validate_name(job->workload, "name", err);
                if (r < 0)
                        return r;
                r = check_ref(job->name, "image", err);
                if (r < 0)
                        return r;
                break;
        default:
                return berth_error_set(err, -EINVAL, NULL, "unknown image operation");
        }
        return fill(c->backend.ops->image_job(c->backend.userdata, job, cb, userdata, ret, err), err);
}

void api_core_image_job_cancel(ApiCore *c, ApiImageWatch *watch)
{
        if (watch && c->backend.ops->image_job_cancel)
                c->backend.ops->image_job_cancel(c->backend.userdata, watch);
}
