/* SPDX-License-Identifier: Apache-2.0 */
/* Strict YAML reader: libyaml events -> jansson tree.
 *
 * Only the part of YAML a workload document needs is accepted: one
 * document, block or flow mappings and sequences, scalars. Anchors,
 * aliases, merge keys, tags, %TAG directives, duplicate keys, NUL bytes
 * and nesting deeper than SPEC_DEPTH_MAX are errors. Plain scalars resolve
 * per the YAML 1.2 core schema; quoted and block scalars are strings. */
#include <math.h>
#include <yaml.h>

#include "lib/spec-internal.h"

typedef struct YamlReader {
        yaml_parser_t parser;
        bool parser_initialized;
        BerthError *err;
} YamlReader;

static void yaml_event_deletep(yaml_event_t *ev)
{
        yaml_event_delete(ev);
}
#define _cleanup_yaml_event_ _cleanup_(yaml_event_deletep)

static int reader_next(YamlReader *y, yaml_event_t *ev)
{
        if (yaml_parser_parse(&y->parser, ev))
                return 0;
        /* libyaml leaves ev zeroed on failure; deleting it is harmless. */
        if (y->parser.error == YAML_MEMORY_ERROR)
                return berth_error_set(y->err, -ENOMEM, "", "out of memory while reading YAML");
        return berth_error_set(y->err, -EINVAL, "", "invalid YAML: %s%s%s at line %zu, column %zu",
                               strempty(y->parser.problem), y->parser.context ? " " : "",
                               strempty(y->parser.context), y->parser.problem_mark.line + 1,
                               y->parser.problem_mark.column + 1);
}

static int mark_error(YamlReader *y, const yaml_mark_t *m, const char *path, const char *what)
{
        return berth_error_set(y->err, -EINVAL, path, "%s (line %zu, column %zu)", what, m->line + 1,
                               m->column + 1);
}

static bool matches_charset(const char *s, size_t len, const char *set)
{
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!strchr(set, s[i]) || s[i] == 0)
                        return false;
        return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_core_float(const char *s)
{
        const char *p = s;
        bool mantissa = false;

        if (*p == '-' || *p == '+')
                p++;
        while (*p >= '0' && *p <= '9') {
                p++;
                mantissa = true;
        }
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9') {
                        p++;
                        mantissa = true;
                }
        }
        if (!mantissa)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '-' || *p == '+')
                        p++;
                if (!(*p >= '0' && *p <= '9'))
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        return *p == 0;
}

static int resolve_plain(YamlReader *y, const char *s, size_t len, const yaml_mark_t *m, const char *path,
                         json_t **ret)
{
        const char *digits = s;
        int base = 0;

        if (len == 0 || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL")) {
                *ret = json_null();
                return 0;
        }
        if (streq(s, "true") || streq(s, "True") || streq(s, "TRUE")) {
                *ret = json_true();
                return 0;
        }
        if (streq(s, "false") || streq(s, "False") || streq(s, "FALSE")) {
                *ret = json_false();
                return 0;
        }

        if (strncmp(s, "0o", 2) == 0 && matches_charset(s + 2, len - 2, "01234567")) {
                base = 8;
                digits = s + 2;
        } else if (strncmp(s, "0x", 2) == 0 && matches_charset(s + 2, len - 2, "0123456789abcdefABCDEF")) {
                base = 16;
                digits = s + 2;
        } else if (matches_charset(s + (s[0] == '-' || s[0] == '+'), len - (s[0] == '-' || s[0] == '+'),
                                   "0123456789"))
                base = 10;
        if (base != 0) {
                char *end;
                long long v;

                errno = 0;
                v = strtoll(digits, &end, base);
                if (errno == ERANGE || *end)
                        return mark_error(y, m, path, "integer out of range");
                *ret = json_integer(v);
                return *ret ? 0 : -ENOMEM;
        }

        if (is_core_float(s)) {
                double d;

                errno = 0;
                d = strtod(s, NULL);
                if (!isfinite(d))
                        return mark_error(y, m, path, "number out of range");
                *ret = json_real(d);
                return *ret ? 0 : -ENOMEM;
        }
        if (streq(s, ".inf") || streq(s, ".Inf") || streq(s, ".INF") || streq(s, "+.inf") ||
            streq(s, "+.Inf") || streq(s, "+.INF") || streq(s, "-.inf") || streq(s, "-.Inf") ||
            streq(s, "-.INF") || streq(s, ".nan") || streq(s, ".NaN") || streq(s, ".NAN"))
                return mark_error(y, m, path, "infinity and NaN are not supported");

        *ret = json_stringn(s, len);
        return *ret ? 0 : -ENOMEM;
}

