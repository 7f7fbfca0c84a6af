/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>

#include "cli/berthctl.h"
#include "cli/list-table.h"
#include "cli/table.h"

int list_table_render(const json_t *items, usec_t now, char **ret, size_t *ret_len)
{
        static const char *const headers[] = {"NAME",    "STATE",   "EXIT",     "PID",
                                              "CREATED", "STARTED", "ISOLATION"};
        _cleanup_(table_freep) Table *t = NULL;
        size_t i;
        json_t *w;
        int r;

        r = table_new(headers, ELEMENTSOF(headers), &t);
        if (r < 0)
                return r;
        json_array_foreach(items, i, w)
        {
                json_t *status = json_object_get(w, "status"), *spec = json_object_get(w, "spec");
                json_t *exit_code = json_object_get(status, "exitCode"),
                       *pid = json_object_get(status, "pid");
                const char *sig = json_string_value(json_object_get(status, "signal"));
                char exit_buf[64], pid_buf[32], created[32], started[32], state_buf[64];
                const char *cells[ELEMENTSOF(headers)];

                if (json_is_integer(exit_code) && sig)
                        snprintf(exit_buf, sizeof(exit_buf), "%" JSON_INTEGER_FORMAT " (%s)",
                                 json_integer_value(exit_code), sig);
                else if (json_is_integer(exit_code))
                        snprintf(exit_buf, sizeof(exit_buf), "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(exit_code));
                else
                        snprintf(exit_buf, sizeof(exit_buf), "-");
                if (json_is_integer(pid))
                        snprintf(pid_buf, sizeof(pid_buf), "%" JSON_INTEGER_FORMAT, json_integer_value(pid));
                else
                        snprintf(pid_buf, sizeof(pid_buf), "-");

                cells[0] = json_string_value(json_object_get(json_object_get(w, "metadata"), "name"));
                cells[1] = json_string_value(json_object_get(status, "state"));
                if (json_is_string(json_object_get(status, "health"))) {
                        snprintf(state_buf, sizeof(state_buf), "%s (%s)", strempty(cells[1]),
                                 json_string_value(json_object_get(status, "health")));
                        cells[1] = state_buf;
                }
                cells[2] = exit_buf;
                cells[3] = pid_buf;
                cells[4] =
                    format_age_json(created, sizeof(created), json_object_get(status, "createdAt"), now);
                cells[5] =
                    format_age_json(started, sizeof(started), json_object_get(status, "startedAt"), now);
                cells[6] = json_string_value(json_object_get(spec, "isolation"));
                r = table_add_row(t, cells);
                if (r < 0)
                        return r;
        }
        return table_render(t, ret, ret_len);
}
