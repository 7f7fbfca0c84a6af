/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl exec [-t] NAME -- CMD...: POST /v1/workloads/NAME/exec with an
 * HTTP/1.1 Upgrade to berth-exec, then framed stdio both ways (docs/API.md
 * "exec"). libcurl has no use for an upgraded connection, so this verb speaks
 * HTTP on the unix socket itself. Exits with the command's exit code. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include "cli/berthctl.h"
#include "cli/client.h"
#include "lib/spec.h"

enum { FRAME_STDIN, FRAME_STDOUT, FRAME_STDERR, FRAME_EXIT, FRAME_RESIZE };
#define FRAME_MAX (1024 * 1024)
#define HEADER_MAX 16384

static const char exec_help[] = "Usage: berthctl exec [-t] [-i] NAME -- CMD [ARG...]\n"
                                "\n"
                                "Run a command inside a running workload: all its namespaces, its cgroup and its\n"
                                "security policy. Stdin is forwarded when it is not a terminal, or with -i.\n"
                                "Exits with the command's exit code.\n"
                                "\n"
                                "Flags:\n"
                                "  -t, --tty              run on a pseudo-terminal (window size follows)\n"
                                "  -i, --interactive      forward stdin even when it is a terminal\n"
                                "  --socket PATH          berthd socket\n"
                                "  -h, --help             show this help\n"
                                "\n"
                                "Examples:\n"
                                "  berthctl exec web -- cat /etc/hostname\n"
                                "  berthctl exec -t web -- /bin/sh\n";

static int send_frame(int sock, uint8_t type, const void *p, size_t n)
{
        uint8_t hdr[5] = { type, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
        int r = send_all(sock, hdr, sizeof(hdr));

        return r < 0 || n == 0 ? r : send_all(sock, p, n);
}

static void send_size(int sock)
{
        struct winsize ws;
        uint8_t b[4];

        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
                return;
        b[0] = (uint8_t)(ws.ws_row >> 8), b[1] = (uint8_t)ws.ws_row;
        b[2] = (uint8_t)(ws.ws_col >> 8), b[3] = (uint8_t)ws.ws_col;
        (void)send_frame(sock, FRAME_RESIZE, b, sizeof(b));
}

static int connect_unix(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int s;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -errno;
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(s);
                return r;
        }
        return s;
}

/* Reads the response head; leaves what follows it in *extra. Returns the
 * HTTP status, or a negative errno. */
