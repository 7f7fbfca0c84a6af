/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cli/berthctl.h"
#include "cli/client.h"

#define ANSWER_MAX (64u * 1024 * 1024) /* a buffered (non-streamed) answer */

struct Client {
        char *socket_path;
        CURL *curl;
        bool quiet_next;
        long last_status;
        char last_code[64];
        char last_field[256];
        char last_message[768];
};

typedef struct Request {
        Client *client;
        ClientStreamFunc cb;
        ClientTickFunc tick;
        void *userdata;
        int cb_error;
        bool checked_status;
        bool stream_body; /* 2xx on a stream: hand data to cb */
        char *buf;
        size_t len, cap;
} Request;

static void curl_global(void)
{
        static bool done = false;

        if (!done) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                done = true;
        }
}

int client_new(const char *socket_path, Client **ret)
{
        Client *c;

        curl_global();
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->socket_path = strdup(socket_path);
        c->curl = curl_easy_init();
        if (!c->socket_path || !c->curl) {
                client_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

Client *client_free(Client *c)
{
        if (!c)
                return NULL;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        free(c->socket_path);
        free(c);
        return NULL;
}

const char *client_last_code(const Client *c)
{
        return c->last_code;
}
long client_last_status(const Client *c)
{
        return c->last_status;
}
const char *client_last_message(const Client *c)
{
        return c->last_message;
}
const char *client_last_field(const Client *c)
{
        return c->last_field;
}
void client_quiet_next(Client *c)
{
        c->quiet_next = true;
}

int client_exit_code(int r)
{
        if (r >= 0)
                return EXIT_OK;
        if (r == -ENOTCONN)
                return EXIT_UNREACHABLE;
        return EXIT_DAEMON_ERROR;
}

static int buf_append(Request *q, const char *data, size_t n)
{
        if (q->len + n + 1 > ANSWER_MAX)
                return -EFBIG;
        if (q->len + n + 1 > q->cap) {
                size_t cap = q->cap ? q->cap : 4096;
                char *p;

                while (cap < q->len + n + 1)
                        cap *= 2;
                p = realloc(q->buf, cap);
                if (!p)
                        return -ENOMEM;
                q->buf = p;
                q->cap = cap;
        }
        memcpy(q->buf + q->len, data, n);
        q->len += n;
        q->buf[q->len] = 0;
        return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
        Request *q = userdata;
        size_t n = size * nmemb;
        int r;

        if (!q->checked_status) {
                long status = 0;

                curl_easy_getinfo(q->client->curl, CURLINFO_RESPONSE_CODE, &status);
                q->stream_body = q->cb && status >= 200 && status < 300;
                q->checked_status = true;
        }
        if (q->stream_body)
                r = q->cb(data, n, q->userdata);
        else
                r = buf_append(q, data, n);
        if (r < 0) {
                q->cb_error = r;
                return 0; /* aborts with CURLE_WRITE_ERROR */
        }
        return n;
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        Request *q = userdata;

        if (q->tick)
                q->tick(q->userdata);
        return 0;
}

/* Why connecting failed, from a plain connect(): curl only says "Couldn't connect". */
static const char *probe_socket(const char *path, char *buf, size_t size)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return "socket path too long";
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return strerror_r(errno, buf, size);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                snprintf(buf, size, "%s%s", strerror(e),
                         e == ENOENT || e == ECONNREFUSED ? " (is berthd running?)" : "");
                return buf;
        }
        return "connection failed";
}

