/*
 * test_httpget.c - the scrape loop's HTTP/1.1 client against a scripted
 * server on 127.0.0.1.
 *
 * The server is one thread that plays a script of steps: accept a
 * connection, read one request (up to its blank line, kept for the test to
 * look at), write bytes, sleep, close the connection.  Writing an answer in
 * several pieces with sleeps between them makes the client see it in
 * several recv()s, which is how the chunked decoder and the head parser are
 * exercised at their edges.  The test thread drives the client with its
 * own epoll set, as the scrape thread does, with a bound on the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ingest/httpget.h"

#define TAG 0x1234u

typedef struct {
    char op;           /* 'a' accept, 'r' read a request, 'w' write, 's' sleep, 'c' close */
    const char *data;  /* 'w' */
    int ms;            /* 's' */
} step;

typedef struct {
    int listen_fd, port;
    const step *steps;
    pthread_t thread;
    int accepts;
    char requests[4][2048];
    int nrequests;
} script_server;

static void *play(void *arg) {
    script_server *s = arg;
    int fd = -1;
    for (const step *st = s->steps; st->op; st++) {
        switch (st->op) {
        case 'a':
            fd = accept(s->listen_fd, NULL, NULL);
            s->accepts++;
            break;
        case 'r': {
            char *req = s->requests[s->nrequests < 4 ? s->nrequests : 3];
            size_t len = 0;
            while (len < 2047 && !strstr(req, "\r\n\r\n")) {
                struct pollfd p = {fd, POLLIN, 0};
                if (poll(&p, 1, 3000) <= 0) break;
                ssize_t n = recv(fd, req + len, 2047 - len, 0);
                if (n <= 0) break;
                len += (size_t)n;
                req[len] = 0;
            }
            s->nrequests++;
            break;
        }
        case 'w': {
            size_t n = strlen(st->data), off = 0;
            while (off < n) {
                ssize_t w = send(fd, st->data + off, n - off, MSG_NOSIGNAL);
                if (w <= 0) break;
                off += (size_t)w;
            }
            break;
        }
        case 's': {
            struct timespec ts = {st->ms / 1000, (long)(st->ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            break;
        }
        case 'c':
            close(fd);
            fd = -1;
            break;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void server_start(script_server *s, const step *steps) {
    memset(s, 0, sizeof *s);
    s->steps = steps;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listen_fd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, play, s), 0);
}

static void server_join(script_server *s) {
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/* A free port with nothing listening on it. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct {
    int epfd;
    httpget h;
    httpget_resolver r;
    buf body;
} client;

static void client_init(client *c) {
    memset(c, 0, sizeof *c);
    c->epfd = epoll_create1(0);
    httpget_init(&c->h);
}

static void client_free(client *c) {
    httpget_close(&c->h, &c->r);
    httpget_resolver_reap(&c->r, 1);
    buf_free(&c->body);
    close(c->epfd);
}

/* Runs the client until the answer is complete or failed (or 5 s pass:
 * returns 99). */
static int drive(client *c, int r) {
    double until = mono_seconds() + 5;
    while (r == HTTPGET_MORE && mono_seconds() < until) {
        if (c->h.state == HTTPGET_RESOLVING) {
            r = httpget_poll_resolve(&c->h);
            if (r != HTTPGET_MORE || c->h.state == HTTPGET_RESOLVING) {
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        struct epoll_event ev[4];
        int n = epoll_wait(c->epfd, ev, 4, 10);
        for (int i = 0; i < n && r == HTTPGET_MORE; i++) {
            assert_int_equal(ev[i].data.u64, TAG);
            r = httpget_on_ready(&c->h, ev[i].events);
        }
        int64_t wake = httpget_wake_us(&c->h);
        if (r == HTTPGET_MORE && wake && mono_micros() >= wake)
            r = httpget_tick(&c->h, mono_micros());
    }
    return r == HTTPGET_MORE ? 99 : r;
}

static const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

static int get(client *c, const char *host, int port, uint64_t limit) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int r = httpget_start(&c->h, c->epfd, TAG, host, ps, request, sizeof request - 1, &c->body, limit, limit, 0);
    return drive(c, r);
}

static void assert_body(const client *c, const char *want) {
    assert_int_equal(c->body.len, strlen(want));
    assert_memory_equal(c->body.data, want, strlen(want));
}

/* A GET to 127.0.0.1:port that must succeed with the body want. */
static void get_ok(client *c, int port, uint64_t limit, const char *want) {
    assert_int_equal(get(c, "127.0.0.1", port, limit), HTTPGET_DONE);
    assert_body(c, want);
}

/* A Content-Length answer on a kept connection: the second request goes
 * out on the same connection, and the server sees exactly the request. */
static void test_content_length_keep_alive(void **state) {
    (void)state;
    static const step steps[] = {
        {'a', 0, 0}, {'r', 0, 0},
        {'w', "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 6\r\n\r\nup 1\n\n", 0},
        {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Encoding: gzip\r\n\r\nabcd", 0},
        {'s', 0, 100}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_DONE);
    assert_int_equal(c.h.status, 200);
    assert_string_equal(c.h.status_text, "200 OK");
    assert_string_equal(c.h.content_type, "text/plain; version=0.0.4");
    assert_false(c.h.gzip);
    assert_body(&c, "up 1\n\n");
    assert_true(c.h.fd >= 0); /* kept */
    assert_int_equal(c.h.state, HTTPGET_IDLE);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_DONE);
    assert_true(c.h.gzip);
    assert_body(&c, "abcd");
    server_join(&s);
    assert_int_equal(s.accepts, 1);
    assert_int_equal(s.nrequests, 2);
    assert_string_equal(s.requests[0], request);
    assert_string_equal(s.requests[1], request);
    client_free(&c);
}

/* Chunks split across writes at awkward places (inside the size line,
 * inside the data, between CR and LF), with an extension and a trailer. */
static void test_chunked(void **state) {
    (void)state;
    static const step steps[] = {
        {'a', 0, 0}, {'r', 0, 0},
        {'w', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Le", 0}, {'s', 0, 30},
        {'w', "ngth: 999\r\n\r\n5\r\nhel", 0}, {'s', 0, 30},
        {'w', "lo\r", 0}, {'s', 0, 30},
        {'w', "\nA;ext=1\r\n, chunked\n\r\n", 0}, {'s', 0, 30},
        {'w', "0\r\nX-Trailer: 1\r\n\r\n", 0},
        {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
        {'s', 0, 100}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    get_ok(&c, s.port, 0, "hello, chunked\n");
    assert_true(c.h.fd >= 0);
    get_ok(&c, s.port, 0, "abc");
    server_join(&s);
    assert_int_equal(s.accepts, 1);
    client_free(&c);
}

/* Without a length the body ends when the server closes, and such a
 * connection is not kept; nor is one the server says it closes.  A 1xx
 * answer before the real one is skipped. */
static void test_close_delimited_and_interim(void **state) {
    (void)state;
    static const step steps[] = {
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.0 200 OK\r\n\r\nno length", 0}, {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0},
        {'w', "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", 0},
        {'s', 0, 50}, {'c', 0, 0}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    get_ok(&c, s.port, 0, "no length");
    assert_int_equal(c.h.fd, -1);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_DONE);
    assert_int_equal(c.h.status, 404);
    assert_string_equal(c.h.status_text, "404 Not Found");
    assert_body(&c, "no");
    assert_int_equal(c.h.fd, -1);
    server_join(&s);
    assert_int_equal(s.accepts, 2);
    client_free(&c);
}

/* A kept connection the server closes while idle is dropped when its
 * EPOLLIN arrives; one closed just before the next request is used is
 * found dead before any answer, and the request goes out again on a new
 * connection. */
static void test_dead_kept_connection(void **state) {
    (void)state;
    static const step steps[] = {
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1", 0}, {'s', 0, 50},
        {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2", 0}, {'s', 0, 50},
        {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3", 0}, {'s', 0, 100},
        {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    get_ok(&c, s.port, 0, "1");
    /* Idle: the server's close is seen through epoll. */
    struct timespec ts = {0, 150000000};
    nanosleep(&ts, NULL);
    struct epoll_event ev;
    assert_int_equal(epoll_wait(c.epfd, &ev, 1, 1000), 1);
    assert_int_equal(httpget_on_ready(&c.h, ev.events), HTTPGET_MORE);
    assert_int_equal(c.h.fd, -1);
    get_ok(&c, s.port, 0, "2");
    /* The close not yet noticed: the request is retried. */
    nanosleep(&ts, NULL);
    assert_true(c.h.fd >= 0);
    get_ok(&c, s.port, 0, "3");
    server_join(&s);
    assert_int_equal(s.accepts, 3);
    client_free(&c);
}

/* Errors in Go's words. */
static void test_errors(void **state) {
    (void)state;
    client c;
    client_init(&c);
    int port = closed_port();
    char want[128];
    assert_int_equal(get(&c, "127.0.0.1", port, 0), HTTPGET_FAILED);
    snprintf(want, sizeof want, "dial tcp 127.0.0.1:%d: connect: connection refused", port);
    assert_string_equal(c.h.error, want);
    assert_int_equal(c.h.state, HTTPGET_IDLE);

    static const step garbage[] = {{'a', 0, 0}, {'r', 0, 0}, {'w', "garbage\nmore garbage\n", 0}, {'s', 0, 100},
                                   {0, 0, 0}};
    script_server s;
    server_start(&s, garbage);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "net/http: HTTP/1.x transport connection broken: malformed HTTP response \"garbage\"");
    assert_int_equal(c.h.fd, -1);
    server_join(&s);

    static const step cut[] = {{'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", 0},
                               {'c', 0, 0}, {'a', 0, 0}, {'r', 0, 0}, {'c', 0, 0}, {0, 0, 0}};
    server_start(&s, cut);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "unexpected EOF");
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "EOF");
    server_join(&s);

    static const step badlen[] = {{'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0},
                                  {'s', 0, 100}, {0, 0, 0}};
    server_start(&s, badlen);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "net/http: HTTP/1.x transport connection broken: bad Content-Length \"1x\"");
    server_join(&s);

    /* What Go refuses too: two lengths, an encoding other than chunked,
     * more than five 1xx answers. */
    static const step refused[] = {
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0},
        {'s', 0, 50}, {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0},
        {'s', 0, 50}, {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0},
        {'w', "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"
              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {'s', 0, 100}, {0, 0, 0}};
    server_start(&s, refused);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "net/http: HTTP/1.x transport connection broken: message cannot contain multiple "
                                   "Content-Length headers");
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error,
                        "net/http: HTTP/1.x transport connection broken: unsupported transfer encoding: \"gzip, chunked\"");
    assert_int_equal(get(&c, "127.0.0.1", s.port, 0), HTTPGET_FAILED);
    assert_string_equal(c.h.error, "net/http: too many 1xx informational responses");
    server_join(&s);
    client_free(&c);
}

/* The body limit, declared (Content-Length) and found while decoding
 * chunks.  As in Prometheus, a body of limit bytes or more fails. */
static void test_body_limit(void **state) {
    (void)state;
    static const step steps[] = {
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 0}, {'s', 0, 50}, {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n", 0},
        {'w', "5\r\nghijk\r\n0\r\n\r\n", 0}, {'s', 0, 50}, {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0}, {'s', 0, 50},
        {'c', 0, 0},
        {'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n012345678", 0}, {'s', 0, 100},
        {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 10), HTTPGET_FAILED);
    assert_true(c.h.body_exceeded);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 10), HTTPGET_FAILED);
    assert_true(c.h.body_exceeded);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 10), HTTPGET_FAILED);
    assert_true(c.h.body_exceeded);
    assert_int_equal(get(&c, "127.0.0.1", s.port, 10), HTTPGET_DONE);
    assert_false(c.h.body_exceeded);
    assert_body(&c, "012345678");
    server_join(&s);
    client_free(&c);
}

/* A name is looked up off the thread; "localhost" may give ::1 first,
 * where nothing listens, and the next address is tried.  A name that does
 * not exist fails with the lookup's error. */
static void test_names(void **state) {
    (void)state;
    static const step steps[] = {{'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
                                 {'s', 0, 100}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    assert_int_equal(get(&c, "localhost", s.port, 0), HTTPGET_DONE);
    assert_body(&c, "ok");
    server_join(&s);
    httpget_close(&c.h, &c.r);
    assert_int_equal(get(&c, "no-such-host.invalid", 80, 0), HTTPGET_FAILED);
    assert_memory_equal(c.h.error, "dial tcp: lookup no-such-host.invalid: ", 39);
    client_free(&c);
}

/* A listener on ::1 whose accept queue is full: a connect to it hangs, as
 * to an address that drops packets.  The pre-connected sockets go in
 * fds[0..3]. */
static int hanging_listener(int fds[4]) {
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 0)) {
        close(l);
        return -1;
    }
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    for (int i = 0; i < 4; i++) {
        fds[i] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fds[i], (struct sockaddr *)&a, sizeof a);
    }
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    return l;
}

static struct addrinfo *numeric_addrs(const char *ip, int port) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res = NULL;
    assert_int_equal(getaddrinfo(ip, ps, &hints, &res), 0);
    return res;
}

/* A name's addresses share the time as Go's dialer shares it: an attempt
 * whose next address is of the other family gives way after 300 ms, and
 * the error is the first address's. */
static void test_address_fallback(void **state) {
    (void)state;
    int fds[4];
    int l = hanging_listener(fds);
    if (l < 0) skip(); /* no IPv6 loopback here */
    struct sockaddr_in6 a;
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    int hang = ntohs(a.sin6_port);
    static const step steps[] = {{'a', 0, 0}, {'r', 0, 0}, {'w', "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv4", 0},
                                 {'s', 0, 100}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    struct addrinfo *list = numeric_addrs("::1", hang);
    list->ai_next = numeric_addrs("127.0.0.1", s.port);
    double t0 = mono_seconds();
    int64_t deadline = (int64_t)(t0 * 1e6) + 10000000;
    int r = httpget_start_addrs(&c.h, c.epfd, TAG, list, request, sizeof request - 1, &c.body, 0, 0, deadline);
    assert_true(httpget_wake_us(&c.h) > 0);
    assert_int_equal(drive(&c, r), HTTPGET_DONE);
    double took = mono_seconds() - t0;
    if (!(took >= 0.29 && took < 2)) fail_msg("fell back after %.3f s", took);
    assert_body(&c, "v4");
    server_join(&s);

    list = numeric_addrs("::1", hang);
    list->ai_next = numeric_addrs("127.0.0.1", closed_port());
    r = httpget_start_addrs(&c.h, c.epfd, TAG, list, request, sizeof request - 1, &c.body, 0, 0, deadline);
    assert_int_equal(drive(&c, r), HTTPGET_FAILED);
    char want[96];
    snprintf(want, sizeof want, "dial tcp [::1]:%d: i/o timeout", hang);
    assert_string_equal(c.h.error, want);
    client_free(&c);
    for (int i = 0; i < 4; i++) close(fds[i]);
    close(l);
}

/* Aborting a request in flight (a timeout) closes its connection; one
 * aborted while its name is looked up leaves the lookup to the resolver. */
static void test_abort(void **state) {
    (void)state;
    static const step steps[] = {{'a', 0, 0}, {'r', 0, 0}, {'s', 0, 300}, {0, 0, 0}};
    script_server s;
    server_start(&s, steps);
    client c;
    client_init(&c);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", s.port);
    int r = httpget_start(&c.h, c.epfd, TAG, "127.0.0.1", ps, request, sizeof request - 1, &c.body, 0, 0, 0);
    assert_int_equal(r, HTTPGET_MORE);
    struct epoll_event ev;
    for (int i = 0; i < 10 && c.h.state != HTTPGET_RECEIVING; i++)
        if (epoll_wait(c.epfd, &ev, 1, 100) == 1) assert_int_equal(httpget_on_ready(&c.h, ev.events), HTTPGET_MORE);
    assert_int_equal(c.h.state, HTTPGET_RECEIVING);
    httpget_abort(&c.h, &c.r);
    assert_int_equal(c.h.state, HTTPGET_IDLE);
    assert_int_equal(c.h.fd, -1);
    server_join(&s);
    r = httpget_start(&c.h, c.epfd, TAG, "localhost", "1", request, sizeof request - 1, &c.body, 0, 0, 0);
    assert_int_equal(r, HTTPGET_MORE);
    assert_int_equal(c.h.state, HTTPGET_RESOLVING);
    httpget_abort(&c.h, &c.r);
    assert_int_equal(c.h.state, HTTPGET_IDLE);
    client_free(&c); /* waits for an orphaned lookup; the leak checker sees the rest */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_keep_alive),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited_and_interim),
        cmocka_unit_test(test_dead_kept_connection),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_address_fallback),
        cmocka_unit_test(test_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
