/* SPDX-License-Identifier: Apache-2.0 */
/* berth.v1.Images: the image and snapshot store over gRPC. The same API
 * core operations as api/http-images.c (api/api-core-images.c), whose JSON
 * documents (docs/IMAGES.md) are converted field by field into the messages
 * of proto/berth/v1/berth.proto. Slow operations (pull, import, commit)
 * stream one ImageProgress per progress object of the backend's worker. */
#include "api/grpc-internal.h"
#include "lib/log.h"

#define CORE(s) (&(s)->conn->server->core)

static char *str(const json_t *o, const char *key)
{
        return (char *)strempty(json_string_value(json_object_get(o, key)));
}

static uint64_t u64(const json_t *o, const char *key)
{
        json_int_t v = json_integer_value(json_object_get(o, key));

        return v > 0 ? (uint64_t)v : 0;
}

/* Borrowed strings of `o` (valid while o lives); free with image_msg_done. */
static int image_from_json(const json_t *o, Berth__V1__Image *m)
{
        json_t *layers = json_object_get(o, "layers"), *users = json_object_get(o, "usedBy"),
               *cfg = json_object_get(o, "imageConfig");
        size_t n;

        berth__v1__image__init(m);
        m->name = str(o, "name");
        m->digest = str(o, "digest");
        m->config_digest = str(o, "config");
        m->size = u64(o, "size");
        m->created = str(o, "created");
        m->architecture = str(o, "architecture");
        m->os = str(o, "os");
        n = json_array_size(layers);
        if (n > 0) {
                m->layers = calloc(n, sizeof(*m->layers));
                if (!m->layers)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        Berth__V1__ImageLayer *l = malloc(sizeof(*l));
                        if (!l)
                                return -ENOMEM;
                        berth__v1__image_layer__init(l);
                        l->digest = str(json_array_get(layers, i), "digest");
                        l->media_type = str(json_array_get(layers, i), "mediaType");
                        m->layers[m->n_layers++] = l;
                }
        }
        n = json_array_size(users);
        if (n > 0) {
                m->used_by = calloc(n, sizeof(char *));
                if (!m->used_by)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        m->used_by[m->n_used_by++] =
                            (char *)strempty(json_string_value(json_array_get(users, i)));
        }
        if (cfg && !json_is_null(cfg)) {
                m->image_config_json = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
                if (!m->image_config_json)
                        return -ENOMEM;
        }
        return 0;
}

static void image_msg_done(Berth__V1__Image *m)
{
        for (size_t i = 0; i < m->n_layers; i++)
                free(m->layers[i]);
        free(m->layers);
        free(m->used_by);
        if (m->image_config_json != protobuf_c_empty_string)
                free(m->image_config_json);
        berth__v1__image__init(m);
}

static void reply_error(GrpcStream *s, int r, BerthError *err)
{
        api_error_fill(err, r);
        grpc_stream_finish_error(s, err);
}

static void send_and_finish(GrpcStream *s, const ProtobufCMessage *m)
{
        int r = grpc_stream_send(s, m);

        if (r < 0)
                return grpc_stream_finish(s, r == -EMSGSIZE ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL,
                                          "cannot encode the answer: %s", strerror(-r));
        grpc_stream_finish(s, GRPC_OK, NULL);
}

void grpc_images_list(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__ListImagesResponse resp = BERTH__V1__LIST_IMAGES_RESPONSE__INIT;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        _cleanup_free_ Berth__V1__Image *ms = NULL;
        _cleanup_free_ Berth__V1__Image **pp = NULL;
        BerthError err = {};
        size_t n;
        int r;

        r = api_core_image_list(CORE(s), &doc, &err);
        if (r < 0)
                return reply_error(s, r, &err);
        n = json_array_size(doc);
        ms = calloc(n + 1, sizeof(*ms));
        pp = calloc(n + 1, sizeof(*pp));
        if (!ms || !pp)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        r = 0;
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = image_from_json(json_array_get(doc, i), &ms[i]);
                else
                        berth__v1__image__init(&ms[i]);
                pp[i] = &ms[i];
        }
        resp.items = pp;
        resp.n_items = n;
        if (r < 0)
                grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        else
                send_and_finish(s, &resp.base);
        for (size_t i = 0; i < n; i++)
                image_msg_done(&ms[i]);
}

void grpc_images_inspect(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__InspectImageRequest *m = (const void *)req;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        Berth__V1__Image img;
        BerthError err = {};
        int r;

        r = api_core_image_inspect(CORE(s), m->ref, &doc, &err);
        if (r < 0)
                return reply_error(s, r, &err);
        r = image_from_json(doc, &img);
        if (r < 0)
                grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        else
                send_and_finish(s, &img.base);
        image_msg_done(&img);
}