static void record_error(Client *c, long status, const char *body)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *code = NULL, *field = NULL, *message = NULL;

        c->last_status = status;
        c->last_code[0] = c->last_field[0] = c->last_message[0] = 0;
        if (body)
                j = json_loads(body, 0, NULL);
        if (json_is_object(j)) {
                code = json_string_value(json_object_get(j, "code"));
                field = json_string_value(json_object_get(j, "field"));
                message = json_string_value(json_object_get(j, "message"));
        }
        snprintf(c->last_code, sizeof(c->last_code), "%s", strempty(code));
        snprintf(c->last_field, sizeof(c->last_field), "%s", strempty(field));
        if (message)
                snprintf(c->last_message, sizeof(c->last_message), "%s", message);
        else
                snprintf(c->last_message, sizeof(c->last_message), "HTTP %ld: %.*s", status,
                         (int)strcspn(strempty(body), "\r\n"), strempty(body));

        if (c->quiet_next)
                return;
        if (c->last_field[0])
                fprintf(stderr, "berthctl: %s: %s\n", c->last_field, c->last_message);
        else
                fprintf(stderr, "berthctl: %s\n", c->last_message);
}

static int perform(Client *c, const char *method, const char *path, const char *body, Request *q,
                   bool stream)
{
        _cleanup_free_ char *url = NULL;
        struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode cc;
        long status = 0;
        int r;

        if (asprintf(&url, "http://localhost%s", path) < 0)
                return -ENOMEM;
        c->last_status = 0;
        c->last_code[0] = 0;

        curl_easy_reset(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "berthctl/" BERTH_VERSION);
        if (stream) {
                curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
                curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, q);
        }
        if (streq(method, "GET"))
                curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        else {
                curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
                if (body || streq(method, "POST")) {
                        headers = curl_slist_append(headers, "Content-Type: application/json");
                        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
                        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
                        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
                }
        }

        cc = curl_easy_perform(c->curl);
        curl_slist_free_all(headers);
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

        if (cc == CURLE_WRITE_ERROR && q->cb_error < 0) {
                r = q->cb_error;
                goto out;
        }
        if (cc == CURLE_COULDNT_CONNECT || (cc == CURLE_OPERATION_TIMEDOUT && status == 0)) {
                char reason[256];

                fprintf(stderr, "berthctl: cannot reach berthd at %s: %s\n", c->socket_path,
                        cc == CURLE_COULDNT_CONNECT ? probe_socket(c->socket_path, reason, sizeof(reason))
                                                    : "connection timed out");
                r = -ENOTCONN;
                goto out;
        }
        if (cc != CURLE_OK) {
                fprintf(stderr, "berthctl: lost connection to berthd at %s: %s\n", c->socket_path,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
                r = -ENOTCONN;
                goto out;
        }
        c->last_status = status;
        if (status < 200 || status >= 300) {
                record_error(c, status, q->buf);
                r = -EREMOTEIO;
                goto out;
        }
        r = 0;
out:
        c->quiet_next = false;
        return r;
}

int client_call(Client *c, const char *method, const char *path, const json_t *body, json_t **ret_body)
{
        _cleanup_free_ char *data = NULL;
        Request q = {.client = c};
        int r;

        if (body) {
                data = json_dumps(body, JSON_COMPACT);
                if (!data)
                        return -ENOMEM;
        }
        r = perform(c, method, path, data, &q, false);
        if (r >= 0 && ret_body) {
                *ret_body = q.buf ? json_loadb(q.buf, q.len, 0, NULL) : NULL;
                if (!*ret_body && q.len > 0 && (q.buf[0] == '{' || q.buf[0] == '[')) {
                        fprintf(stderr, "berthctl: malformed answer from berthd for %s %s\n", method, path);
                        r = -EBADMSG;
                }
        }
        free(q.buf);
        return r;
}

int client_stream(Client *c, const char *path, ClientStreamFunc cb, ClientTickFunc tick, void *userdata)
{
        Request q = {.client = c, .cb = cb, .tick = tick, .userdata = userdata};
        int r;

        r = perform(c, "GET", path, NULL, &q, true);
        free(q.buf);
        return r;
}

int client_stream_method(Client *c, const char *method, const char *path, ClientStreamFunc cb, ClientTickFunc tick,
                         void *userdata)
{
        Request q = {.client = c, .cb = cb, .tick = tick, .userdata = userdata};
        int r;

        r = perform(c, method, path, NULL, &q, true);
        free(q.buf);
        return r;
}
