/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC framing, status mapping and conversions between the API core's types
 * and the protobuf messages of proto/berth/v1/berth.proto. No logic of its
 * own: what a field means is decided by the core. */
#include <signal.h>

#include "api/grpc-internal.h"

static const struct {
        const char *class;
        GrpcStatus status;
} class_map[] = {
        { "InvalidArgument", GRPC_INVALID_ARGUMENT },
        { "NotFound", GRPC_NOT_FOUND },
        { "AlreadyExists", GRPC_ALREADY_EXISTS },
        { "FailedPrecondition", GRPC_FAILED_PRECONDITION },
        { "PayloadTooLarge", GRPC_RESOURCE_EXHAUSTED },
        { "ResourceExhausted", GRPC_RESOURCE_EXHAUSTED },
        { "Unimplemented", GRPC_UNIMPLEMENTED },
        { "Unavailable", GRPC_UNAVAILABLE },
        { "PermissionDenied", GRPC_PERMISSION_DENIED },
};

GrpcStatus grpc_status_from_class(const char *class)
{
        for (size_t i = 0; class && i < ELEMENTSOF(class_map); i++)
                if (streq(class, class_map[i].class))
                        return class_map[i].status;
        return GRPC_INTERNAL;
}

GrpcStatus grpc_status_from_error(int error)
{
        /* Not in berth_error_class(): authentication failures of api/auth.h. */
        if (error == -ENOKEY)
                return GRPC_UNAUTHENTICATED;
        if (error == -ETIMEDOUT)
                return GRPC_DEADLINE_EXCEEDED;
        return grpc_status_from_class(berth_error_class(error));
}

int grpc_timeout_parse(const char *s, usec_t *ret)
{
        uint64_t v = 0, mul;
        size_t n = s ? strlen(s) : 0;

        /* TimeoutValue is at most 8 ASCII digits (PROTOCOL-HTTP2.md). */
        if (n < 2 || n > 9)
                return -EINVAL;
        for (size_t i = 0; i + 1 < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        switch (s[n - 1]) {
        case 'H':
                mul = 3600 * USEC_PER_SEC;
                break;
        case 'M':
                mul = 60 * USEC_PER_SEC;
                break;
        case 'S':
                mul = USEC_PER_SEC;
                break;
        case 'm':
                mul = USEC_PER_MSEC;
                break;
        case 'u':
                mul = 1;
                break;
        case 'n':
                *ret = v / 1000;
                return 0;
        default:
                return -EINVAL;
        }
        *ret = v * mul;
        return 0;
}

int grpc_frame_unpack(const uint8_t *buf, size_t len, size_t max, const uint8_t **ret, size_t *ret_len)
{
        uint32_t n;

        if (len < 5)
                return -EINVAL;
        if (buf[0] > 1)
                return -EINVAL;
        n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
        if (n > max)
                return -EMSGSIZE;
        if (buf[0] == 1)
                return -EOPNOTSUPP;
        if ((size_t)n != len - 5)
                return -EINVAL; /* truncated, or a second message */
        *ret = buf + 5;
        *ret_len = n;
        return 0;
}

ProtobufCMessage *grpc_message_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
        return protobuf_c_message_unpack(d, NULL, len, buf);
}

const char *grpc_signal_name(int sig, char *buf, size_t size)
{
        const char *abbrev;

        if (sig <= 0)
                return "";
        abbrev = sigabbrev_np(sig);
        if (abbrev)
                snprintf(buf, size, "SIG%s", abbrev);
        else
                snprintf(buf, size, "%d", sig);
        return buf;
}

static char *dup_or_empty(const char *s)
{
        return strdup(s ?: "");
}

int grpc_workload_to_msg(const Workload *w, Berth__V1__Workload *m, Berth__V1__WorkloadStatus *st)
{
        const WorkloadStatus *s = &w->status;
        bool exited = s->state == WORKLOAD_EXITED, live = s->state == WORKLOAD_RUNNING || s->state == WORKLOAD_PAUSED;
        char sig[32];
        json_t *doc, *spec;

        berth__v1__workload__init(m);
        berth__v1__workload_status__init(st);
        m->status = st;
        m->name = dup_or_empty(w->spec->name);
        /* spec_to_json() renders the whole document; the message carries its "spec". */
        doc = spec_to_json(w->spec);
        spec = doc ? json_object_get(doc, "spec") : NULL;
        m->spec_json = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (w->spec->n_labels > 0) {
                m->labels = calloc(w->spec->n_labels, sizeof(*m->labels));
                if (!m->labels)
                        return -ENOMEM;
                for (size_t i = 0; i < w->spec->n_labels; i++) {
                        Berth__V1__Workload__LabelsEntry *e = malloc(sizeof(*e));
                        if (!e)
                                return -ENOMEM;
                        berth__v1__workload__labels_entry__init(e);
                        e->key = w->spec->labels[i].key;
                        e->value = w->spec->labels[i].value;
                        m->labels[m->n_labels++] = e;
                }
        }
        st->state = s->state >= 0 && s->state < _WORKLOAD_STATE_MAX ? (int)s->state + 1
                                                                     : BERTH__V1__WORKLOAD_STATE__WORKLOAD_STATE_UNSPECIFIED;
        st->state_name = (char *)strempty(workload_state_to_string(s->state));
        st->has_exit_code = exited;
        st->exit_code = exited ? s->exit_code : 0;
        st->signal = exited && s->term_signal > 0 ? strdup(grpc_signal_name(s->term_signal, sig, sizeof(sig))) : NULL;
        st->oom_killed = s->oom_killed;
        st->pid = live ? s->pid : 0;
        st->created_at_usec = s->created_at;
        st->started_at_usec = s->started_at;
        st->finished_at_usec = exited ? s->finished_at : 0;
        st->restart_count = s->restart_count;
        st->reason = (char *)strempty(s->reason);
        st->message = (char *)strempty(s->message);
        if (!m->name || !m->spec_json)
                return -ENOMEM;
        return 0;
}

void grpc_workload_msg_done(Berth__V1__Workload *m)
{
        if (!m)
                return;
        free(m->name);
        free(m->spec_json);
        for (size_t i = 0; i < m->n_labels; i++)
                free(m->labels[i]);
        free(m->labels);
        if (m->status && m->status->signal != protobuf_c_empty_string)
                free(m->status->signal);
        m->name = m->spec_json = NULL;
        m->labels = NULL;
        m->n_labels = 0;
}

void grpc_event_to_msg(const BerthEvent *ev, Berth__V1__Event *m)
{
        berth__v1__event__init(m);
        m->id = ev->id;
        m->time_usec = ev->time;
        m->type = (char *)strempty(ev->type);
        m->workload = (char *)strempty(ev->workload);
        m->message = (char *)strempty(ev->message);
        m->caller = (char *)strempty(ev->caller);
}

/* grpc-message is percent-encoded: everything outside 0x20..0x7E and '%'. */
char *grpc_message_encode(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out, *o;

        if (n > 1024)
                n = 1024;
        out = malloc(n * 3 + 1);
        if (!out)
                return NULL;
        o = out;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch >= 0x20 && ch <= 0x7e && ch != '%')
                        *o++ = (char)ch;
                else {
                        *o++ = '%';
                        *o++ = hex[ch >> 4];
                        *o++ = hex[ch & 15];
                }
        }
        *o = 0;
        return out;
}
