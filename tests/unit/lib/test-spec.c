/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven tests of the spec module: one case per validation rule
 * (docs/SPEC.md), each checking the errno and the field path, plus
 * round-trips through spec_to_json() and spec_dup(). */
#include "lib/spec.h"
#include "tests/unit/lib/tap.h"

/* YAML building blocks. */
#define Y_HEAD "apiVersion: berth/v1\nkind: Workload\nmetadata:\n  name: web\nspec:\n"
#define Y_MIN "  rootfs: /srv/rootfs\n  command: [/bin/true]\n"
#define Y(extra) Y_HEAD Y_MIN extra

/* JSON cases are written with ' for " and converted at run time. */
#define J_HEAD "{'apiVersion':'berth/v1','kind':'Workload','metadata':{'name':'web'},"
#define J_MIN "'rootfs':'/srv/rootfs','command':['/bin/true']"
#define J(extra) J_HEAD "'spec':{" J_MIN extra "}}"

typedef enum Format { YAML, JSON } Format;

typedef struct Case {
        const char *what;
        Format format;
        const char *doc;
        int error;         /* 0: must parse */
        const char *field; /* expected field path; NULL: not checked */
} Case;

static const Case cases[] = {
    /* good documents */
    {"minimal yaml", YAML, Y(""), 0, NULL},
    {"minimal json", JSON, J(""), 0, NULL},
    {"full yaml", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {app: web}}\nspec:\n"
     "  isolation: container\n  rootfs: /srv/rootfs/busybox\n"
     "  command: [\"/bin/sh\", \"-c\", \"echo hello\"]\n  env: {GREETING: hi}\n  workingDir: /\n"
     "  resources: {cpu: 500m, memory: 128Mi, pids: 64}\n  restartPolicy: Never\n"
     "  network: {mode: none}\n",
     0, NULL},
    {"json numbers for sizes", JSON, J(",'resources':{'cpu':0.5,'memory':134217728,'pids':64}"), 0, NULL},
    {"json whole real memory", JSON, J(",'resources':{'memory':134217728.0}"), 0, NULL},
    {"yaml int memory", YAML, Y("  resources: {memory: 134217728}\n"), 0, NULL},
    {"yaml 1.5Gi", YAML, Y("  resources: {memory: 1.5Gi}\n"), 0, NULL},
    {"yaml float cpu", YAML, Y("  resources: {cpu: 0.25}\n"), 0, NULL},
    {"yaml int cpu", YAML, Y("  resources: {cpu: 2}\n"), 0, NULL},
    {"yaml exp memory", YAML, Y("  resources: {memory: 1e8}\n"), 0, NULL},
    {"null optional", YAML, Y("  env:\n  resources: ~\n"), 0, NULL},
    {"quoted env value", YAML, Y("  env: {PORT: \"8080\", _x1: ''}\n"), 0, NULL},
    {"explicit document markers", YAML, "---\n" Y("") "...\n", 0, NULL},
    {"hosts network", YAML, Y("  network: {mode: host}\n  restartPolicy: OnFailure\n  isolation: vm\n"), 0,
     NULL},
    {"flow and block scalars", YAML, Y("  env:\n    A: |\n      line\n    B: 'x'\n"), 0, NULL},

    /* unknown fields at every level */
    {"unknown top-level", YAML, Y("") "foo: 1\n", -EINVAL, "foo"},
    {"status not accepted", JSON, J_HEAD "'spec':{" J_MIN "},'status':{}}", -EINVAL, "status"},
    {"unknown metadata", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, annotations: {}}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.annotations"},
    {"unknown spec", YAML, Y("  bogus: 1\n"), -EINVAL, "spec.bogus"},
    {"unknown resources", YAML, Y("  resources: {gpu: 1}\n"), -EINVAL, "spec.resources.gpu"},
    {"unknown network", YAML, Y("  network: {bridge: br0}\n"), -EINVAL, "spec.network.bridge"},
    {"unknown json", JSON, J(",'x':1"), -EINVAL, "spec.x"},
    {"odd key path", JSON, J(",'a b':1"), -EINVAL, "spec[\"a b\"]"},

    /* duplicates */
    {"yaml duplicate key", YAML, Y("  rootfs: /other\n"), -EINVAL, "spec.rootfs"},
    {"yaml duplicate env", YAML, Y("  env: {A: x, A: y}\n"), -EINVAL, "spec.env.A"},
    {"json duplicate key", JSON, J(",'rootfs':'/x'"), -EINVAL, "spec.rootfs"},

    /* YAML features that are refused */
    {"anchor", YAML, Y("  env: &e {A: b}\n"), -EINVAL, "spec.env"},
    {"alias", YAML, Y("  workingDir: *x\n"), -EINVAL, "spec.workingDir"},
    {"anchor and alias", YAML, Y("  env: {A: &a x, B: *a}\n"), -EINVAL, "spec.env.A"},
    {"merge key", YAML, Y("  <<: {isolation: vm}\n"), -EINVAL, "spec[\"<<\"]"},
    {"tag !!str", YAML, Y("  workingDir: !!str /x\n"), -EINVAL, "spec.workingDir"},
    {"custom tag", YAML, Y("  env: !foo {A: b}\n"), -EINVAL, "spec.env"},
    {"tag directive", YAML, "%TAG !e! tag:example.com,2000:\n---\n" Y(""), -EINVAL, ""},
    {"two documents", YAML, Y("") "---\n" Y(""), -EINVAL, ""},
    {"empty input", YAML, "", -EINVAL, ""},
    {"comment only", YAML, "# nothing\n", -EINVAL, ""},
    {"empty document", YAML, "---\n...\n", -EINVAL, ""},
    {"not a mapping", YAML, "- a\n- b\n", -EINVAL, ""},
    {"json not an object", JSON, "['a']", -EINVAL, ""},
    {"json trailing garbage", JSON, J("") "x", -EINVAL, ""},
    {"yaml syntax error", YAML, Y("  env: {A: [\n"), -EINVAL, ""},
    {"yaml int overflow", YAML, Y("  resources: {memory: 99999999999999999999}\n"), -EINVAL,
     "spec.resources.memory"},
    {"yaml .inf", YAML, Y("  resources: {cpu: .inf}\n"), -EINVAL, "spec.resources.cpu"},
    {"complex key", YAML, Y("  ? [a]\n  : b\n"), -EINVAL, "spec"},

    /* apiVersion, kind, required fields */
    {"wrong apiVersion", YAML, "apiVersion: v1\nkind: Workload\nmetadata: {name: web}\nspec:\n" Y_MIN,
     -EINVAL, "apiVersion"},
    {"missing apiVersion", YAML, "kind: Workload\nmetadata: {name: web}\nspec:\n" Y_MIN, -EINVAL,
     "apiVersion"},
    {"wrong kind", YAML, "apiVersion: berth/v1\nkind: Pod\nmetadata: {name: web}\nspec:\n" Y_MIN, -EINVAL,
     "kind"},
    {"missing metadata", YAML, "apiVersion: berth/v1\nkind: Workload\nspec:\n" Y_MIN, -EINVAL, "metadata"},
    {"missing name", YAML, "apiVersion: berth/v1\nkind: Workload\nmetadata: {}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.name"},
    {"missing spec", YAML, "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web}\n", -EINVAL, "spec"},
    {"missing rootfs", YAML, Y_HEAD "  command: [/bin/true]\n", -EINVAL, "spec.rootfs"},
    {"missing command", YAML, Y_HEAD "  rootfs: /r\n", -EINVAL, "spec.command"},
    {"empty command", YAML, Y_HEAD "  rootfs: /r\n  command: []\n", -EINVAL, "spec.command"},
    {"empty program", YAML, Y_HEAD "  rootfs: /r\n  command: ['']\n", -EINVAL, "spec.command[0]"},
    {"command not a list", YAML, Y_HEAD "  rootfs: /r\n  command: /bin/true\n", -EINVAL, "spec.command"},
    {"command int entry", YAML, Y_HEAD "  rootfs: /r\n  command: [/bin/echo, x, 1]\n", -EINVAL,
     "spec.command[2]"},
    {"image and rootfs", YAML, Y("  image: busybox\n"), -EINVAL, "spec.rootfs"},
    {"image empty", YAML, Y_HEAD "  image: ''\n", -EINVAL, "spec.image"},
    {"image not a string", YAML, Y_HEAD "  image: [a]\n", -EINVAL, "spec.image"},

    /* names */
    {"name uppercase", YAML, "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: Web}\nspec:\n" Y_MIN,
     -EINVAL, "metadata.name"},
    {"name leading dash", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: -web}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.name"},
    {"name trailing dash", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web-}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.name"},
    {"name underscore", YAML, "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: a_b}\nspec:\n" Y_MIN,
     -EINVAL, "metadata.name"},
    {"name 64 chars", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata:\n  name: "
     "a123456789012345678901234567890123456789012345678901234567890123\nspec:\n" Y_MIN,
     -EINVAL, "metadata.name"},
    {"name int", YAML, "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: 123}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.name"},

    /* NUL and UTF-8 */
    {"yaml NUL escape", YAML, Y_HEAD "  rootfs: /r\n  command: [\"a\\0b\"]\n", -EINVAL, "spec.command[0]"},
    {"yaml raw NUL", YAML, Y("  workingDir: /a\0b\n"), -EINVAL, ""},
    {"json NUL escape", JSON, J(",'workingDir':'/a\\u0000b'"), -EINVAL, ""},
    {"yaml bad utf-8", YAML, Y("  workingDir: /\xff\n"), -EINVAL, ""},
    {"yaml overlong utf-8", YAML, Y("  workingDir: /\xc0\xaf\n"), -EINVAL, ""},
    {"json bad utf-8", JSON, J(",'workingDir':'/\xff'"), -EINVAL, ""},
    {"json lone surrogate", JSON, J(",'workingDir':'/\\ud800'"), -EINVAL, ""},
    {"yaml utf-16 bom", YAML,
     "\xff\xfe"
     "a\0:\0 \0b\0",
     -EINVAL, ""},
    {"utf-8 ok", YAML, Y("  env: {GREETING: \"h\xc3\xa9llo \xf0\x9f\x9a\xa2\"}\n"), 0, NULL},

    /* quantities */
    {"memory bad suffix", YAML, Y("  resources: {memory: 12Xi}\n"), -EINVAL, "spec.resources.memory"},
    {"memory overflow", YAML, Y("  resources: {memory: 9999999999Ti}\n"), -EINVAL, "spec.resources.memory"},
    {"memory zero", YAML, Y("  resources: {memory: 0}\n"), -EINVAL, "spec.resources.memory"},
    {"memory negative", YAML, Y("  resources: {memory: -1}\n"), -EINVAL, "spec.resources.memory"},
    {"memory negative string", YAML, Y("  resources: {memory: -1Gi}\n"), -EINVAL, "spec.resources.memory"},
    {"memory half byte", YAML, Y("  resources: {memory: 0.5}\n"), -EINVAL, "spec.resources.memory"},
    {"memory 1.5 string", YAML, Y("  resources: {memory: '1.5'}\n"), -EINVAL, "spec.resources.memory"},
    {"memory below min", YAML, Y("  resources: {memory: 1Mi}\n"), -EINVAL, "spec.resources.memory"},
    {"memory above max", YAML, Y("  resources: {memory: 2Pi}\n"), -EINVAL, "spec.resources.memory"},
    {"memory bool", YAML, Y("  resources: {memory: true}\n"), -EINVAL, "spec.resources.memory"},
    {"json memory real fraction", JSON, J(",'resources':{'memory':1.5}"), -EINVAL, "spec.resources.memory"},
    {"json memory huge real", JSON, J(",'resources':{'memory':1e30}"), -EINVAL, "spec.resources.memory"},
    {"cpu zero", YAML, Y("  resources: {cpu: 0}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu zero millis", YAML, Y("  resources: {cpu: 0m}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu too many decimals", YAML, Y("  resources: {cpu: '0.0001'}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu fractional millis", YAML, Y("  resources: {cpu: 1.5m}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu above max", YAML, Y("  resources: {cpu: 4097}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu above max string", YAML, Y("  resources: {cpu: 4096001m}\n"), -EINVAL, "spec.resources.cpu"},
    {"cpu negative", YAML, Y("  resources: {cpu: -1}\n"), -EINVAL, "spec.resources.cpu"},
    {"json cpu 4 decimals", JSON, J(",'resources':{'cpu':0.1234}"), -EINVAL, "spec.resources.cpu"},
    {"pids zero", YAML, Y("  resources: {pids: 0}\n"), -EINVAL, "spec.resources.pids"},
    {"pids above max", YAML, Y("  resources: {pids: 4194305}\n"), -EINVAL, "spec.resources.pids"},
    {"pids string", YAML, Y("  resources: {pids: lots}\n"), -EINVAL, "spec.resources.pids"},

    /* paths */
    {"relative rootfs", YAML, Y_HEAD "  rootfs: srv/rootfs\n  command: [a]\n", -EINVAL, "spec.rootfs"},
    {"dotdot rootfs", YAML, Y_HEAD "  rootfs: /srv/../etc\n  command: [a]\n", -EINVAL, "spec.rootfs"},
    {"trailing dotdot", YAML, Y_HEAD "  rootfs: /srv/..\n  command: [a]\n", -EINVAL, "spec.rootfs"},
    {"relative workingDir", YAML, Y("  workingDir: tmp\n"), -EINVAL, "spec.workingDir"},
    {"dotdot workingDir", YAML, Y("  workingDir: /../x\n"), -EINVAL, "spec.workingDir"},
    {"dotted names are fine", YAML, Y("  workingDir: /a/..b/.c\n"), 0, NULL},

    /* env and labels */
    {"env name digit", YAML, Y("  env: {1FOO: x}\n"), -EINVAL, "spec.env[\"1FOO\"]"},
    {"env name dash", YAML, Y("  env: {FOO-BAR: x}\n"), -EINVAL, "spec.env[\"FOO-BAR\"]"},
    {"env name equals", JSON, J(",'env':{'A=B':'x'}"), -EINVAL, "spec.env[\"A=B\"]"},
    {"env unquoted int", YAML, Y("  env: {PORT: 8080}\n"), -EINVAL, "spec.env.PORT"},
    {"env bool", YAML, Y("  env: {DEBUG: true}\n"), -EINVAL, "spec.env.DEBUG"},
    {"env not a mapping", YAML, Y("  env: [A=b]\n"), -EINVAL, "spec.env"},
    {"label bad key", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {-bad: x}}\nspec:\n" Y_MIN,
     -EINVAL, "metadata.labels[\"-bad\"]"},
    {"label bad prefix", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {Ex.com/a: x}}\nspec:\n" Y_MIN,
     -EINVAL, "metadata.labels[\"Ex.com/a\"]"},
    {"label bad value", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {app: 'a b'}}\nspec:\n" Y_MIN,
     -EINVAL, "metadata.labels[\"app\"]"},
    {"label int value", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {app: 1}}\nspec:\n" Y_MIN, -EINVAL,
     "metadata.labels[\"app\"]"},
    {"label good", YAML,
     "apiVersion: berth/v1\nkind: Workload\nmetadata: {name: web, labels: {zz: '', "
     "app.kubernetes.io/name: We_b.1}}\nspec:\n" Y_MIN,
     0, NULL},

    /* enums */
    {"bad isolation", YAML, Y("  isolation: kvm\n"), -EINVAL, "spec.isolation"},
    {"bad restartPolicy", YAML, Y("  restartPolicy: never\n"), -EINVAL, "spec.restartPolicy"},
    {"bad network mode", YAML, Y("  network: {mode: wifi}\n"), -EINVAL, "spec.network.mode"},
    {"network not a mapping", YAML, Y("  network: none\n"), -EINVAL, "spec.network"},
};

