/*
 * http_client_cost.c - CPU per scrape request of the HTTP client alone.
 *
 * usage: http_client_cost curl|httpget|socket BASE_PORT TARGETS SECONDS
 *
 * Fetches /metrics from TARGETS fixture targets on 127.0.0.1 (ports
 * BASE_PORT..BASE_PORT+TARGETS-1, ../shared/bench/gen_exposition.py), each
 * every 5 s at a stable offset as the scrape loop does, for SECONDS after a
 * 10 s warm-up, and prints this process's CPU seconds per request.  The
 * bodies are kept in memory and not parsed, so the figure is the cost of
 * fetching alone, the part of a scrape that the client library decides.
 *
 *   curl    the scrape loop's way (ingest/scrape.c): one libcurl multi
 *           handle driven by curl_multi_socket_action() on an epoll set, a
 *           fresh easy handle per request with the options the scrape loop
 *           sets for a plain-http target without auth, connections kept in
 *           the multi handle's cache.
 *   httpget the scrape loop's own client for plain-http targets
 *           (ingest/httpget.h), on the same epoll set design, each
 *           request built as the scrape loop builds it.
 *   socket  the floor: one kept-alive TCP connection per target, the
 *           request written with one send(), the response read until its
 *           Content-Length is complete.  Not a usable client (no chunked
 *           bodies, redirects, TLS, timeouts or errors); it shows what any
 *           plain-HTTP client costs at least.
 *
 * Both send the scrape loop's request headers and accept gzip, so the
 * targets do the same work for either.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ingest/httpget.h"

#define INTERVAL_S 5.0
#define WARMUP_S 10.0
#define ACCEPT "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"
#define USER_AGENT "promlite-bench"

typedef struct {
    int port, fd, busy;
    double next;
    char *body;
    size_t len, cap;
    CURL *easy;
    httpget hg;
    buf hbody;
} target;

enum { MODE_CURL, MODE_HTTPGET, MODE_SOCKET };

typedef struct {
    int use_curl, mode, epfd;
    CURLM *multi;
    double curl_due; /* monotonic seconds of curl's next timeout, or -1 */
    struct curl_slist *headers;
    long done;
} client;

static void die(const target *t, const char *what) {
    fprintf(stderr, "http_client_cost: 127.0.0.1:%d: %s\n", t->port, what);
    exit(1);
}

static void body_reserve(target *t, size_t more) {
    if (t->len + more <= t->cap) return;
    t->cap = (t->len + more) * 2;
    t->body = realloc(t->body, t->cap);
    if (!t->body) die(t, "out of memory");
}

/* The scrape loop reads Content-Type and Content-Encoding in a header
 * callback; libcurl's calling it is part of the client's cost. */
static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    (void)data;
    (void)ud;
    return size * n;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    target *t = ud;
    body_reserve(t, size * n);
    memcpy(t->body + t->len, data, size * n);
    t->len += size * n;
    return size * n;
}

/* The same socket bookkeeping as the scrape loop's on_curl_socket(). */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *socketp) {
    client *c = ud;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(c->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = s};
    if (epoll_ctl(c->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0) {
        if (errno == EEXIST) epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev);
        else if (errno == ENOENT) epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev);
    }
    if (!socketp) curl_multi_assign(c->multi, s, c);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *ud) {
    client *c = ud;
    (void)multi;
    c->curl_due = timeout_ms < 0 ? -1 : mono_seconds() + (double)timeout_ms / 1000;
    return 0;
}

static void connect_target(client *c, target *t, size_t index) {
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (t->fd < 0) die(t, strerror(errno));
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(t->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die(t, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = index};
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, t->fd, &ev);
}

static void request_start(client *c, target *t, size_t index) {
    t->len = 0;
    t->busy = 1;
    if (c->use_curl) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", t->port);
        t->easy = curl_easy_init();
        curl_easy_setopt(t->easy, CURLOPT_URL, url);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, c->headers);
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(t->easy, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(t->easy, CURLOPT_PROXY, "");
        curl_easy_setopt(t->easy, CURLOPT_NOPROXY, "");
        curl_easy_setopt(t->easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
        curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_multi_add_handle(c->multi, t->easy);
        return;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: " USER_AGENT "\r\nAccept: " ACCEPT
                     "\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n",
                     t->port);
    if (c->mode == MODE_HTTPGET) {
        char port[16];
        snprintf(port, sizeof port, "%d", t->port);
        if (httpget_start(&t->hg, c->epfd, index, "127.0.0.1", port, req, (size_t)n, &t->hbody, 0, 0, 0) != HTTPGET_MORE)
            die(t, t->hg.error);
        return;
    }
    if (t->fd < 0) {
        connect_target(c, t, index);
        /* A loopback connect completes at once; wait for it rather than
         * handle EPOLLOUT in a benchmark that never sees it again. */
        usleep(1000);
    }
    if (send(t->fd, req, (size_t)n, MSG_NOSIGNAL) != n) die(t, "could not send the request");
}

/* Reads what has arrived; the response is complete once the header block
 * and Content-Length bytes of body are in. */
