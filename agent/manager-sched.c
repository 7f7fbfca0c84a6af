/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler's glue (docs/SCHEDULER.md): the ledger lives here, fed from
 * the manager's workloads. The decisions are scheduler/sched.c's; this file
 * does the I/O around them: topology discovery at start, cpuset writes,
 * killing preemption and eviction victims (with events), and the pressure
 * timer reading PSI and MemAvailable. */
#include <fcntl.h>
#include <inttypes.h>

#include "agent/manager.h"
#include "drivers/container/cgroup.h"
#include "drivers/vm/vm-pin.h"
#include "lib/log.h"
#include "scheduler/sched.h"

#define SCHED_LEDGER_SLOTS 8192
#define VM_DEFAULT_MEMORY (UINT64_C(256) << 20)
#define PIN_RETRY_USEC (100 * USEC_PER_MSEC)
#define PIN_TRIES_MAX 600 /* 60 s for QEMU to create its vCPU threads */

/* The vCPU pinning of a running VM (drivers/vm/vm-pin.h), by workload name. */
typedef struct MsPin {
        char name[SPEC_NAME_MAX + 1];
        pid_t pid;                     /* the QEMU it was done for */
        bool pending;                  /* not every vCPU thread existed yet: the timer retries */
        unsigned tries;
        char text[256];                /* "0=1,1=2" (vCPU=CPU) for GET /v1/node */
} MsPin;

typedef struct ManagerSched {
        SchedLedger *ledger;
        const CgroupOps *cg;
        char *pool;                    /* last shared pool applied */
        sd_event_source *evict_timer;
        SchedEvictionState evict;
        char root[4096];               /* topology and pressure files are read below this */
        MsPin *pins;                   /* VMs whose vCPU threads are pinned */
        size_t n_pins;
        sd_event_source *pin_timer;

        /* storage for ApiNode / ApiAdmission, valid until the next call */
        ApiNodeResource resources[_SCHED_RES_MAX];
        ApiPlacement *placements;
        char (*cpusets)[1024];
        size_t n_alloc;
        char pool_text[1024];
        char dry_cpuset[1024];
        char dry_name[SPEC_NAME_MAX + 1]; /* the spec is gone once the answer is encoded */
        const char **dry_victims;
        size_t n_dry_alloc;
} ManagerSched;

static void request_of(const Spec *s, SchedRequest *ret)
{
        *ret = (SchedRequest){
                .name = s->name,
                .is_vm = s->isolation == ISOLATION_VM,
                .cpu_request = s->cpu_request_millis,
                .cpu_limit = s->cpu_millis,
                .memory_request = s->memory_request_bytes,
                .memory_limit = s->memory_bytes,
                .priority = s->priority,
        };
        if (ret->is_vm) {
                /* Guest memory is allocated whole: requested = limit = the guest size
                 * (spec.vm, else resources, else the VM driver's default). vCPUs are
                 * a limit; only an explicit CPU request books them, so a VM given
                 * resources.cpu "2" is guaranteed with 2 exclusive CPUs and a bare
                 * VM is burstable on the shared pool. */
                uint64_t mem = s->vm.memory_bytes ?: (s->memory_bytes ?: VM_DEFAULT_MEMORY);
                uint64_t vcpus = s->vm.vcpus ?: 1;
                ret->memory_request = ret->memory_limit = mem;
                if (ret->cpu_limit < vcpus * 1000)
                        ret->cpu_limit = vcpus * 1000;
        }
}

static MWorkload *by_slot(Manager *m, uint32_t id)
{
        for (size_t i = 0; i < m->n_workloads; i++)
                if (m->workloads[i]->sched_slot == id + 1)
                        return m->workloads[i];
        return NULL;
}

static MsPin *pin_find(ManagerSched *s, const char *name)
{
        for (size_t i = 0; i < s->n_pins; i++)
                if (streq(s->pins[i].name, name))
                        return &s->pins[i];
        return NULL;
}

static void pin_drop(ManagerSched *s, const char *name)
{
        MsPin *p = pin_find(s, name);

        if (p)
                *p = s->pins[--s->n_pins];
}

static int on_pin_timer(sd_event_source *es, uint64_t usec, void *userdata);

/* Pins a running VM's vCPU threads one to one onto its exclusive set, or
 * gives every thread the shared pool back (docs/SCHEDULER.md). Called after
 * each cpuset write of the VM's cgroup (v1 resets every task's affinity on
 * such a write, and an affinity outside the cpuset is refused). */
