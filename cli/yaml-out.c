/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdarg.h>
#include <strings.h>

#include "cli/yaml-out.h"

typedef struct Out {
        char *buf;
        size_t len, cap;
} Out;

bool yaml_plain_ok(const char *s)
{
        static const char *const reserved[] = {"null", "~",  "true", "false", "yes",
                                               "no",   "on", "off",  "y",     "n"};
        size_t n = strlen(s);

        if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':')
                return false;
        /* First character: a letter, '/' or '_' (digits, '-', '.', '+' may read as numbers or indicators).
         */
        if (!isalpha((unsigned char)s[0]) && s[0] != '/' && s[0] != '_')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strcasecmp(s, reserved[i]) == 0)
                        return false;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char)*p;

                if (isalnum(c) || strchr("_-./@+=(),", c))
                        continue;
                if (c == ' ' && p[1] != '#' && p > s && p[-1] != ':')
                        continue;
                if (c == ':' && p[1] != ' ' && p[1] != 0)
                        continue;
                return false;
        }
        return true;
}

static int put(Out *o, const char *fmt, ...) _printf_(2, 3);
static int put(Out *o, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *s = NULL;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return buf_printf(&o->buf, &o->len, &o->cap, "%s", s);
}

static int put_indent(Out *o, unsigned indent)
{
        return put(o, "%*s", (int)indent, "");
}

static int put_string(Out *o, const char *s)
{
        _cleanup_free_ char *q = NULL;
        json_t *j;

        if (yaml_plain_ok(s))
                return put(o, "%s", s);
        j = json_string(s);
        if (!j)
                return -ENOMEM;
        q = json_dumps(j, JSON_ENCODE_ANY);
        json_decref(j);
        if (!q)
                return -ENOMEM;
        return put(o, "%s", q);
}

static int put_scalar(Out *o, const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_STRING:
                return put_string(o, json_string_value(j));
        case JSON_INTEGER:
                return put(o, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        case JSON_REAL:
                return put(o, "%.17g", json_real_value(j));
        case JSON_TRUE:
                return put(o, "true");
        case JSON_FALSE:
                return put(o, "false");
        case JSON_NULL:
                return put(o, "null");
        case JSON_OBJECT:
                return put(o, "{}");
        case JSON_ARRAY:
                return put(o, "[]");
        }
        return -EINVAL;
}

static bool is_collection(const json_t *j)
{
        return (json_is_object(j) && json_object_size(j) > 0) ||
               (json_is_array(j) && json_array_size(j) > 0);
}

static int render_object(Out *o, const json_t *j, unsigned indent, bool first_inline, unsigned depth);
static int render_array(Out *o, const json_t *j, unsigned indent, unsigned depth);

/* After "key:" or "-": a scalar on the same line, a collection below. */
static int render_value(Out *o, const json_t *v, unsigned indent, unsigned depth)
{
        int r;

        if (depth > 64)
                return -ELOOP;
        if (!is_collection(v)) {
                r = put(o, " ");
                if (r < 0)
                        return r;
                r = put_scalar(o, v);
                if (r < 0)
                        return r;
                return put(o, "\n");
        }
        r = put(o, "\n");
        if (r < 0)
                return r;
        if (json_is_object(v))
                return render_object(o, v, indent + 2, false, depth + 1);
        return render_array(o, v, indent + 2, depth + 1);
}

static int render_object(Out *o, const json_t *j, unsigned indent, bool first_inline, unsigned depth)
{
        const char *key;
        json_t *v;
        bool first = true;
        int r;

        json_object_foreach((json_t *)j, key, v)
        {
                if (!(first && first_inline)) {
                        r = put_indent(o, indent);
                        if (r < 0)
                                return r;
                }
                first = false;
                r = put_string(o, key);
                if (r < 0)
                        return r;
                r = put(o, ":");
                if (r < 0)
                        return r;
                r = render_value(o, v, indent, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int render_array(Out *o, const json_t *j, unsigned indent, unsigned depth)
{
        size_t i;
        json_t *v;
        int r;

        json_array_foreach(j, i, v)
        {
                r = put_indent(o, indent);
                if (r < 0)
                        return r;
                r = put(o, "-");
                if (r < 0)
                        return r;
                if (json_is_object(v) && json_object_size(v) > 0) {
                        r = put(o, " ");
                        if (r < 0)
                                return r;
                        r = render_object(o, v, indent + 2, true, depth + 1);
                } else
                        r = render_value(o, v, indent, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

int yaml_render(const json_t *j, char **ret, size_t *ret_len)
{
        Out o = {};
        int r;

        if (json_is_object(j) && json_object_size(j) > 0)
                r = render_object(&o, j, 0, false, 0);
        else if (json_is_array(j) && json_array_size(j) > 0)
                r = render_array(&o, j, 0, 0);
        else {
                r = put_scalar(&o, j);
                if (r >= 0)
                        r = put(&o, "\n");
        }
        if (r < 0) {
                free(o.buf);
                return r;
        }
        *ret = o.buf;
        *ret_len = o.len;
        return 0;
}
