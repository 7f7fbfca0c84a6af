/* SPDX-License-Identifier: Apache-2.0 */
/* curl_multi on sd-event, after systemd's src/import/curl-util.c. */
#include <curl/curl.h>
#include <sys/epoll.h>
#include <time.h>

#include "agent/cluster-http.h"
#include "lib/log.h"

struct ClusterRequest {
        ClusterHttp *http;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        char *buf; /* received, not yet delivered */
        size_t len, cap, max;
        ClusterRequestLine line;
        ClusterRequestDone done;
        void *userdata;
        bool in_multi;
        bool finished;
        bool cancelled;
        bool dispatching;
        bool overflow;
        CURLcode result;
        long status;
        ClusterRequest *prev, *next;
};

struct ClusterHttp {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *defer;
        ClusterTls tls;
        ClusterRequest *requests;
        ClusterHttpStats stats;
};

static void request_free(ClusterRequest *r)
{
        ClusterHttp *h = r->http;

        if (r->in_multi)
                curl_multi_remove_handle(h->multi, r->easy);
        if (r->easy)
                curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        if (r->prev)
                r->prev->next = r->next;
        else if (h->requests == r)
                h->requests = r->next;
        if (r->next)
                r->next->prev = r->prev;
        free(r->body);
        free(r->buf);
        free(r);
}

static bool request_has_line(const ClusterRequest *r)
{
        return r->line && r->len > 0 && memchr(r->buf, '\n', r->len);
}

static void defer_kick(ClusterHttp *h)
{
        (void)sd_event_source_set_enabled(h->defer, SD_EVENT_ONESHOT);
}

static int error_from_curl(CURLcode c)
{
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
                return -EMSGSIZE;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* Delivers lines and completions one at a time, rescanning after each
 * callback because a callback may cancel or start any request. */
static int on_defer(sd_event_source *s, void *userdata)
{
        ClusterHttp *h = userdata;

        for (;;) {
                ClusterRequest *r;

                for (r = h->requests; r; r = r->next)
                        if (!r->cancelled && (request_has_line(r) || r->finished))
                                break;
                if (!r)
                        return 0;

                r->dispatching = true;
                if (request_has_line(r)) {
                        char *nl = memchr(r->buf, '\n', r->len);
                        size_t l = (size_t)(nl - r->buf);
                        _cleanup_free_ char *line = strndup(r->buf, l);

                        memmove(r->buf, nl + 1, r->len - l - 1);
                        r->len -= l + 1;
                        if (line && l > 0)
                                r->line(r, line, l, r->userdata);
                } else {
                        int e = r->overflow ? -EMSGSIZE : error_from_curl(r->result);

                        if (e < 0)
                                h->stats.failures++;
                        if (r->buf)
                                r->buf[r->len] = 0;
                        r->done(r, e, r->status, r->buf ?: "", r->len, r->userdata);
                        r->cancelled = true; /* done: free below */
                }
                r->dispatching = false;
                if (r->cancelled)
                        request_free(r);
        }
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        ClusterRequest *r = userdata;
        size_t n = size * nmemb;

        if (n > r->max || r->len > r->max - n) {
                r->overflow = true;
                return 0; /* CURLE_WRITE_ERROR */
        }
        if (r->len + n + 1 > r->cap) {
                size_t nc = MAX(r->cap * 2, r->len + n + 1);
                char *nb = realloc(r->buf, nc);
                if (!nb)
                        return 0;
                r->buf = nb;
                r->cap = nc;
        }
        memcpy(r->buf + r->len, ptr, n);
        r->len += n;
        if (request_has_line(r))
                defer_kick(r->http);
        return n;
}

static void check_done(ClusterHttp *h)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(h->multi, &left))) {
                ClusterRequest *r = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK || !r)
                        continue;
                r->result = msg->data.result;
                (void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
                curl_multi_remove_handle(h->multi, r->easy);
                r->in_multi = false;
                r->finished = true;
                defer_kick(h);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        ClusterHttp *h = userdata;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void)curl_multi_socket_action(h->multi, fd, action, &running);
        check_done(h);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        ClusterHttp *h = userdata;
        int running;

        (void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(h);
        return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        ClusterHttp *h = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        curl_multi_assign(h->multi, fd, NULL);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0)
                        return -1;
                return 0;
        }
        if (sd_event_add_io(h->event, &io, fd, events, on_io, h) < 0)
                return -1;
        (void)sd_event_source_set_description(io, "cluster-curl-io");
        curl_multi_assign(h->multi, fd, io);
        return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        ClusterHttp *h = userp;
        usec_t when;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(h->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        if (sd_event_now(h->event, CLOCK_MONOTONIC, &when) < 0)
                return -1;
        when += (usec_t)timeout_ms * USEC_PER_MSEC + 1;
        if (sd_event_source_set_time(h->timer, when) < 0 ||
            sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int cluster_http_new(sd_event *event, const ClusterTls *tls, ClusterHttp **ret)
{
        ClusterHttp *h;
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        if (tls)
                h->tls = *tls;
        h->multi = curl_multi_init();
        if (!h->multi) {
                cluster_http_free(h);
                return -ENOMEM;
        }
        r = sd_event_add_time(event, &h->timer, CLOCK_MONOTONIC, USEC_INFINITY, 0, on_timer, h);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &h->defer, on_defer, h);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->defer, SD_EVENT_OFF);
        if (r < 0) {
                cluster_http_free(h);
                return r;
        }
        (void)sd_event_source_set_description(h->timer, "cluster-curl-timer");
        (void)sd_event_source_set_description(h->defer, "cluster-curl-dispatch");
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
        *ret = h;
        return 0;
}