static void ms_vm_place(Manager *m, MWorkload *w, const SchedPlacement *p, const char *pool)
{
        ManagerSched *s = m->sched;
        unsigned cpus[SCHED_CPUS_MAX];
        size_t n = 0;
        VmPinResult res = {};
        MsPin *pin = pin_find(s, w->spec->name);
        int r;

        /* running or paused (QEMU's pid + start time guard against a stale run) */
        if (w->spec->isolation != ISOLATION_VM || w->run.pid <= 0 ||
            (w->pub.status.state != WORKLOAD_RUNNING && w->pub.status.state != WORKLOAD_PAUSED))
                return;
        if (!p->exclusive) {
                CpuSet set;
                if (!pin)
                        return; /* never pinned: nothing to undo */
                if (cpuset_parse(pool, &set) >= 0) {
                        for (unsigned c = 0; c < SCHED_CPUS_MAX; c++)
                                if (cpuset_test(&set, c))
                                        cpus[n++] = c;
                        if (n > 0)
                                (void)vm_vcpu_pin(w->run.pid, w->run.pid_start_time, cpus, n, false, 0, NULL);
                }
                wlog_info(w->spec->name, "vCPU threads unpinned: the VM is on the shared pool %s", pool);
                pin_drop(s, w->spec->name);
                return;
        }
        for (unsigned c = 0; c < SCHED_CPUS_MAX; c++)
                if (cpuset_test(&p->cpus, c))
                        cpus[n++] = c;
        if (n == 0)
                return;
        if (!pin) {
                MsPin *np = reallocarray(s->pins, s->n_pins + 1, sizeof(*np));
                if (!np)
                        return;
                s->pins = np;
                pin = &s->pins[s->n_pins++];
                *pin = (MsPin){};
                snprintf(pin->name, sizeof(pin->name), "%s", w->spec->name);
        }
        if (pin->pid != w->run.pid) {
                pin->pid = w->run.pid;
                pin->tries = 0;
                pin->text[0] = 0;
        }
        r = vm_vcpu_pin(w->run.pid, w->run.pid_start_time, cpus, n, true, w->spec->vm.vcpus ?: 1, &res);
        log_debug("scheduler: vCPU pinning of %s (QEMU %d): %s, %zu vCPU threads, try %u", w->spec->name,
                  (int)w->run.pid, r < 0 ? strerror(-r) : "done", res.n_vcpus, pin->tries);
        char text[sizeof(pin->text)];
        vm_pin_format(&res, text, sizeof(text));
        pin->pending = r == -EAGAIN && ++pin->tries < PIN_TRIES_MAX;
        if (r == -EAGAIN && !pin->pending)
                wlog_warning(w->spec->name, "only %zu of %" PRIu64 " vCPU threads of QEMU appeared; pinned %s",
                             res.n_vcpus, w->spec->vm.vcpus ?: 1, text);
        else if (r == -ESRCH) {
                pin_drop(s, w->spec->name); /* QEMU is gone (or not yet ours) */
                return;
        } else if (r < 0 && r != -EAGAIN)
                wlog_warning_errno(w->spec->name, r, "cannot pin the vCPU threads: %m");
        else if (r >= 0 && !streq(text, pin->text)) {
                char set[256];
                wlog_info(w->spec->name, "vCPU threads pinned (vCPU=CPU): %s; %zu other QEMU threads on %s", text,
                          res.n_other, cpuset_format(&p->cpus, set, sizeof(set)));
        }
        snprintf(pin->text, sizeof(pin->text), "%s", text);
        if (pin->pending && s->pin_timer) {
                (void)sd_event_source_set_time_relative(s->pin_timer, PIN_RETRY_USEC);
                (void)sd_event_source_set_enabled(s->pin_timer, SD_EVENT_ONESHOT);
        } else if (pin->pending)
                (void)sd_event_add_time_relative(m->event, &s->pin_timer, CLOCK_MONOTONIC, PIN_RETRY_USEC,
                                                 10 * USEC_PER_MSEC, on_pin_timer, m);
}

