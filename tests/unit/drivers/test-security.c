/* SPDX-License-Identifier: Apache-2.0 */
/* Hardening policy: spec.security / spec.healthCheck / resource extras
 * (validation, field paths, round trip), the capability set arithmetic and
 * the seccomp filter build (drivers/shim/shim-security.c). The policy as
 * enforced in a real container is tested by tests/integration/harden-*.sh. */
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "drivers/shim/shim-security.h"
#include "lib/spec.h"
#include "tests/unit/lib/tap.h"

#define HEAD "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"rootfs\":\"/r\",\"command\":[\"/bin/true\"]"

static int parse(const char *extra, Spec **ret, BerthError *err)
{
        char buf[4096];

        snprintf(buf, sizeof(buf), HEAD "%s}}", extra);
        return spec_parse_json(buf, strlen(buf), ret, err);
}

static void bad(const char *extra, const char *field)
{
        BerthError err = {};
        Spec *s = NULL;
        int r = parse(extra, &s, &err);

        tap_ok(r < 0 && streq(err.field, field), "rejects %s at %s (got %d at \"%s\": %s)", extra, field, r,
               err.field, err.message);
        spec_free(s);
}

static void test_spec(void)
{
        BerthError err = {};
        Spec *s = NULL, *d;
        json_t *j, *again;
        char *txt;
        int r;

        r = parse(",\"security\":{\"capabilities\":{\"add\":[\"net_admin\",\"CAP_SYS_TIME\"],\"drop\":[\"ALL\"]},"
                  "\"seccomp\":\"unconfined\",\"userNamespace\":true},"
                  "\"healthCheck\":{\"exec\":[\"/bin/true\"],\"interval\":\"500ms\",\"timeout\":2,\"retries\":2},"
                  "\"resources\":{\"memory\":\"64Mi\",\"memoryHigh\":\"48Mi\",\"swap\":\"16Mi\",\"cpuWeight\":200,"
                  "\"ioWeight\":50}",
                  &s, &err);
        tap_ok(r == 0, "full security document parses (%s: %s)", err.field, err.message);
        if (r < 0)
                return;
        tap_ok(streq(s->security.cap_add[0], "NET_ADMIN") && streq(s->security.cap_add[1], "SYS_TIME") &&
                       !s->security.cap_add[2], "capability names are canonical");
        tap_ok(s->security.seccomp == SECCOMP_MODE_UNCONFINED && s->security.user_namespace, "seccomp + userns");
        tap_ok(s->health.kind == HEALTH_CHECK_EXEC && s->health.interval == 500 * USEC_PER_MSEC &&
                       s->health.timeout == 2 * USEC_PER_SEC && s->health.retries == 2, "health check fields");
        tap_ok(s->memory_high_bytes == 48 << 20 && s->swap_bytes == 16 << 20 && s->cpu_weight == 200 &&
                       s->io_weight == 50, "resource extras");
        j = spec_to_json(s);
        txt = json_dumps(j, JSON_COMPACT);
        d = NULL;
        r = spec_from_json(j, &d, &err);
        tap_ok(r == 0 && d && streq(d->security.cap_drop[0], "ALL") && d->health.interval == s->health.interval &&
                       d->swap_bytes == s->swap_bytes, "round trip through spec_to_json: %s", txt);
        again = d ? spec_to_json(d) : NULL;
        tap_ok(again && json_equal(j, again), "canonical form is stable");
        json_decref(again);
        free(txt);
        json_decref(j);
        spec_free(d);
        d = spec_dup(s);
        tap_ok(d && d->security.cap_add != s->security.cap_add && streq(d->health.exec[0], "/bin/true"),
               "spec_dup deep-copies");
        spec_free(d);
        spec_free(s);

        s = NULL;
        r = parse("", &s, &err);
        j = r == 0 ? spec_to_json(s) : NULL;
        tap_ok(j && !json_object_get(json_object_get(j, "spec"), "security") &&
                       !json_object_get(json_object_get(j, "spec"), "healthCheck"),
               "defaults leave the canonical document unchanged");
        json_decref(j);
        spec_free(s);

        s = NULL;
        r = parse(",\"healthCheck\":{\"tcp\":8080}", &s, &err);
        tap_ok(r == 0 && s->health.kind == HEALTH_CHECK_TCP && s->health.tcp_port == 8080 &&
                       s->health.interval == 10 * USEC_PER_SEC && s->health.retries == 3 &&
                       s->security.seccomp == SECCOMP_MODE_DEFAULT,
               "tcp health check with defaults");
        spec_free(s);

        bad(",\"security\":{\"capabilities\":{\"add\":[\"NET_ADMIN\",\"FLY\"]}}", "spec.security.capabilities.add[1]");
        bad(",\"security\":{\"capabilities\":{\"drop\":[3]}}", "spec.security.capabilities.drop[0]");
        bad(",\"security\":{\"capabilities\":{\"keep\":[]}}", "spec.security.capabilities.keep");
        bad(",\"security\":{\"seccomp\":\"strict\"}", "spec.security.seccomp");
        bad(",\"security\":{\"userNamespace\":\"yes\"}", "spec.security.userNamespace");
        bad(",\"security\":{\"privileges\":true}", "spec.security.privileges");
        bad(",\"healthCheck\":{\"interval\":\"1s\"}", "spec.healthCheck");
        bad(",\"healthCheck\":{\"tcp\":80,\"exec\":[\"/x\"]}", "spec.healthCheck");
        bad(",\"healthCheck\":{\"tcp\":70000}", "spec.healthCheck.tcp");
        bad(",\"healthCheck\":{\"exec\":[]}", "spec.healthCheck.exec");
        bad(",\"healthCheck\":{\"exec\":[\"/x\"],\"interval\":\"10 s\"}", "spec.healthCheck.interval");
        bad(",\"healthCheck\":{\"exec\":[\"/x\"],\"timeout\":\"1ms\"}", "spec.healthCheck.timeout");
        bad(",\"healthCheck\":{\"exec\":[\"/x\"],\"retries\":0}", "spec.healthCheck.retries");
        bad(",\"resources\":{\"cpuWeight\":0}", "spec.resources.cpuWeight");
        bad(",\"resources\":{\"ioWeight\":10001}", "spec.resources.ioWeight");
        bad(",\"resources\":{\"memoryHigh\":\"1Ki\"}", "spec.resources.memoryHigh");
        bad(",\"resources\":{\"swap\":\"1Gi\"}", "spec.resources.swap");
}

