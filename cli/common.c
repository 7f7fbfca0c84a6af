/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <stdarg.h>

#include "cli/berthctl.h"
#include "cli/yaml-out.h"

int usage_error(const Berthctl *ctx, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "berthctl%s%s: ", ctx->verb ? " " : "", strempty(ctx->verb));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nRun 'berthctl%s%s --help' for usage.\n", ctx->verb ? " " : "",
                strempty(ctx->verb));
        return EXIT_USAGE;
}

int usage_getopt_error(const Berthctl *ctx, int c, char **argv)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (c == ':') {
                if (optopt > 0 && optopt < 128 && !(arg[0] == '-' && arg[1] == '-'))
                        return usage_error(ctx, "flag -%c needs a value", optopt);
                return usage_error(ctx, "flag %.*s needs a value", (int)strcspn(arg, "="), arg);
        }
        if (optopt > 0 && optopt < 128)
                return usage_error(ctx, "unknown flag -%c", optopt);
        return usage_error(ctx, "unknown flag %.*s", (int)strcspn(arg, "="), arg);
}

int verb_common_option(Berthctl *ctx, int c, const char *help, int *exit_code)
{
        switch (c) {
        case 'h':
                fputs(help, stdout);
                *exit_code = EXIT_OK;
                return 1;
        case 'S':
                ctx->socket_path = optarg;
                *exit_code = -1;
                return 1;
        default:
                return 0;
        }
}

int output_format_parse(const Berthctl *ctx, const char *s, unsigned mask, OutputFormat *ret)
{
        static const char *const names[_OUTPUT_FORMAT_MAX] = {
            [OUTPUT_HUMAN] = "human",
            [OUTPUT_JSON] = "json",
            [OUTPUT_YAML] = "yaml",
        };

        for (int i = 0; i < _OUTPUT_FORMAT_MAX; i++)
                if ((mask & (1u << i)) && streq(s, names[i])) {
                        *ret = (OutputFormat)i;
                        return 0;
                }
        usage_error(ctx, "unknown output format \"%s\" for -o (allowed: %s%s%s)", s,
                    mask & (1u << OUTPUT_JSON) ? "json" : "", mask & (1u << OUTPUT_YAML) ? ", yaml" : "",
                    mask & (1u << OUTPUT_HUMAN) ? ", human" : "");
        return -EINVAL;
}

char *format_age(char *buf, size_t size, usec_t then, usec_t now)
{
        usec_t d;

        if (then == 0) {
                snprintf(buf, size, "-");
                return buf;
        }
        d = now > then ? (now - then) / USEC_PER_SEC : 0;
        if (d < 60)
                snprintf(buf, size, "%us ago", (unsigned)d);
        else if (d < 3600)
                snprintf(buf, size, "%um ago", (unsigned)(d / 60));
        else if (d < 86400)
                snprintf(buf, size, "%uh ago", (unsigned)(d / 3600));
        else
                snprintf(buf, size, "%ud ago", (unsigned)(d / 86400));
        return buf;
}

char *format_age_json(char *buf, size_t size, const json_t *t, usec_t now)
{
        usec_t u;

        if (!json_is_string(t) || parse_rfc3339(json_string_value(t), &u) < 0)
                u = 0;
        return format_age(buf, size, u, now);
}

int print_json(const json_t *j)
{
        if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                return -EIO;
        fputc('\n', stdout);
        return 0;
}

int print_yaml(const json_t *j)
{
        _cleanup_free_ char *s = NULL;
        size_t len;
        int r;

        r = yaml_render(j, &s, &len);
        if (r < 0)
                return r;
        fwrite(s, 1, len, stdout);
        return 0;
}

int verb_one_name(const Berthctl *ctx, int argc, char **argv, const char **ret)
{
        if (optind >= argc)
                return usage_error(ctx, "missing NAME");
        if (optind + 1 < argc)
                return usage_error(ctx, "too many arguments (\"%s\"): expected one NAME", argv[optind + 1]);
        *ret = argv[optind];
        return 0;
}

char *url_escape(const char *s)
{
        char *e = curl_easy_escape(NULL, s, 0);
        char *r;

        if (!e)
                return NULL;
        r = strdup(e);
        curl_free(e);
        return r;
}