static char *to_json_text(const char *s)
{
        char *j = strdup(s);
        for (char *p = j; *p; p++)
                if (*p == '\'')
                        *p = '"';
        return j;
}

static int parse(Format f, const char *doc, size_t len, Spec **ret, BerthError *err)
{
        return f == YAML ? spec_parse_yaml(doc, len, ret, err) : spec_parse_json(doc, len, ret, err);
}

static bool kv_eq(const KeyValue *a, size_t na, const KeyValue *b, size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i].key, b[i].key) || !streq(a[i].value, b[i].value))
                        return false;
        return true;
}

static bool spec_eq(const Spec *a, const Spec *b)
{
        if (!a || !b)
                return false;
        if (!streq_ptr(a->name, b->name) || !streq_ptr(a->rootfs, b->rootfs) ||
            !streq_ptr(a->working_dir, b->working_dir) || a->isolation != b->isolation ||
            a->cpu_millis != b->cpu_millis || a->memory_bytes != b->memory_bytes || a->pids != b->pids ||
            a->restart_policy != b->restart_policy || a->network != b->network ||
            a->n_command != b->n_command)
                return false;
        for (size_t i = 0; i < a->n_command; i++)
                if (!streq(a->command[i], b->command[i]))
                        return false;
        if (a->command[a->n_command] || b->command[b->n_command])
                return false;
        return kv_eq(a->labels, a->n_labels, b->labels, b->n_labels) &&
               kv_eq(a->env, a->n_env, b->env, b->n_env);
}