static int ms_cpuset_write(Manager *m, MWorkload *w, const SchedPlacement *p, const char *pool)
{
        ManagerSched *s = m->sched;
        char cpus[1024], mems[16] = "";
        int r;

        /* VMs too: QEMU runs in the workload's cgroup; its vCPU threads are
         * then pinned inside an exclusive set (ms_vm_place) */
        if (!s->cg)
                return 0;
        if (p->exclusive) {
                cpuset_format(&p->cpus, cpus, sizeof(cpus));
                if (p->numa_node >= 0 && sched_topology(s->ledger)->n_nodes > 1)
                        snprintf(mems, sizeof(mems), "%d", p->numa_node);
        } else
                snprintf(cpus, sizeof(cpus), "%s", pool);
        r = cgroup_set_cpuset(s->cg, m->config->cgroup_root, m->config->cgroup_parent, w->spec->name, cpus, mems);
        if (r < 0 && r != -ENOENT)
                wlog_warning_errno(w->spec->name, r, "cannot apply cpuset %s: %m", cpus);
        if (r >= 0)
                ms_vm_place(m, w, p, pool);
        return r;
}

static int on_pin_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        ManagerSched *s = m->sched;

        for (size_t i = s->n_pins; i > 0; i--) {
                MsPin *pin = &s->pins[i - 1];
                MWorkload *w;
                const SchedEntry *e;

                if (!pin->pending)
                        continue;
                pin->pending = false;
                w = manager_find(m, pin->name);
                if (!w || !w->sched_slot || !(e = sched_entry(s->ledger, w->sched_slot - 1))) {
                        pin_drop(s, pin->name);
                        continue;
                }
                ms_vm_place(m, w, &e->placement, s->pool ? s->pool : "");
        }
        return 0;
}

/* Every booked workload gets its place; shared ones follow the pool. Cheap
 * enough to redo on each change: a few file writes per workload. */
static void ms_apply_all(Manager *m, bool force)
{
        ManagerSched *s = m->sched;
        SchedUsage u;
        char pool[1024];

        sched_usage(s->ledger, &u);
        cpuset_format(&u.shared_pool, pool, sizeof(pool));
        if (!force && s->pool && streq(s->pool, pool))
                return;
        free(s->pool);
        s->pool = strdup(pool);
        for (size_t i = 0; i < m->n_workloads; i++) {
                MWorkload *w = m->workloads[i];
                const SchedEntry *e;

                if (!w->sched_slot || !(e = sched_entry(s->ledger, w->sched_slot - 1)))
                        continue;
                (void)ms_cpuset_write(m, w, &e->placement, pool);
        }
        log_debug("scheduler: shared pool is now %s", pool);
}

static uint32_t ms_victim_kill(Manager *m, uint32_t id, const char *type, const char *why)
{
        MWorkload *v = by_slot(m, id);

        sched_remove(m->sched->ledger, id);
        if (!v)
                return id;
        v->sched_slot = 0;
        v->desired_running = false; /* stays down: no restart into the same shortage */
        wlog_notice(v->spec->name, "%s: %s", type, why);
        manager_emit(m, type, v->spec->name, why);
        (void)manager_workload_kill(v, SIGKILL, NULL);
        return id;
}

static int reject(const SchedDecision *d, BerthError *err)
{
        return berth_error_set(err, -ENOSPC, d->resource == SCHED_RES_MEMORY ? "spec.resources.memory"
                                             : d->resource == SCHED_RES_CPU  ? "spec.resources.cpu"
                                                                               : "",
                               "%s", d->reason);
}

int manager_sched_check(Manager *m, const Spec *spec, BerthError *err)
{
        SchedRequest req;
        SchedDecision d;
        int r;

        if (!m->sched)
                return 0;
        request_of(spec, &req);
        r = sched_decide(m->sched->ledger, &req, SCHED_ID_NONE, &d);
        if (r < 0)
                return berth_error_set(err, -EINVAL, "spec.resources", "the resources cannot be scheduled");
        if (d.verdict == SCHED_REJECT)
                return reject(&d, err);
        return 0;
}

