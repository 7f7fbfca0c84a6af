/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the gRPC adapter's decode path: the 5-byte gRPC frame
 * (grpc_frame_unpack), then the protobuf-c decoder for every request message
 * berthd accepts, exactly as grpc-calls.c calls them. Whatever decodes must
 * re-encode to bytes that decode to the same encoding again; the grpc-timeout
 * parser and the grpc-message encoder see the same bytes as strings. */
#include "api/grpc-internal.h"
#include "tests/fuzz/fuzz.h"

static const ProtobufCMessageDescriptor *const descriptors[] = {
        &berth__v1__create_workload_request__descriptor,
        &berth__v1__get_workload_request__descriptor,
        &berth__v1__list_workloads_request__descriptor,
        &berth__v1__update_workload_request__descriptor,
        &berth__v1__start_workload_request__descriptor,
        &berth__v1__stop_workload_request__descriptor,
        &berth__v1__kill_workload_request__descriptor,
        &berth__v1__delete_workload_request__descriptor,
        &berth__v1__wait_workload_request__descriptor,
        &berth__v1__logs_request__descriptor,
        &berth__v1__events_request__descriptor,
        &berth__v1__exec_input__descriptor,
        &berth__v1__node_info_request__descriptor,
        &grpc__health__v1__health_check_request__descriptor,
        /* responses too: a client library could reuse this path */
        &berth__v1__workload__descriptor,
        &berth__v1__event__descriptor,
        &berth__v1__node_info__descriptor,
};

static void round_trip(const ProtobufCMessage *m)
{
        size_t n = protobuf_c_message_get_packed_size(m), n2;
        uint8_t *a = malloc(n + 1), *b;
        ProtobufCMessage *again;

        if (!a)
                abort();
        if (protobuf_c_message_pack(m, a) != n)
                abort();
        again = grpc_message_decode(m->descriptor, a, n);
        if (!again)
                abort(); /* our own encoding must decode */
        n2 = protobuf_c_message_get_packed_size(again);
        b = malloc(n2 + 1);
        if (!b || n2 != n || protobuf_c_message_pack(again, b) != n2 || memcmp(a, b, n) != 0)
                abort();
        protobuf_c_message_free_unpacked(again, NULL);
        free(a);
        free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *payload;
        size_t payload_len;
        char s[64];
        usec_t t;
        char *enc;
        int r;

        r = grpc_frame_unpack(data, size, 1 << 20, &payload, &payload_len);
        if (r >= 0) {
                if (payload < data + 5 || payload + payload_len != data + size)
                        abort();
                for (size_t i = 0; i < ELEMENTSOF(descriptors); i++) {
                        ProtobufCMessage *m = grpc_message_decode(descriptors[i], payload, payload_len);
                        if (m) {
                                round_trip(m);
                                protobuf_c_message_free_unpacked(m, NULL);
                        }
                }
        } else if (r != -EINVAL && r != -EMSGSIZE && r != -EOPNOTSUPP)
                abort();
        /* the raw bytes as an unframed message, too */
        for (size_t i = 0; i < ELEMENTSOF(descriptors); i++) {
                ProtobufCMessage *m = grpc_message_decode(descriptors[i], data, size);
                if (m) {
                        round_trip(m);
                        protobuf_c_message_free_unpacked(m, NULL);
                }
        }

        snprintf(s, sizeof(s), "%.*s", (int)MIN(size, sizeof(s) - 1), (const char *)data);
        if (grpc_timeout_parse(s, &t) >= 0 && strlen(s) > 9)
                abort();
        enc = grpc_message_encode(s);
        if (!enc)
                abort();
        for (const char *p = enc; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                        abort();
        free(enc);
        return 0;
}