/* spec -> JSON text -> spec, and spec_dup(). */
static void check_round_trip(const char *what, const Spec *s)
{
        _cleanup_(spec_freep) Spec *back = NULL, *dup = NULL;
        _cleanup_free_ char *text = NULL;
        BerthError err = {};
        json_t *j;
        int r;

        j = spec_to_json(s);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        r = text ? spec_parse_json(text, strlen(text), &back, &err) : -ENOMEM;
        tap_ok(r == 0 && spec_eq(s, back), "%s: round-trips through spec_to_json (%d %s)", what, r,
               err.message);
        dup = spec_dup(s);
        tap_ok(spec_eq(s, dup), "%s: spec_dup equals the original", what);
}

static void run_case(const Case *c)
{
        _cleanup_(spec_freep) Spec *s = NULL;
        _cleanup_free_ char *doc = NULL;
        BerthError err = {};
        size_t len;
        int r;

        if (c->format == JSON) {
                doc = to_json_text(c->doc);
                len = strlen(doc);
        } else {
                doc = strdup(c->doc);
                /* Cases with embedded NUL bytes: length up to the terminating "\n". */
                len = strlen(doc);
                if (strstr(c->what, "raw NUL"))
                        len = strlen(c->doc) + 1 + strlen(c->doc + strlen(c->doc) + 1);
                if (strstr(c->what, "utf-16"))
                        len = 10;
                if (len != strlen(doc)) {
                        free(doc);
                        doc = malloc(len + 1);
                        memcpy(doc, c->doc, len);
                        doc[len] = 0;
                }
        }
        r = parse(c->format, doc, len, &s, &err);
        if (c->error == 0) {
                if (!tap_ok(r == 0 && s, "%s: accepted", c->what))
                        tap_diag("error %d field '%s': %s", r, err.field, err.message);
                if (r == 0)
                        check_round_trip(c->what, s);
                return;
        }
        if (!tap_ok(r == c->error && !s && err.error == c->error &&
                        (!c->field || streq(err.field, c->field)),
                    "%s: rejected with field '%s'", c->what, strempty(c->field)))
                tap_diag("got %d field '%s': %s", r, err.field, err.message);
        else
                tap_diag("  %s: %s", err.field, err.message);
}

