/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <jansson.h>

#include "drivers/container/container-files.h"

/* jansson.h provides json_decrefp() */
#define _cleanup_json_ _cleanup_(json_decrefp)

static int json_write_atomic(int dirfd, const char *file, json_t *j, WriteDurability d)
{
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *line = NULL;

        if (!s)
                return -ENOMEM;
        if (asprintf(&line, "%s\n", s) < 0)
                return -ENOMEM;
        return write_file_replace_at(dirfd, file, line, strlen(line), 0600, d);
}

static int json_read_at(int dirfd, const char *file, json_t **ret)
{
        _cleanup_free_ char *s = NULL;
        size_t len;
        json_t *j;
        int r;

        r = read_file_at(dirfd, file, 4 * 1024 * 1024, &s, &len);
        if (r < 0)
                return r;
        j = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

static char *dup_str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? strdup(s) : NULL;
}

static uint64_t get_u64(const json_t *o, const char *key)
{
        json_int_t v = json_integer_value(json_object_get(o, key));
        return v < 0 ? 0 : (uint64_t)v;
}

static char **strv_from_json(const json_t *a)
{
        char **l;
        size_t i;
        json_t *v;

        if (!json_is_array(a))
                return NULL;
        l = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!l)
                return NULL;
        json_array_foreach(a, i, v) {
                const char *s = json_string_value(v);
                if (!s || !(l[i] = strdup(s))) {
                        strv_free(l);
                        return NULL;
                }
        }
        return l;
}

ShimConfig *shim_config_free(ShimConfig *c)
{
        if (!c)
                return NULL;
        free(c->name);
        free(c->hostname);
        free(c->rootfs);
        strv_free(c->argv);
        strv_free(c->env);
        free(c->working_dir);
        free(c->cgroup_root);
        free(c->cgroup_parent);
        free(c);
        return NULL;
}

int shim_config_write(int dirfd, const Spec *spec, const DriverConfig *dc)
{
        _cleanup_json_ json_t *j = NULL;
        json_t *argv, *env, *canon;

        j = json_object();
        argv = json_array();
        env = json_array();
        if (!j || !argv || !env) {
                json_decref(argv);
                json_decref(env);
                return -ENOMEM;
        }
        json_object_set_new(j, "command", argv);
        json_object_set_new(j, "env", env);
        for (size_t i = 0; i < spec->n_command; i++)
                if (json_array_append_new(argv, json_string(spec->command[i])) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < spec->n_env; i++) {
                _cleanup_free_ char *kv = NULL;
                if (asprintf(&kv, "%s=%s", spec->env[i].key, spec->env[i].value) < 0)
                        return -ENOMEM;
                if (json_array_append_new(env, json_string(kv)) < 0)
                        return -ENOMEM;
        }
        canon = spec_to_json(spec);
        if (!canon)
                return -ENOMEM;
        if (json_object_set_new(j, "spec", canon) < 0 ||
            json_object_set_new(j, "name", json_string(spec->name)) < 0 ||
            json_object_set_new(j, "hostname", json_string(spec->name)) < 0 ||
            json_object_set_new(j, "rootfs", json_string(spec->rootfs)) < 0 ||
            json_object_set_new(j, "workingDir", json_string(spec->working_dir ? spec->working_dir : "/")) < 0 ||
            json_object_set_new(j, "network", json_string(network_mode_to_string(spec->network))) < 0 ||
            json_object_set_new(j, "cgroupRoot", json_string(dc->cgroup_root)) < 0 ||
            json_object_set_new(j, "cgroupParent", json_string(dc->cgroup_parent)) < 0 ||
            json_object_set_new(j, "logMaxBytes", json_integer((json_int_t)dc->log_max_bytes)) < 0)
                return -ENOMEM;
        /* Written by every start and read only by that run's shim and its
         * exec helpers: a power loss ends the run with it. */
        return json_write_atomic(dirfd, SHIM_CONFIG_FILE, j, WRITE_VOLATILE);
}

int shim_config_read(int dirfd, ShimConfig **ret, json_t **ret_json)
{
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(shim_config_freep) ShimConfig *c = NULL;
        int r;

        r = json_read_at(dirfd, SHIM_CONFIG_FILE, &j);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->name = dup_str(j, "name");
        c->hostname = dup_str(j, "hostname");
        c->rootfs = dup_str(j, "rootfs");
        c->working_dir = dup_str(j, "workingDir");
        c->cgroup_root = dup_str(j, "cgroupRoot");
        c->cgroup_parent = dup_str(j, "cgroupParent");
        c->argv = strv_from_json(json_object_get(j, "command"));
        c->env = strv_from_json(json_object_get(j, "env"));
        c->host_network = streq_ptr(json_string_value(json_object_get(j, "network")), "host");
        c->bridge_network = streq_ptr(json_string_value(json_object_get(j, "network")), "bridge");
        c->log_max_bytes = get_u64(j, "logMaxBytes");
        if (!c->name || !c->hostname || !c->rootfs || !c->working_dir || !c->cgroup_root || !c->cgroup_parent ||
            !c->argv || !c->argv[0] || !c->env)
                return -EBADMSG;
        if (c->rootfs[0] != '/' || c->working_dir[0] != '/')
                return -EBADMSG;
        *ret = TAKE_PTR(c);
        if (ret_json)
                *ret_json = TAKE_PTR(j);
        return 0;
}