int manager_sched_admit(MWorkload *w, BerthError *err)
{
        Manager *m = w->manager;
        ManagerSched *s = m->sched;
        SchedRequest req;
        SchedDecision d;
        uint32_t id;
        int r;

        if (!s || w->sched_slot)
                return 0;
        request_of(w->spec, &req);
        r = sched_decide(s->ledger, &req, SCHED_ID_NONE, &d);
        if (r < 0)
                return berth_error_set(err, -EINVAL, "spec.resources", "the resources cannot be scheduled");
        if (d.verdict == SCHED_ADMIT_PREEMPT) {
                char why[SCHED_REASON_MAX + 128];
                snprintf(why, sizeof(why), "preempted by %s (priority %" PRId32 "): %s", w->spec->name,
                         req.priority, d.reason);
                for (unsigned i = 0; i < d.n_victims; i++)
                        ms_victim_kill(m, d.victims[i], "preempted", why);
                r = sched_decide(s->ledger, &req, SCHED_ID_NONE, &d);
                if (r < 0)
                        return r;
        }
        if (d.verdict != SCHED_ADMIT) {
                manager_emit(m, "rejected", w->spec->name, d.reason);
                wlog_notice(w->spec->name, "admission rejected: %s", d.reason);
                return reject(&d, err);
        }
        r = sched_commit(s->ledger, &req, &d, SCHED_ID_NONE, &id);
        if (r < 0)
                return berth_error_set(err, r, "", "the scheduler could not book the workload: %s", strerror(-r));
        w->sched_slot = id + 1;
        ms_apply_all(m, false); /* victims gone or an exclusive set taken: the pool moved */
        char cpus[256] = "shared pool";
        if (d.placement.exclusive)
                cpuset_format(&d.placement.cpus, cpus, sizeof(cpus));
        wlog_info(w->spec->name, "admitted as %s on %s", sched_qos_to_string(d.placement.qos), cpus);
        return 0;
}

void manager_sched_running(MWorkload *w)
{
        Manager *m = w->manager;
        const SchedEntry *e;

        if (!m->sched || !w->sched_slot || !(e = sched_entry(m->sched->ledger, w->sched_slot - 1)))
                return;
        ms_apply_all(m, !m->sched->pool); /* the pool may have changed: move the shared ones */
        (void)ms_cpuset_write(m, w, &e->placement, m->sched->pool ? m->sched->pool : "");
}

void manager_sched_release(MWorkload *w)
{
        Manager *m = w->manager;

        if (!m->sched)
                return;
        pin_drop(m->sched, w->spec->name); /* the run is over: its threads are gone */
        if (!w->sched_slot)
                return;
        sched_remove(m->sched->ledger, w->sched_slot - 1);
        w->sched_slot = 0;
        ms_apply_all(m, false); /* an exclusive set came back to the pool */
}

int manager_sched_resize(MWorkload *w, const Spec *spec, BerthError *err)
{
        Manager *m = w->manager;
        SchedRequest req;
        SchedDecision d;
        int r;

        if (!m->sched || !w->sched_slot)
                return 0; /* not running: admission happens at the next start */
        request_of(spec, &req);
        r = sched_decide(m->sched->ledger, &req, w->sched_slot - 1, &d);
        if (r < 0)
                return berth_error_set(err, -EINVAL, "spec.resources", "the resources cannot be scheduled");
        if (d.verdict != SCHED_ADMIT) /* a resize never preempts */
                return reject(&d, err);
        r = sched_commit(m->sched->ledger, &req, &d, w->sched_slot - 1, NULL);
        if (r < 0)
                return berth_error_set(err, r, "", "the scheduler could not book the new resources");
        ms_apply_all(m, true);
        return 0;
}