static char *repeat_doc(const char *head, const char *item_fmt, size_t n, const char *tail)
{
        char *buf = NULL;
        size_t len = 0, cap = 0;

        buf_printf(&buf, &len, &cap, "%s", head);
        for (size_t i = 0; i < n; i++)
                buf_printf(&buf, &len, &cap, item_fmt, i == 0 ? "" : ",", i);
        buf_printf(&buf, &len, &cap, "%s", tail);
        return buf;
}

static void expect(const char *what, Format f, const char *doc, int error, const char *field)
{
        Case c = {what, f, doc, error, field};
        if (f == JSON) {
                /* run_case converts quotes; these docs are already real JSON. */
                _cleanup_(spec_freep) Spec *s = NULL;
                BerthError err = {};
                int r = spec_parse_json(doc, strlen(doc), &s, &err);
                if (!tap_ok(error ? (r == error && streq(err.field, field)) : r == 0, "%s", what))
                        tap_diag("got %d field '%s': %s", r, err.field, err.message);
                return;
        }
        run_case(&c);
}

static void test_caps(void)
{
        _cleanup_free_ char *args = NULL, *args_ok = NULL, *env = NULL, *labels = NULL, *long_arg = NULL,
                            *deep = NULL, *deep_json = NULL, *body = NULL;
        char *p;
        size_t n;

        /* A string of SPEC_STRING_MAX + 1 bytes. */
        long_arg = malloc(SPEC_STRING_MAX + 200);
        p = long_arg + sprintf(long_arg, "%s  rootfs: /r\n  command: [", Y_HEAD);
        memset(p, 'x', SPEC_STRING_MAX + 1);
        strcpy(p + SPEC_STRING_MAX + 1, "]\n");
        expect("string over SPEC_STRING_MAX", YAML, long_arg, -EINVAL, "spec.command[0]");

        args = repeat_doc("{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\"},"
                          "\"spec\":{\"rootfs\":\"/r\",\"command\":[",
                          "%s\"a%zu\"", SPEC_ARGS_MAX + 1, "]}}");
        expect("more than SPEC_ARGS_MAX args", JSON, args, -EINVAL, "spec.command");
        args_ok =
            repeat_doc("{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\"},"
                       "\"spec\":{\"rootfs\":\"/r\",\"command\":[",
                       "%s\"a%zu\"", SPEC_ARGS_MAX, "]}}");
        expect("exactly SPEC_ARGS_MAX args", JSON, args_ok, 0, NULL);
        env = repeat_doc("{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\"},"
                         "\"spec\":{\"rootfs\":\"/r\",\"command\":[\"a\"],\"env\":{",
                         "%s\"E%zu\":\"v\"", SPEC_ENV_MAX + 1, "}}}");
        expect("more than SPEC_ENV_MAX env", JSON, env, -EINVAL, "spec.env");
        labels = repeat_doc(
            "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\","
            "\"labels\":{",
            "%s\"l%zu\":\"v\"", SPEC_LABELS_MAX + 1, "}},\"spec\":{\"rootfs\":\"/r\",\"command\":[\"a\"]}}");
        expect("more than SPEC_LABELS_MAX labels", JSON, labels, -EINVAL, "metadata.labels");

        /* Nesting: 40 levels of lists under an unknown key. */
        deep = malloc(256);
        n = (size_t)sprintf(deep, "%s", "x: ");
        for (int i = 0; i < 40; i++)
                deep[n++] = '[';
        for (int i = 0; i < 40; i++)
                deep[n++] = ']';
        strcpy(deep + n, "\n");
        {
                _cleanup_(spec_freep) Spec *s = NULL;
                BerthError err = {};
                int r = spec_parse_yaml(deep, strlen(deep), &s, &err);
                tap_ok(r == -EINVAL && strstr(err.message, "nesting"), "yaml nesting deeper than %d: %s",
                       SPEC_DEPTH_MAX, err.message);
        }
        deep_json = malloc(256);
        n = (size_t)sprintf(deep_json, "%s", "{\"x\":");
        for (int i = 0; i < 40; i++)
                deep_json[n++] = '[';
        for (int i = 0; i < 40; i++)
                deep_json[n++] = ']';
        strcpy(deep_json + n, "}");
        {
                _cleanup_(spec_freep) Spec *s = NULL;
                BerthError err = {};
                int r = spec_parse_json(deep_json, strlen(deep_json), &s, &err);
                tap_ok(r == -EINVAL && strstr(err.message, "nesting"), "json nesting deeper than %d: %s",
                       SPEC_DEPTH_MAX, err.message);
        }

        /* Bodies over the cap: -E2BIG, field "". */
        body = malloc(SPEC_BODY_MAX + 2);
        memset(body, ' ', SPEC_BODY_MAX + 1);
        body[SPEC_BODY_MAX + 1] = 0;
        for (int f = YAML; f <= JSON; f++) {
                _cleanup_(spec_freep) Spec *s = NULL;
                BerthError err = {};
                int r = parse((Format)f, body, SPEC_BODY_MAX + 1, &s, &err);
                tap_ok(r == -E2BIG && err.error == -E2BIG && streq(err.field, ""),
                       "%s body over SPEC_BODY_MAX", f == YAML ? "yaml" : "json");
        }
}