void cluster_http_cancel_all(ClusterHttp *h)
{
        ClusterRequest *r, *next;

        for (r = h->requests; r; r = next) {
                next = r->next;
                cluster_request_cancel(r);
        }
}

ClusterHttp *cluster_http_free(ClusterHttp *h)
{
        if (!h)
                return NULL;
        while (h->requests)
                request_free(h->requests);
        if (h->multi)
                curl_multi_cleanup(h->multi);
        sd_event_source_disable_unref(h->timer);
        sd_event_source_disable_unref(h->defer);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

int cluster_http_post(ClusterHttp *h, const char *url, const char *body, usec_t timeout,
                      ClusterRequestLine line, ClusterRequestDone done, void *userdata, ClusterRequest **ret)
{
        ClusterRequest *r = calloc(1, sizeof(*r));
        CURL *e;

        if (!r)
                return -ENOMEM;
        r->http = h;
        r->line = line;
        r->done = done;
        r->userdata = userdata;
        r->max = line ? CLUSTER_HTTP_LINE_MAX : CLUSTER_HTTP_BODY_MAX;
        r->body = strdup(body);
        r->next = h->requests;
        if (h->requests)
                h->requests->prev = r;
        h->requests = r;
        r->easy = e = curl_easy_init();
        r->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!r->body || !e || !r->headers) {
                request_free(r);
                return -ENOMEM;
        }
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_PRIVATE, r);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        if (timeout > 0)
                curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout / USEC_PER_MSEC));
        if (h->tls.ca)
                curl_easy_setopt(e, CURLOPT_CAINFO, h->tls.ca);
        if (h->tls.cert)
                curl_easy_setopt(e, CURLOPT_SSLCERT, h->tls.cert);
        if (h->tls.key)
                curl_easy_setopt(e, CURLOPT_SSLKEY, h->tls.key);
        if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
                request_free(r);
                return -EIO;
        }
        r->in_multi = true;
        h->stats.requests++;
        h->stats.bytes_sent += strlen(r->body);
        if (ret)
                *ret = r;
        return 0;
}

void cluster_request_cancel(ClusterRequest *r)
{
        if (!r)
                return;
        if (r->in_multi) {
                curl_multi_remove_handle(r->http->multi, r->easy);
                r->in_multi = false;
        }
        r->cancelled = true;
        if (!r->dispatching)
                request_free(r);
}

const ClusterHttpStats *cluster_http_stats(const ClusterHttp *h)
{
        return &h->stats;
}