static int read_head(int sock, char *buf, size_t size, size_t *ret_len, size_t *ret_head)
{
        size_t len = 0;

        for (;;) {
                ssize_t n;
                char *end;

                if (len + 1 >= size)
                        return -E2BIG;
                n = read(sock, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -ECONNRESET;
                len += (size_t)n;
                buf[len] = 0;
                end = strstr(buf, "\r\n\r\n");
                if (end) {
                        int status = 0;
                        *ret_head = (size_t)(end - buf) + 4;
                        *ret_len = len;
                        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                                return -EBADMSG;
                        return status;
                }
        }
}

/* A refused exec: print the API error like every other verb does. */
static int report_error(int sock, char *buf, size_t size, size_t len, size_t head)
{
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
        json_t *j;

        memmove(buf, buf + head, len - head);
        len -= head;
        while (len < want && len + 1 < size) {
                ssize_t n = read(sock, buf + len, size - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = 0;
        j = json_loads(buf, 0, NULL);
        if (j && json_is_string(json_object_get(j, "field")))
                fprintf(stderr, "berthctl: %s: %s\n", json_string_value(json_object_get(j, "field")),
                        strempty(json_string_value(json_object_get(j, "message"))));
        else
                fprintf(stderr, "berthctl: %s\n", j ? strempty(json_string_value(json_object_get(j, "message"))) : buf);
        json_decref(j);
        return EXIT_DAEMON_ERROR;
}

int verb_exec(Berthctl *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"tty", no_argument, NULL, 't'},
            {"interactive", no_argument, NULL, 'i'},
            VERB_COMMON_OPTIONS,
            {},
        };
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *req = NULL, *js = NULL, *n = NULL;
        _cleanup_close_ int sock = -EBADF, sfd = -EBADF;
        char buf[HEADER_MAX];
        struct termios saved;
        bool tty = false, interactive = false, raw = false, stdin_open;
        size_t len = 0, head = 0;
        int ch, code, r, status, exit_code = EXIT_DAEMON_ERROR;
        const char *name;
        sigset_t mask;

        optind = 0;
        opterr = 0;
        while ((ch = getopt_long(argc, argv, "+:tih", options, NULL)) >= 0) {
                if (verb_common_option(ctx, ch, exec_help, &code)) {
                        if (code >= 0)
                                return code;
                        continue;
                }
                if (ch == 't')
                        tty = true;
                else if (ch == 'i')
                        interactive = true;
                else
                        return usage_getopt_error(ctx, ch, argv);
        }
        if (optind >= argc)
                return usage_error(ctx, "missing workload name");
        name = argv[optind++];
        if (optind < argc && streq(argv[optind], "--"))
                optind++;
        if (optind >= argc)
                return usage_error(ctx, "missing command (berthctl exec NAME -- CMD)");
        if (!spec_name_is_valid(name))
                return usage_error(ctx, "\"%s\" is not a workload name", name);

        body = json_pack("{s:[], s:b}", "command", "tty", tty);
        if (!body)
                return EXIT_DAEMON_ERROR;
        for (int i = optind; i < argc; i++)
                json_array_append_new(json_object_get(body, "command"), json_string(argv[i]));
        js = json_dumps(body, JSON_COMPACT);
        n = url_escape(name);
        if (!js || !n ||
            asprintf(&req,
                     "POST /v1/workloads/%s/exec HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                     "Upgrade: berth-exec\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     n, strlen(js), js) < 0)
                return EXIT_DAEMON_ERROR;

        sock = connect_unix(ctx->socket_path);
        if (sock < 0) {
                fprintf(stderr, "berthctl: cannot connect to %s: %s\n", ctx->socket_path, strerror(-sock));
                return EXIT_UNREACHABLE;
        }
        r = write_all(sock, req, strlen(req));
        if (r >= 0)
                r = status = read_head(sock, buf, sizeof(buf), &len, &head);
        if (r < 0) {
                fprintf(stderr, "berthctl: exec: %s\n", strerror(-r));
                return EXIT_UNREACHABLE;
        }
        if (status != 101)
                return report_error(sock, buf, sizeof(buf), len, head);

        sigemptyset(&mask);
        sigaddset(&mask, SIGWINCH);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) >= 0) {
                struct termios t = saved;
                cfmakeraw(&t);
                raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) >= 0;
                send_size(sock);
        }
        /* Like docker: a terminal on stdin is only read with -i or -t. */
        stdin_open = interactive || tty || !isatty(STDIN_FILENO);
        if (!stdin_open)
                (void)send_frame(sock, FRAME_STDIN, NULL, 0);

        /* The frames that came with the head. */
        char *in = NULL;
        size_t in_len = len - head, in_cap = in_len + 65536;
        in = malloc(in_cap);
        if (!in)
                goto done;
        memcpy(in, buf + head, in_len);

        for (;;) {
                /* Consume whole frames. */
                size_t pos = 0;
                while (in_len - pos >= 5) {
                        const uint8_t *h = (const uint8_t *)in + pos;
                        size_t fl = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
                        if (fl > FRAME_MAX)
                                goto done;
                        if (in_len - pos < 5 + fl)
                                break;
                        if (h[0] == FRAME_STDOUT || h[0] == FRAME_STDERR)
                                (void)write_all(h[0] == FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO, h + 5, fl);
                        else if (h[0] == FRAME_EXIT && fl == 4) {
                                uint32_t be;

                                memcpy(&be, h + 5, sizeof(be)); /* frames are not aligned */
                                exit_code = (int)ntohl(be) & 0xff;
                                goto done;
                        }
                        pos += 5 + fl;
                }
                memmove(in, in + pos, in_len - pos);
                in_len -= pos;
                if (in_cap - in_len < 16384) {
                        char *p = realloc(in, in_cap * 2);
                        if (!p)
                                goto done;
                        in = p;
                        in_cap *= 2;
                }

                struct pollfd pfd[3] = {
                        { .fd = sock, .events = POLLIN },
                        { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };
                if (poll(pfd, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        goto done;
                }
                if (pfd[0].revents) {
                        ssize_t k = read(sock, in + in_len, in_cap - in_len);
                        if (k <= 0) {
                                fprintf(stderr, "berthctl: exec: the connection closed before the exit code\n");
                                goto done;
                        }
                        in_len += (size_t)k;
                }
                if (pfd[1].revents) {
                        char b[16384];
                        ssize_t k = read(STDIN_FILENO, b, sizeof(b));
                        if (k <= 0) {
                                stdin_open = false;
                                (void)send_frame(sock, FRAME_STDIN, NULL, 0);
                        } else
                                (void)send_frame(sock, FRAME_STDIN, b, (size_t)k);
                }
                if (pfd[2].revents) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                ;
                        if (tty)
                                send_size(sock);
                }
        }
done:
        free(in);
        if (raw)
                (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        return exit_code;
}