static void test_values(void)
{
        _cleanup_(spec_freep) Spec *s = NULL, *t = NULL;
        BerthError err = {};
        json_t *j, *expected;
        const char *full = "apiVersion: berth/v1\nkind: Workload\n"
                           "metadata: {name: web, labels: {zz: z, app: web}}\nspec:\n"
                           "  rootfs: //srv//rootfs/./busybox/\n"
                           "  command: [\"/bin/sh\", \"-c\", \"echo hello\"]\n"
                           "  env: {Z: '1', A: hi}\n  workingDir: /tmp/\n"
                           "  resources: {cpu: 0.5, memory: 1.5Gi, pids: 64}\n  restartPolicy: Always\n"
                           "  network: {mode: host}\n";
        int r;

        r = spec_parse_yaml(full, strlen(full), &s, &err);
        if (!tap_ok(r == 0, "full document parses"))
                tap_diag("%s: %s", err.field, err.message);
        if (r < 0)
                return;
        tap_ok(streq(s->name, "web"), "name");
        tap_ok(streq(s->rootfs, "/srv/rootfs/busybox"), "rootfs normalised: %s", s->rootfs);
        tap_ok(streq(s->working_dir, "/tmp"), "workingDir normalised: %s", s->working_dir);
        tap_ok(s->n_command == 3 && streq(s->command[2], "echo hello") && !s->command[3], "command");
        tap_ok(s->n_env == 2 && streq(s->env[0].key, "Z") && streq(s->env[1].key, "A"),
               "env in document order");
        tap_ok(s->n_labels == 2 && streq(s->labels[0].key, "app") && streq(s->labels[1].key, "zz"),
               "labels sorted by key");
        tap_ok(s->cpu_millis == 500 && s->memory_bytes == 1610612736 && s->pids == 64, "resources");
        tap_ok(s->restart_policy == RESTART_ALWAYS && s->network == NETWORK_HOST &&
                   s->isolation == ISOLATION_CONTAINER,
               "enums");

        j = spec_to_json(s);
        expected =
            json_loads("{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\","
                       "\"labels\":{\"app\":\"web\",\"zz\":\"z\"}},\"spec\":{\"isolation\":\"container\","
                       "\"rootfs\":\"/srv/rootfs/busybox\",\"command\":[\"/bin/sh\",\"-c\",\"echo hello\"],"
                       "\"env\":{\"Z\":\"1\",\"A\":\"hi\"},\"workingDir\":\"/tmp\","
                       "\"resources\":{\"cpu\":\"500m\",\"memory\":\"1536Mi\",\"pids\":64},"
                       "\"restartPolicy\":\"Always\",\"network\":{\"mode\":\"host\"}}}",
                       0, NULL);
        tap_ok(j && expected && json_equal(j, expected), "canonical document");
        {
                _cleanup_free_ char *txt = json_dumps(j, JSON_COMPACT);
                const char *z = strstr(txt, "\"Z\""), *a = strstr(txt, "\"A\"");
                tap_ok(z && a && z < a, "canonical env keeps document order: %s", txt);
        }
        json_decref(expected);
        json_decref(j);

        /* Defaults made explicit. */
        r = spec_parse_yaml(Y(""), strlen(Y("")), &t, &err);
        tap_ok(r == 0 && t->isolation == ISOLATION_CONTAINER && streq(t->working_dir, "/") &&
                   t->restart_policy == RESTART_NEVER && t->network == NETWORK_NONE && t->cpu_millis == 0 &&
                   t->memory_bytes == 0 && t->pids == 0 && t->n_env == 0 && t->n_labels == 0,
               "defaults");
        j = r == 0 ? spec_to_json(t) : NULL;
        expected =
            json_loads("{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\","
                       "\"labels\":{}},\"spec\":{\"isolation\":\"container\",\"rootfs\":\"/srv/rootfs\","
                       "\"command\":[\"/bin/true\"],\"env\":{},\"workingDir\":\"/\",\"resources\":{},"
                       "\"restartPolicy\":\"Never\",\"network\":{\"mode\":\"none\"}}}",
                       0, NULL);
        tap_ok(j && expected && json_equal(j, expected), "canonical document with defaults");
        json_decref(expected);
        json_decref(j);

        /* The validator does not modify its input and accepts NULL err. */
        {
                _cleanup_(spec_freep) Spec *u = NULL;
                json_t *in = spec_to_json(s);
                json_t *copy = json_deep_copy(in);
                r = spec_from_json(in, &u, NULL);
                tap_ok(r == 0 && json_equal(in, copy), "spec_from_json leaves the tree alone");
                json_decref(in);
                json_decref(copy);
                tap_ok(spec_from_json(NULL, &u, NULL) == -EINVAL, "NULL tree, NULL err");
        }
}