static void test_names(void)
{
        usec_t u;

        tap_ok(capability_from_name("SYS_ADMIN") == CAP_SYS_ADMIN, "SYS_ADMIN");
        tap_ok(capability_from_name("cap_chown") == CAP_CHOWN, "cap_chown");
        tap_ok(capability_from_name("CHECKPOINT_RESTORE") == CAP_CHECKPOINT_RESTORE, "last capability");
        tap_ok(capability_from_name("CAP_") < 0 && capability_from_name("ALL") < 0 && capability_from_name("") < 0,
               "non-names rejected");
        tap_ok(streq(capability_to_name(CAP_NET_RAW), "NET_RAW"), "to_name");
        tap_ok(parse_duration("250ms", &u) == 0 && u == 250 * USEC_PER_MSEC, "250ms");
        tap_ok(parse_duration("3", &u) == 0 && u == 3 * USEC_PER_SEC, "bare seconds");
        tap_ok(parse_duration("2m", &u) == 0 && u == 120 * USEC_PER_SEC, "2m");
        tap_ok(parse_duration("1d", &u) < 0 && parse_duration("-1s", &u) < 0 &&
                       parse_duration("99999999999999999999s", &u) == -ERANGE, "bad durations");
}

#define BIT(c) (UINT64_C(1) << (c))