void grpc_images_remove(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__RemoveImageRequest *m = (const void *)req;
        Berth__V1__RemoveImageResponse resp = BERTH__V1__REMOVE_IMAGE_RESPONSE__INIT;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        BerthError err = {};
        int r;

        r = api_core_image_remove(CORE(s), m->ref, &doc, &err);
        if (r < 0)
                return reply_error(s, r, &err);
        resp.removed = str(doc, "removed");
        resp.digest = str(doc, "digest");
        resp.blobs_removed = u64(doc, "blobsRemoved");
        resp.snapshots_removed = u64(doc, "snapshotsRemoved");
        resp.bytes_freed = u64(doc, "bytesFreed");
        send_and_finish(s, &resp.base);
}

void grpc_images_df(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__DiskUsage resp = BERTH__V1__DISK_USAGE__INIT;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        BerthError err = {};
        json_t *b, *sn, *rc;
        int r;

        r = api_core_system_df(CORE(s), &doc, &err);
        if (r < 0)
                return reply_error(s, r, &err);
        b = json_object_get(doc, "blobs");
        sn = json_object_get(doc, "snapshots");
        rc = json_object_get(doc, "reclaimable");
        resp.images = u64(doc, "images");
        resp.blobs = u64(b, "count");
        resp.blob_bytes = u64(b, "bytes");
        resp.snapshots_committed = u64(sn, "committed");
        resp.snapshots_active = u64(sn, "active");
        resp.snapshot_bytes = u64(sn, "bytes");
        resp.reclaimable_blobs = u64(rc, "blobs");
        resp.reclaimable_snapshots = u64(rc, "snapshots");
        send_and_finish(s, &resp.base);
}

/* ---- slow jobs: server streaming progress ---- */

static void on_job(void *userdata, const json_t *obj, bool final)
{
        GrpcStream *s = userdata;
        Berth__V1__ImageProgress m = BERTH__V1__IMAGE_PROGRESS__INIT;
        _cleanup_free_ char *json = NULL;
        _cleanup_free_ char **images = NULL;
        const char *status = json_string_value(json_object_get(obj, "status"));
        json_t *list;

        if (final)
                s->image_watch = NULL; /* final callback: the backend forgets it */
        if (s->finished)
                return;
        if (streq_ptr(status, "error")) {
                const char *field = json_string_value(json_object_get(obj, "field"));
                GrpcStatus st = grpc_status_from_class(json_string_value(json_object_get(obj, "code")));
                return grpc_stream_finish(s, st, "%s%s%s", strempty(field), field && *field ? ": " : "",
                                          strempty(json_string_value(json_object_get(obj, "message"))));
        }
        /* A slow reader loses progress lines, never the end (like HTTP). */
        if (!final && s->out_len - s->out_pos > GRPC_STREAM_HIGH_WATER)
                return;
        m.status = (char *)strempty(status);
        m.id = str(obj, "id");
        m.current = u64(obj, "current");
        m.total = u64(obj, "total");
        m.digest = str(obj, "digest");
        list = json_object_get(obj, "images");
        if (json_array_size(list) > 0) {
                images = calloc(json_array_size(list), sizeof(char *));
                if (!images)
                        return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                for (size_t i = 0; i < json_array_size(list); i++)
                        images[m.n_images++] = (char *)strempty(json_string_value(json_array_get(list, i)));
                m.images = images;
        }
        json = json_dumps(obj, JSON_COMPACT);
        m.json = json ?: (char *)"";
        if (grpc_stream_send(s, &m.base) < 0)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "client too slow");
        if (final)
                grpc_stream_finish(s, GRPC_OK, NULL);
}

static void start_job(GrpcStream *s, const ApiImageJob *job)
{
        BerthError err = {};
        int r;

        s->kind = GRPC_STREAM_IMAGE_JOB;
        r = api_core_image_job(CORE(s), job, on_job, s, &s->image_watch, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        /* Headers now: the client sees the job was accepted before progress comes. */
        if (!s->finished && grpc_stream_begin(s) < 0)
                grpc_stream_finish(s, GRPC_INTERNAL, "cannot start the stream");
}

void grpc_images_pull(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__PullImageRequest *m = (const void *)req;
        ApiImageJob job = {.kind = API_IMAGE_PULL, .ref = m->ref, .insecure = m->insecure};

        start_job(s, &job);
}

void grpc_images_import(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__ImportImageRequest *m = (const void *)req;
        ApiImageJob job = {.kind = API_IMAGE_IMPORT, .path = m->path, .name = m->name[0] ? m->name : NULL};

        start_job(s, &job);
}

void grpc_images_commit(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__CommitWorkloadRequest *m = (const void *)req;
        ApiImageJob job = {.kind = API_IMAGE_COMMIT, .workload = m->workload, .name = m->image};

        start_job(s, &job);
}

void grpc_images_release(GrpcStream *s)
{
        api_core_image_job_cancel(CORE(s), TAKE_PTR(s->image_watch));
}