static void test_yaml_to_json(void)
{
        const char *doc = "a: ~\nb: null\nc: true\nd: False\ne: 0x1f\nf: 0o17\ng: -12\nh: 1.5\ni: '1.5'\n"
                          "j: \"true\"\nk: 1e3\nl: hello world\nm:\nn: +7\no: .5\n";
        json_t *j = NULL, *expected;
        BerthError err = {};
        int r;

        r = spec_yaml_to_json(doc, strlen(doc), &j, &err);
        expected =
            json_loads("{\"a\":null,\"b\":null,\"c\":true,\"d\":false,\"e\":31,\"f\":15,\"g\":-12,\"h\":1.5,"
                       "\"i\":\"1.5\",\"j\":\"true\",\"k\":1000.0,\"l\":\"hello world\",\"m\":null,\"n\":7,"
                       "\"o\":0.5}",
                       0, NULL);
        if (!tap_ok(r == 0 && json_equal(j, expected), "core schema scalar resolution"))
                tap_diag("%d %s", r, err.message);
        json_decref(j);
        json_decref(expected);

        /* The reader itself refuses these, whatever the validator would say later. */
        static const struct {
                const char *doc, *field, *message;
        } refused[] = {
            {"a: 1\n<<: {b: 2}\n", "[\"<<\"]", "merge keys"},
            {"a: &x 1\n", "a", "anchors"},
            {"a: [*x]\n", "a[0]", "aliases"},
            {"a: !!str 1\n", "a", "tags"},
            {"a: !local {b: c}\n", "a", "tags"},
            {"a: {b: 1, b: 2}\n", "a.b", "duplicate"},
            {"a: 1\n---\nb: 2\n", "", "more than one"},
            {"a: \"x\\0y\"\n", "a", "NUL"},
            {"a: 0x10000000000000000\n", "a", "out of range"},
            {"a: 1e400\n", "a", "out of range"},
            {"a: .nan\n", "a", "NaN"},
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                BerthError e = {};
                json_t *out = NULL;
                int q = spec_yaml_to_json(refused[i].doc, strlen(refused[i].doc), &out, &e);
                if (!tap_ok(q == -EINVAL && !out && streq(e.field, refused[i].field) &&
                                strstr(e.message, refused[i].message),
                            "reader refuses %s", refused[i].message))
                        tap_diag("got %d field '%s': %s", q, e.field, e.message);
                json_decref(out);
        }
        {
                /* Quoted "<<" is an ordinary key. */
                json_t *out = NULL;
                tap_ok(spec_yaml_to_json("'<<': 1\n", 8, &out, NULL) == 0 && json_object_get(out, "<<"),
                       "quoted << is a plain key");
                json_decref(out);
        }
}