static void test_caps(void)
{
        char *all[] = { (char *)"ALL", NULL };
        char *net[] = { (char *)"NET_ADMIN", NULL };
        char *raw[] = { (char *)"NET_RAW", (char *)"CHOWN", NULL };
        char *bogus[] = { (char *)"NOPE", NULL };
        uint64_t c;

        tap_ok(shim_default_caps() == UINT64_C(0xa80425fb), "default set is docker's 0xa80425fb (got %#llx)",
               (unsigned long long)shim_default_caps());
        tap_ok(shim_caps_compute(NULL, NULL, &c) == 0 && c == shim_default_caps(), "no change");
        tap_ok(shim_caps_compute(net, all, &c) == 0 && c == BIT(CAP_NET_ADMIN), "drop ALL, add NET_ADMIN");
        tap_ok(shim_caps_compute(NULL, raw, &c) == 0 && !(c & BIT(CAP_NET_RAW)) && !(c & BIT(CAP_CHOWN)) &&
                       (c & BIT(CAP_KILL)), "drop two");
        tap_ok(shim_caps_compute(all, NULL, &c) == 0 && (c & BIT(CAP_SYS_ADMIN)) && (c & BIT(CAP_BPF)), "add ALL");
        tap_ok(shim_caps_compute(net, net, &c) == 0 && !(c & BIT(CAP_NET_ADMIN)), "drop wins over add");
        tap_ok(shim_caps_compute(bogus, NULL, &c) == -EINVAL, "unknown name rejected");
}

static void test_seccomp(void)
{
        int def = shim_seccomp_rule_count(shim_default_caps());
        int admin = shim_seccomp_rule_count(shim_default_caps() | BIT(CAP_SYS_ADMIN) | BIT(CAP_SYS_PTRACE));

        tap_ok(def > 50, "default profile has %d rules", def);
        tap_ok(admin > 0 && admin < def - 20, "SYS_ADMIN + SYS_PTRACE relax it (%d rules)", admin);
}

/* Runs a classic BPF seccomp program as the kernel would, over the subset
 * libseccomp emits; counts the instructions it took. UINT32_MAX on an
 * instruction this runner does not know. */
static uint32_t bpf_run(const struct sock_filter *p, size_t n, const struct seccomp_data *d, unsigned *steps)
{
        uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};

        *steps = 0;
        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *i = &p[pc];
                uint32_t src = BPF_SRC(i->code) == BPF_X ? x : i->k;

                (*steps)++;
                switch (i->code) {
                case BPF_LD | BPF_W | BPF_ABS:
                        if (i->k + 4 > sizeof(*d))
                                return UINT32_MAX;
                        memcpy(&a, (const char *)d + i->k, 4);
                        continue;
                case BPF_LD | BPF_MEM:
                        a = mem[i->k % BPF_MEMWORDS];
                        continue;
                case BPF_LDX | BPF_MEM:
                        x = mem[i->k % BPF_MEMWORDS];
                        continue;
                case BPF_ST:
                        mem[i->k % BPF_MEMWORDS] = a;
                        continue;
                case BPF_STX:
                        mem[i->k % BPF_MEMWORDS] = x;
                        continue;
                case BPF_MISC | BPF_TAX:
                        x = a;
                        continue;
                case BPF_MISC | BPF_TXA:
                        a = x;
                        continue;
                case BPF_RET | BPF_K:
                        return i->k;
                case BPF_RET | BPF_A:
                        return a;
                case BPF_JMP | BPF_JA:
                        pc += i->k;
                        continue;
                }
                if (BPF_CLASS(i->code) == BPF_ALU) {
                        switch (BPF_OP(i->code)) {
                        case BPF_AND: a &= src; continue;
                        case BPF_OR: a |= src; continue;
                        case BPF_ADD: a += src; continue;
                        case BPF_SUB: a -= src; continue;
                        case BPF_LSH: a <<= src; continue;
                        case BPF_RSH: a >>= src; continue;
                        }
                        return UINT32_MAX;
                }
                if (BPF_CLASS(i->code) == BPF_JMP) {
                        bool t;
                        switch (BPF_OP(i->code)) {
                        case BPF_JEQ: t = a == src; break;
                        case BPF_JGT: t = a > src; break;
                        case BPF_JGE: t = a >= src; break;
                        case BPF_JSET: t = (a & src) != 0; break;
                        default: return UINT32_MAX;
                        }
                        pc += t ? i->jt : i->jf;
                        continue;
                }
                return UINT32_MAX;
        }
        return UINT32_MAX; /* fell off the end: the kernel refuses such a program */
}