static void socket_readable(client *c, target *t) {
    for (;;) {
        body_reserve(t, 65536);
        ssize_t r = recv(t->fd, t->body + t->len, 65536, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) die(t, "the target closed the connection");
        if (r < 0) break;
        t->len += (size_t)r;
    }
    char *end = memmem(t->body, t->len, "\r\n\r\n", 4);
    if (!end) return;
    char *cl = memmem(t->body, (size_t)(end - t->body), "Content-Length:", 15);
    if (!cl) die(t, "a response without Content-Length");
    size_t want = (size_t)(end + 4 - t->body) + strtoul(cl + 15, NULL, 10);
    if (t->len >= want) {
        t->busy = 0;
        c->done++;
    }
}

static void curl_collect(client *c) {
    if (c->curl_due >= 0 && mono_seconds() >= c->curl_due) {
        int running;
        c->curl_due = -1;
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        target *t;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (msg->data.result != CURLE_OK) die(t, curl_easy_strerror(msg->data.result));
        curl_multi_remove_handle(c->multi, t->easy);
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
        t->busy = 0;
        c->done++;
    }
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "curl") && strcmp(argv[1], "httpget") && strcmp(argv[1], "socket"))) {
        fprintf(stderr, "usage: http_client_cost curl|httpget|socket BASE_PORT TARGETS SECONDS\n");
        return 2;
    }
    client c = {.use_curl = !strcmp(argv[1], "curl"), .curl_due = -1};
    c.mode = c.use_curl ? MODE_CURL : !strcmp(argv[1], "httpget") ? MODE_HTTPGET : MODE_SOCKET;
    int base = atoi(argv[2]);
    size_t n = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.epfd = epoll_create1(0);
    c.multi = curl_multi_init();
    curl_multi_setopt(c.multi, CURLMOPT_MAXCONNECTS, 4096L);
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETDATA, &c);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERDATA, &c);
    c.headers = curl_slist_append(NULL, "Accept: " ACCEPT);
    c.headers = curl_slist_append(c.headers, "Accept-Encoding: gzip");
    c.headers = curl_slist_append(c.headers, "X-Prometheus-Scrape-Timeout-Seconds: 5");
    target *ts = calloc(n, sizeof *ts);
    double t0 = mono_seconds();
    for (size_t i = 0; i < n; i++) {
        ts[i].port = base + (int)i;
        ts[i].fd = -1;
        httpget_init(&ts[i].hg);
        ts[i].next = t0 + INTERVAL_S * (double)i / (double)n;
    }
    double cpu_at_start = -1;
    long done_at_start = 0;
    struct epoll_event ev[64];
    for (;;) {
        double now = mono_seconds();
        if (cpu_at_start < 0 && now - t0 >= WARMUP_S) cpu_at_start = cpu_seconds(), done_at_start = c.done;
        if (now - t0 >= WARMUP_S + seconds) break;
        double next = now + 1;
        for (size_t i = 0; i < n; i++) {
            if (!ts[i].busy && ts[i].next <= now) {
                request_start(&c, &ts[i], i);
                ts[i].next += INTERVAL_S;
            }
            if (ts[i].next < next) next = ts[i].next;
        }
        if (c.use_curl) {
            curl_collect(&c);
            if (c.curl_due >= 0 && c.curl_due < next) next = c.curl_due;
        }
        double wait = next - mono_seconds();
        int k = epoll_wait(c.epfd, ev, 64, wait <= 0 ? 0 : (int)(wait * 1000) + 1);
        for (int i = 0; i < k; i++) {
            if (c.mode == MODE_HTTPGET) {
                target *t = &ts[ev[i].data.u64];
                int r = httpget_on_ready(&t->hg, ev[i].events);
                if (r == HTTPGET_FAILED) die(t, t->hg.error);
                if (r == HTTPGET_DONE) t->busy = 0, c.done++;
                continue;
            }
            if (!c.use_curl) {
                socket_readable(&c, &ts[ev[i].data.u64]);
                continue;
            }
            uint32_t e = ev[i].events;
            int running;
            curl_multi_socket_action(c.multi, ev[i].data.fd,
                                     (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                                         (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0),
                                     &running);
        }
        if (c.use_curl) curl_collect(&c);
    }
    double cpu = cpu_seconds() - cpu_at_start;
    long done = c.done - done_at_start;
    printf("%s requests %ld cpu_s %.3f us_per_request %.1f\n", argv[1], done, cpu, done ? cpu / (double)done * 1e6 : 0);
    for (size_t i = 0; i < n; i++) {
        if (ts[i].easy) curl_multi_remove_handle(c.multi, ts[i].easy), curl_easy_cleanup(ts[i].easy);
        if (ts[i].fd >= 0) close(ts[i].fd);
        free(ts[i].body);
        httpget_resolver r = {0};
        httpget_close(&ts[i].hg, &r);
        buf_free(&ts[i].hbody);
    }
    free(ts);
    curl_slist_free_all(c.headers);
    curl_multi_cleanup(c.multi);
    curl_global_cleanup();
    close(c.epfd);
    return done > 0 ? 0 : 1;
}