static void test_helpers(void)
{
        tap_ok(spec_name_is_valid("a") && spec_name_is_valid("web-1") && spec_name_is_valid("0") &&
                   !spec_name_is_valid("") && !spec_name_is_valid(NULL) && !spec_name_is_valid("a.b") &&
                   !spec_name_is_valid("-a"),
               "spec_name_is_valid");
        tap_ok(isolation_from_string("vm") == ISOLATION_VM &&
                   isolation_from_string("VM") == _ISOLATION_INVALID &&
                   streq(isolation_to_string(ISOLATION_CONTAINER), "container") &&
                   isolation_to_string(_ISOLATION_MAX) == NULL,
               "isolation strings");
        tap_ok(restart_policy_from_string("OnFailure") == RESTART_ON_FAILURE &&
                   restart_policy_from_string(NULL) == _RESTART_POLICY_INVALID &&
                   streq(restart_policy_to_string(RESTART_ALWAYS), "Always"),
               "restart policy strings");
        tap_ok(network_mode_from_string("host") == NETWORK_HOST &&
                   network_mode_from_string("bridge") == NETWORK_BRIDGE &&
                   network_mode_from_string("wifi") == _NETWORK_MODE_INVALID &&
                   streq(network_mode_to_string(NETWORK_NONE), "none"),
               "network mode strings");
        tap_ok(spec_free(NULL) == NULL && spec_dup(NULL) == NULL, "NULL-safe free and dup");
}

int main(void)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                run_case(&cases[i]);
        test_caps();
        test_values();
        test_yaml_to_json();
        test_helpers();
        return tap_finish();
}