int shim_state_write(int dirfd, const ShimState *s)
{
        _cleanup_json_ json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}",
                                             "shimPid", (json_int_t)s->shim_pid,
                                             "shimStartTime", (json_int_t)s->shim_start_time,
                                             "pid", (json_int_t)s->pid,
                                             "pidStartTime", (json_int_t)s->pid_start_time,
                                             "startedAt", (json_int_t)s->started_at,
                                             "bootId", s->boot_id);
        if (!j)
                return -ENOMEM;
        /* Needed only to adopt a live run after berthd restarts, which the
         * page cache carries; after a power loss there is no run to adopt and
         * an unreadable state.json reads as a lost run (container.c adopt). */
        return json_write_atomic(dirfd, SHIM_STATE_FILE, j, WRITE_VOLATILE);
}

int shim_state_read(int dirfd, ShimState *ret)
{
        _cleanup_json_ json_t *j = NULL;
        ShimState s = {};
        const char *b;
        int r;

        r = json_read_at(dirfd, SHIM_STATE_FILE, &j);
        if (r < 0)
                return r;
        s.shim_pid = (pid_t)get_u64(j, "shimPid");
        s.shim_start_time = get_u64(j, "shimStartTime");
        s.pid = (pid_t)get_u64(j, "pid");
        s.pid_start_time = get_u64(j, "pidStartTime");
        s.started_at = get_u64(j, "startedAt");
        b = json_string_value(json_object_get(j, "bootId"));
        if (s.shim_pid <= 0 || s.pid <= 0 || !b)
                return -EBADMSG;
        snprintf(s.boot_id, sizeof(s.boot_id), "%s", b);
        *ret = s;
        return 0;
}

int driver_exit_write(int dirfd, const DriverExit *e, bool durable)
{
        _cleanup_json_ json_t *j = json_pack("{s:i, s:i, s:b, s:I, s:s, s:s}",
                                             "exitCode", e->exit_code,
                                             "signal", e->term_signal,
                                             "oomKilled", e->oom_killed,
                                             "finishedAt", (json_int_t)e->finished_at,
                                             "reason", e->reason,
                                             "message", e->message);
        if (!j)
                return -ENOMEM;
        /* An exit code is never lost: durable before the shim exits, which is
         * when berthd reads it, unless the caller knows that berthd commits it
         * durably before anyone hears of it (container-files.h). The run's
         * start removed any older exit.json. */
        return json_write_atomic(dirfd, SHIM_EXIT_FILE, j, durable ? WRITE_DURABLE_NEW : WRITE_VOLATILE);
}

int driver_exit_read(int dirfd, DriverExit *ret)
{
        _cleanup_json_ json_t *j = NULL;
        DriverExit e = {};
        int r;

        r = json_read_at(dirfd, SHIM_EXIT_FILE, &j);
        if (r < 0)
                return r;
        e.exit_code = (int)json_integer_value(json_object_get(j, "exitCode"));
        e.term_signal = (int)json_integer_value(json_object_get(j, "signal"));
        e.oom_killed = json_is_true(json_object_get(j, "oomKilled"));
        e.finished_at = get_u64(j, "finishedAt");
        snprintf(e.reason, sizeof(e.reason), "%s", strempty(json_string_value(json_object_get(j, "reason"))));
        snprintf(e.message, sizeof(e.message), "%s", strempty(json_string_value(json_object_get(j, "message"))));
        if (e.exit_code < 0 || e.exit_code > 255 || !e.reason[0])
                return -EBADMSG;
        *ret = e;
        return 0;
}

int proc_start_time(pid_t pid, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL, *p = NULL;
        const char *q;
        int r;

        if (asprintf(&p, "/proc/%d/stat", (int)pid) < 0)
                return -ENOMEM;
        r = read_file_at(AT_FDCWD, p, 4096, &s, NULL);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* comm may hold spaces and parentheses: start after the last ')'. */
        q = strrchr(s, ')');
        if (!q)
                return -EBADMSG;
        q++;
        /* fields from 3 (state) on; starttime is field 22 */
        for (int field = 3; field < 22; field++) {
                q = strchr(q + 1, ' ');
                if (!q)
                        return -EBADMSG;
        }
        *ret = strtoull(q + 1, NULL, 10);
        return 0;
}

int read_boot_id(char buf[static BOOT_ID_MAX])
{
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 128, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        snprintf(buf, BOOT_ID_MAX, "%s", s);
        return 0;
}