/* The default profile as the kernel will run it: what it answers, and how
 * long its longest lookup is (a tree, not a list: the kernel runs it for
 * every syscall number at load). */
static void test_seccomp_program(void)
{
        ShimSecurity sec = { .caps = shim_default_caps(), .seccomp = true, .userns_sock = -EBADF,
                             .seccomp_fd = -EBADF };
        struct sock_filter prog[BPF_MAXINSNS];
        struct seccomp_data d = { .arch = AUDIT_ARCH_X86_64 };
        unsigned steps, longest = 0;
        bool known = true;
        ssize_t len;
        int fd;

        fd = shim_seccomp_memfd(&sec);
        tap_ok(fd >= 0, "the default filter compiles");
        if (fd < 0)
                return;
        len = read(fd, prog, sizeof(prog));
        close(fd);
        size_t n = len > 0 ? (size_t)len / sizeof(prog[0]) : 0;
        tap_ok(n > 0 && len % (ssize_t)sizeof(prog[0]) == 0, "%zu instructions", n);

        struct {
                int nr;
                uint64_t arg0;
                uint32_t want;
        } cases[] = {
                { SYS_read, 0, SECCOMP_RET_ALLOW },
                { SYS_openat, 0, SECCOMP_RET_ALLOW },
                { SYS_getpid, 0, SECCOMP_RET_ALLOW },
                { SYS_clone, SIGCHLD, SECCOMP_RET_ALLOW },
                { SYS_clone, CLONE_NEWNS | SIGCHLD, SECCOMP_RET_ERRNO | EPERM },
                { SYS_clone, CLONE_NEWUSER, SECCOMP_RET_ERRNO | EPERM },
                { SYS_clone3, 0, SECCOMP_RET_ERRNO | ENOSYS },
                { SYS_mount, 0, SECCOMP_RET_ERRNO | EPERM },
                { SYS_unshare, 0, SECCOMP_RET_ERRNO | EPERM },
                { SYS_keyctl, 0, SECCOMP_RET_ERRNO | EPERM },
                { SYS_ptrace, 0, SECCOMP_RET_ERRNO | EPERM },
                { SYS_kexec_load, 0, SECCOMP_RET_ERRNO | EPERM },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                d.nr = cases[i].nr;
                d.args[0] = cases[i].arg0;
                uint32_t got = bpf_run(prog, n, &d, &steps);
                tap_ok(got == cases[i].want, "syscall %d (arg0 %#llx): %#x, want %#x", cases[i].nr,
                       (unsigned long long)cases[i].arg0, got, cases[i].want);
        }
        d = (struct seccomp_data){ .arch = AUDIT_ARCH_I386, .nr = 1 };
        uint32_t got = bpf_run(prog, n, &d, &steps);
        tap_ok((got & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_KILL_THREAD ||
                       (got & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_KILL_PROCESS,
               "an i386 syscall is killed (%#x)", got);
        for (int nr = 0; nr < 512; nr++) {
                d = (struct seccomp_data){ .arch = AUDIT_ARCH_X86_64, .nr = nr };
                if (bpf_run(prog, n, &d, &steps) == UINT32_MAX)
                        known = false;
                if (nr != SYS_clone && steps > longest) /* clone: one test per namespace flag */
                        longest = steps;
        }
        tap_ok(known, "every syscall number gets an answer");
        /* a list of the ~60 refused syscalls takes ~70 steps for the last */
        tap_ok(longest <= 20, "the longest lookup takes %u instructions (a tree: <= 20)", longest);
}

int main(void)
{
        test_names();
        test_spec();
        test_caps();
        test_seccomp();
        test_seccomp_program();
        return tap_finish();
}