static int check_node_props(YamlReader *y, const yaml_mark_t *m, const char *path, const yaml_char_t *anchor,
                            const yaml_char_t *tag)
{
        if (anchor)
                return mark_error(y, m, path, "YAML anchors are not allowed");
        if (tag)
                return mark_error(y, m, path, "YAML tags are not allowed");
        return 0;
}

static int check_scalar_bytes(YamlReader *y, const yaml_event_t *ev, const char *path)
{
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;

        if (memchr(v, 0, len))
                return mark_error(y, &ev->start_mark, path, "NUL bytes are not allowed");
        if (!spec_utf8_is_valid(v, len))
                return mark_error(y, &ev->start_mark, path, "invalid UTF-8");
        return 0;
}

static int read_node(YamlReader *y, yaml_event_t *ev, unsigned depth, const char *path, json_t **ret);

static int read_mapping(YamlReader *y, const yaml_event_t *start, unsigned depth, const char *path,
                        json_t **ret)
{
        _cleanup_json_ json_t *obj = NULL;
        int r;

        obj = json_object();
        if (!obj)
                return -ENOMEM;
        for (;;) {
                _cleanup_yaml_event_ yaml_event_t kev = {}, vev = {};
                char child[SPEC_PATH_MAX];
                json_t *value = NULL;
                const char *key;

                r = reader_next(y, &kev);
                if (r < 0)
                        return r;
                if (kev.type == YAML_MAPPING_END_EVENT)
                        break;
                if (kev.type == YAML_ALIAS_EVENT)
                        return mark_error(y, &kev.start_mark, path, "YAML aliases are not allowed");
                if (kev.type != YAML_SCALAR_EVENT)
                        return mark_error(y, &kev.start_mark, path, "mapping keys must be plain strings");
                r = check_node_props(y, &kev.start_mark, path, kev.data.scalar.anchor, kev.data.scalar.tag);
                if (r < 0)
                        return r;
                r = check_scalar_bytes(y, &kev, path);
                if (r < 0)
                        return r;
                key = (const char *)kev.data.scalar.value;
                spec_path_key(child, sizeof(child), path, key);
                if (kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && streq(key, "<<"))
                        return mark_error(y, &kev.start_mark, child, "YAML merge keys are not allowed");
                if (json_object_get(obj, key))
                        return mark_error(y, &kev.start_mark, child, "duplicate key");

                r = reader_next(y, &vev);
                if (r < 0)
                        return r;
                r = read_node(y, &vev, depth, child, &value);
                if (r < 0)
                        return r;
                if (json_object_set_new(obj, key, value) < 0)
                        return -ENOMEM;
        }
        (void)start;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int read_sequence(YamlReader *y, unsigned depth, const char *path, json_t **ret)
{
        _cleanup_json_ json_t *arr = NULL;
        int r;

        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0;; i++) {
                _cleanup_yaml_event_ yaml_event_t ev = {};
                char child[SPEC_PATH_MAX];
                json_t *value = NULL;

                r = reader_next(y, &ev);
                if (r < 0)
                        return r;
                if (ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                spec_path_index(child, sizeof(child), path, i);
                r = read_node(y, &ev, depth, child, &value);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, value) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

/* ev is the first event of the node; consumes the rest of it. */
static int read_node(YamlReader *y, yaml_event_t *ev, unsigned depth, const char *path, json_t **ret)
{
        int r;

        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return mark_error(y, &ev->start_mark, path, "YAML aliases are not allowed");
        case YAML_SCALAR_EVENT:
                r = check_node_props(y, &ev->start_mark, path, ev->data.scalar.anchor, ev->data.scalar.tag);
                if (r < 0)
                        return r;
                r = check_scalar_bytes(y, ev, path);
                if (r < 0)
                        return r;
                if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                        return resolve_plain(y, (const char *)ev->data.scalar.value, ev->data.scalar.length,
                                             &ev->start_mark, path, ret);
                *ret = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
                return *ret ? 0 : -ENOMEM;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT: {
                bool mapping = ev->type == YAML_MAPPING_START_EVENT;

                r = check_node_props(y, &ev->start_mark, path,
                                     mapping ? ev->data.mapping_start.anchor
                                             : ev->data.sequence_start.anchor,
                                     mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
                if (r < 0)
                        return r;
                if (depth + 1 > SPEC_DEPTH_MAX)
                        return berth_error_set(y->err, -EINVAL, path, "nesting deeper than %d levels",
                                               SPEC_DEPTH_MAX);
                return mapping ? read_mapping(y, ev, depth + 1, path, ret)
                               : read_sequence(y, depth + 1, path, ret);
        }
        default:
                return mark_error(y, &ev->start_mark, path, "unexpected YAML event");
        }
}

static void reader_done(YamlReader *y)
{
        if (y->parser_initialized)
                yaml_parser_delete(&y->parser);
}

int spec_yaml_to_json(const char *buf, size_t len, json_t **ret, BerthError *err)
{
        _cleanup_(reader_done) YamlReader y = {.err = err};
        _cleanup_json_ json_t *root = NULL;
        int r;

        if (!buf)
                return berth_error_set(err, -EINVAL, "", "no document");
        if (len > SPEC_BODY_MAX)
                return berth_error_set(err, -E2BIG, "", "document is larger than %d bytes", SPEC_BODY_MAX);
        if (memchr(buf, 0, len))
                return berth_error_set(err, -EINVAL, "", "NUL bytes are not allowed");
        if (!yaml_parser_initialize(&y.parser))
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        y.parser_initialized = true;
        /* Only UTF-8: no silent acceptance of UTF-16 byte order marks. */
        yaml_parser_set_encoding(&y.parser, YAML_UTF8_ENCODING);
        yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf, len);

        for (unsigned state = 0;;) { /* 0: before document, 1: read one, 2: done */
                _cleanup_yaml_event_ yaml_event_t ev = {};

                r = reader_next(&y, &ev);
                if (r < 0)
                        return r;
                switch (ev.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        continue;
                case YAML_STREAM_END_EVENT:
                        state = 2;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (state != 0)
                                return mark_error(&y, &ev.start_mark, "",
                                                  "more than one YAML document; exactly one is expected");
                        if (ev.data.document_start.tag_directives.start !=
                            ev.data.document_start.tag_directives.end)
                                return mark_error(&y, &ev.start_mark, "", "%TAG directives are not allowed");
                        {
                                _cleanup_yaml_event_ yaml_event_t node = {};
                                r = reader_next(&y, &node);
                                if (r < 0)
                                        return r;
                                r = read_node(&y, &node, 0, "", &root);
                                if (r < 0)
                                        return r;
                        }
                        state = 1;
                        continue;
                default:
                        return mark_error(&y, &ev.start_mark, "", "unexpected YAML event");
                }
                if (state == 2)
                        break;
        }
        if (!root || json_is_null(root))
                return berth_error_set(err, -EINVAL, "", "empty document");
        *ret = TAKE_PTR(root);
        return 0;
}

int spec_parse_yaml(const char *buf, size_t len, Spec **ret, BerthError *err)
{
        _cleanup_json_ json_t *root = NULL;
        int r;

        r = spec_yaml_to_json(buf, len, &root, err);
        if (r < 0)
                return r;
        return spec_from_json(root, ret, err);
}