int manager_sched_dry_run(void *backend, const Spec *spec, ApiAdmission *ret, BerthError *err)
{
        Manager *m = backend;
        ManagerSched *s = m->sched;
        SchedRequest req;
        SchedDecision d;
        int r;

        *ret = (ApiAdmission){ .placement.numa_node = -1 };
        ret->placement.priority = spec->priority;
        if (!s) {
                ret->admitted = true;
                return 0;
        }
        snprintf(s->dry_name, sizeof(s->dry_name), "%s", spec->name);
        ret->placement.workload = s->dry_name;
        if (manager_find(m, spec->name))
                return berth_error_set(err, -EEXIST, "metadata.name", "workload \"%s\" already exists", spec->name);
        request_of(spec, &req);
        r = sched_decide(s->ledger, &req, SCHED_ID_NONE, &d);
        if (r < 0)
                return berth_error_set(err, -EINVAL, "spec.resources", "the resources cannot be scheduled");
        ret->admitted = d.verdict != SCHED_REJECT;
        ret->placement.qos = sched_qos_to_string(d.placement.qos);
        ret->placement.exclusive = d.placement.exclusive;
        ret->placement.numa_node = d.placement.numa_node;
        ret->placement.cpu_millis = d.placement.charge_cpu_millis;
        ret->placement.memory_bytes = d.placement.charge_memory_bytes;
        if (d.placement.exclusive)
                cpuset_format(&d.placement.cpus, s->dry_cpuset, sizeof(s->dry_cpuset));
        else {
                SchedUsage u;
                sched_usage(s->ledger, &u);
                cpuset_format(&u.shared_pool, s->dry_cpuset, sizeof(s->dry_cpuset));
        }
        ret->placement.cpuset = s->dry_cpuset;
        if (d.verdict == SCHED_REJECT) {
                snprintf(ret->reason, sizeof(ret->reason), "%s", d.reason);
                ret->resource = sched_resource_to_string(d.resource);
        }
        if (d.verdict == SCHED_ADMIT_PREEMPT) {
                if (s->n_dry_alloc < d.n_victims + 1) {
                        const char **n = reallocarray(s->dry_victims, d.n_victims + 1, sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        s->dry_victims = n;
                        s->n_dry_alloc = d.n_victims + 1;
                }
                size_t k = 0;
                for (unsigned i = 0; i < d.n_victims; i++) {
                        MWorkload *v = by_slot(m, d.victims[i]);
                        if (v)
                                s->dry_victims[k++] = v->spec->name;
                }
                s->dry_victims[k] = NULL;
                ret->preempts = s->dry_victims;
                ret->n_preempts = k;
                snprintf(ret->reason, sizeof(ret->reason), "fits by preempting %zu lower-priority workload%s; %s", k,
                         k == 1 ? "" : "s", d.reason);
        }
        return 0;
}

void manager_sched_node(Manager *m, ApiNode *ret)
{
        ManagerSched *s = m->sched;
        const SchedTopology *t;
        SchedUsage u;
        size_t n = 0;

        if (!s)
                return;
        t = sched_topology(s->ledger);
        sched_usage(s->ledger, &u);
        for (int r = 0; r < _SCHED_RES_MAX; r++)
                s->resources[r] = (ApiNodeResource){
                        .name = sched_resource_to_string(r),
                        .capacity = u.capacity[r],
                        .allocatable = u.allocatable[r],
                        .allocated = u.allocated[r],
                        .free = u.free[r],
                };
        cpuset_format(&u.shared_pool, s->pool_text, sizeof(s->pool_text));
        if (s->n_alloc < m->n_workloads) {
                ApiPlacement *p = reallocarray(s->placements, m->n_workloads, sizeof(*p));
                if (p)
                        s->placements = p;
                char(*c)[1024] = p ? reallocarray(s->cpusets, m->n_workloads, sizeof(*c)) : NULL;
                if (c)
                        s->cpusets = c;
                if (p && c)
                        s->n_alloc = m->n_workloads;
        }
        for (size_t i = 0; i < m->n_workloads && n < s->n_alloc; i++) {
                const MWorkload *w = m->workloads[i];
                const SchedEntry *e;

                if (!w->sched_slot || !(e = sched_entry(s->ledger, w->sched_slot - 1)))
                        continue;
                if (e->placement.exclusive)
                        cpuset_format(&e->placement.cpus, s->cpusets[n], sizeof(s->cpusets[n]));
                else
                        snprintf(s->cpusets[n], sizeof(s->cpusets[n]), "%s", s->pool_text);
                s->placements[n] = (ApiPlacement){
                        .workload = w->spec->name,
                        .qos = sched_qos_to_string(e->placement.qos),
                        .cpuset = s->cpusets[n],
                        .exclusive = e->placement.exclusive,
                        .numa_node = e->placement.numa_node,
                        .priority = e->req.priority,
                        .cpu_millis = e->placement.charge_cpu_millis,
                        .memory_bytes = e->placement.charge_memory_bytes,
                };
                const MsPin *pin = pin_find(s, w->spec->name);
                if (pin && e->placement.exclusive && pin->text[0])
                        s->placements[n].vcpu_pins = pin->text;
                n++;
        }
        ret->has_scheduler = true;
        ret->resources = s->resources;
        ret->n_resources = _SCHED_RES_MAX;
        ret->shared_pool = s->pool_text;
        ret->numa_nodes = t->n_nodes;
        ret->cpu_cores = t->n_cores;
        ret->smt_width = t->smt_width;
        ret->hugepages_2m = t->hugepages_2m;
        ret->hugepages_1g = t->hugepages_1g;
        ret->placements = s->placements;
        ret->n_placements = n;
        ret->under_pressure = s->evict.under_pressure;
}

/* ---- eviction ---- */

static int read_root_file(const char *root, const char *rel, char *buf, size_t size)
{
        char path[4200];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%s", streq(root, "/") ? "" : root, rel);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

static int ms_pressure(ManagerSched *s, SchedPressure *p)
{
        char buf[4096], *q;
        unsigned a = 0, b = 0;
        unsigned long long kb;

        *p = (SchedPressure){ .memory_available = UINT64_MAX };
        if (read_root_file(s->root, "proc/pressure/memory", buf, sizeof(buf)) >= 0 &&
            (q = strstr(buf, "some avg10=")) && sscanf(q, "some avg10=%u.%u", &a, &b) >= 1)
                p->psi_some_avg10 = a * 100 + (b % 100);
        if (read_root_file(s->root, "proc/meminfo", buf, sizeof(buf)) >= 0 && (q = strstr(buf, "MemAvailable:")) &&
            sscanf(q, "MemAvailable: %llu kB", &kb) == 1)
                p->memory_available = (uint64_t)kb * 1024;
        return 0;
}

static int on_evict_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        ManagerSched *s = m->sched;
        SchedPressure p;
        char reason[SCHED_REASON_MAX];
        uint32_t victim;
        bool was = s->evict.under_pressure;

        (void)ms_pressure(s, &p);
        bool now = sched_eviction_tick(s->ledger, &s->evict, &p, &victim, reason, sizeof(reason));
        if (now != was) {
                log_notice("scheduler: memory pressure %s%s%s", now ? "started: " : "ended", now ? reason : "", "");
                manager_emit(m, now ? "pressure-started" : "pressure-ended", NULL, now ? reason : NULL);
        }
        if (now && victim != SCHED_ID_NONE) {
                ms_victim_kill(m, victim, "evicted", reason);
                ms_apply_all(m, false);
        }
        (void)sd_event_source_set_time_relative(es, m->config->sched.evict_interval_usec);
        return 0;
}

/* ---- life cycle ---- */

int manager_sched_new(Manager *m)
{
        const ConfigSched *cs = &m->config->sched;
        _cleanup_free_ SchedTopology *t = calloc(1, sizeof(*t));
        ManagerSched *s;
        SchedConfig c;
        const char *what = NULL;
        int r;

        if (!t)
                return -ENOMEM;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        snprintf(s->root, sizeof(s->root), "%s", cs->topology_root ?: "/");
        r = sched_topology_discover(s->root, t);
        if (r < 0) {
                free(s);
                log_warning_errno(r, "scheduler: cannot read the CPU and memory topology under %s, admitting "
                                     "every workload: %m", cs->topology_root);
                return 0;
        }
        sched_config_init(&c);
        c.system_reserved_cpu_millis = cs->reserved_cpu_millis[0];
        c.berth_reserved_cpu_millis = cs->reserved_cpu_millis[1];
        c.system_reserved_memory_bytes = cs->reserved_memory_bytes[0];
        c.berth_reserved_memory_bytes = cs->reserved_memory_bytes[1];
        for (int i = 0; i < 2; i++)
                for (int q = 0; q < 3; q++)
                        c.overcommit[i][q] = cs->overcommit[i][q];
        c.vm_overhead_memory_bytes = cs->vm_overhead_memory_bytes;
        c.vm_overhead_cpu_millis = cs->vm_overhead_cpu_millis;
        c.sibling_policy = (SchedSiblingPolicy)cs->siblings;
        c.shared_pool_min_cpus = cs->pool_min_cpus;
        c.evict_psi_high = cs->psi_high;
        c.evict_psi_low = cs->psi_low;
        c.evict_available_low = cs->available_low;
        c.evict_available_high = cs->available_high;
        r = sched_config_check(&c, &what);
        if (r >= 0)
                r = sched_ledger_new(t, &c, SCHED_LEDGER_SLOTS, &s->ledger);
        if (r < 0) {
                free(s);
                return log_error_errno(r, "scheduler: bad configuration (%s): %m", what ?: "ledger");
        }
        if (cgroup_detect(m->config->cgroup_root, &s->cg) < 0)
                s->cg = NULL;
        m->sched = s;
        if (c.evict_psi_high || c.evict_available_low) {
                r = sd_event_add_time_relative(m->event, &s->evict_timer, CLOCK_MONOTONIC, cs->evict_interval_usec,
                                               10 * USEC_PER_MSEC, on_evict_timer, m);
                if (r < 0)
                        return log_error_errno(r, "scheduler: cannot arm the eviction timer: %m");
                (void)sd_event_source_set_enabled(s->evict_timer, SD_EVENT_ON);
                (void)sd_event_source_set_description(s->evict_timer, "sched-evict");
        }
        log_info("scheduler: %u CPUs (%u cores, SMT %u), %u NUMA node%s, %" PRIu64 " MiB; sibling policy %s",
                 cpuset_count(&t->online), t->n_cores, t->smt_width, t->n_nodes, t->n_nodes == 1 ? "" : "s",
                 t->memory_bytes >> 20, sched_sibling_policy_to_string(c.sibling_policy));
        return 0;
}

void manager_sched_free(Manager *m)
{
        ManagerSched *s = m->sched;

        if (!s)
                return;
        s->evict_timer = sd_event_source_disable_unref(s->evict_timer);
        s->pin_timer = sd_event_source_disable_unref(s->pin_timer);
        free(s->pins);
        sched_ledger_free(s->ledger);
        free(s->pool);
        free(s->placements);
        free(s->cpusets);
        free(s->dry_victims);
        free(s);
        m->sched = NULL;
}

int manager_sched_rebuild(Manager *m)
{
        ManagerSched *s = m->sched;
        size_t booked = 0;

        if (!s)
                return 0;
        /* exclusive sets first, as they were found in the cgroups, then the rest */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < m->n_workloads; i++) {
                        MWorkload *w = m->workloads[i];
                        _cleanup_free_ char *cpus = NULL;
                        CpuSet set = {}, *setp = NULL;
                        SchedRequest req;
                        uint32_t id;

                        if (w->sched_slot || !manager_workload_is_active(w))
                                continue;
                        request_of(w->spec, &req);
                        bool may_be_exclusive = sched_qos_of(&req) == SCHED_QOS_GUARANTEED && req.cpu_request % 1000 == 0;
                        bool known = false; /* the cgroup told where it runs */
                        if (may_be_exclusive && s->cg &&
                            cgroup_get_cpuset(s->cg, m->config->cgroup_root, m->config->cgroup_parent, w->spec->name,
                                              &cpus) >= 0 &&
                            cpuset_parse(cpus, &set) >= 0) {
                                known = true;
                                if (cpuset_count(&set) * UINT64_C(1000) == req.cpu_request)
                                        setp = &set;
                        }
                        if ((pass == 0) != (setp != NULL))
                                continue;
                        /* unknown (no cgroup): decide afresh; known shared: keep it shared */
                        if (sched_adopt(s->ledger, &req, setp ? setp : known ? &(CpuSet){} : NULL, &id) < 0)
                                continue;
                        w->sched_slot = id + 1;
                        booked++;
                }
        /* Then the created workloads (create-only), which hold their booking too:
         * they never ran, so it is decided afresh, and unlike what runs they are
         * not booked past what fits (a preempted or evicted one had lost it). */
        for (size_t i = 0; i < m->n_workloads; i++) {
                MWorkload *w = m->workloads[i];
                SchedRequest req;
                SchedDecision d = {};
                uint32_t id;

                if (w->sched_slot || !manager_workload_is_created(w))
                        continue;
                request_of(w->spec, &req);
                if (sched_decide(s->ledger, &req, SCHED_ID_NONE, &d) < 0 || d.verdict != SCHED_ADMIT) {
                        wlog_notice(w->spec->name,
                                    "created workload not booked again: %s (its start is admitted "
                                    "afresh)",
                                    d.reason[0] ? d.reason : "it does not fit");
                        continue;
                }
                if (sched_commit(s->ledger, &req, &d, SCHED_ID_NONE, &id) < 0)
                        continue;
                w->sched_slot = id + 1;
                booked++;
        }
        ms_apply_all(m, true);
        if (booked)
                log_info("scheduler: ledger rebuilt with %zu running or created workload%s", booked,
                         booked == 1 ? "" : "s");
        return 0;
}
