/*
 * httpget.c - the scrape loop's plain-HTTP/1.1 GET client (see httpget.h
 * for why it exists and what it covers).
 *
 * Design.  An httpget is a small state machine over one non-blocking
 * socket: RESOLVING (getaddrinfo_a, polled) -> CONNECTING (EPOLLOUT, then
 * SO_ERROR) -> SENDING (the request text, usually one send()) ->
 * RECEIVING (EPOLLIN) -> IDLE with the connection kept.  The epoll
 * registration changes only when the events wanted change, so a scrape on
 * a kept connection costs one send(), one or two recv()s and no
 * epoll_ctl().
 *
 * The answer is received straight into the caller's body buffer.  The
 * head is parsed in place once its blank line is there; then the body
 * bytes are moved to the front of the buffer.  Chunked bodies are decoded
 * in place too: the decoded bytes [0, decoded) never overtake the raw
 * bytes [raw_pos, len) still to parse, so each chunk's data moves down
 * with one memmove().  A recv() that fills less than the room it was
 * given has drained the socket, so the client returns to epoll instead of
 * calling recv() again for EAGAIN.
 */
#include "ingest/httpget.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Go's http.Transport default for MaxResponseHeaderBytes. */
#define MAX_HEAD_BYTES (10u << 20)
/* Go's transport gives up after this many 1xx answers. */
#define MAX_INTERIM 5
#define BROKEN "net/http: HTTP/1.x transport connection broken: "
/* Room offered to each recv(): a node_exporter answer (gzip) in one call. */
#define RECV_ROOM 16384
/* A chunk-size or trailer line longer than this is not HTTP. */
#define MAX_CHUNK_LINE 4096

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

/* A getaddrinfo_a() request: glibc holds the gaicb (and the strings it
 * points to) until the lookup finishes, so it lives on its own. */
struct httpget_lookup {
    struct gaicb cb;
    struct addrinfo hints;
    struct httpget_lookup *next;   /* in the resolver's orphan list */
    char text[];                   /* host NUL port NUL */
};

void httpget_init(httpget *h) {
    memset(h, 0, sizeof *h);
    h->fd = -1;
    h->content_length = -1;
}

/* Go writes syscall errors in lower case ("connection refused"). */
static void errno_text(int e, char *out, size_t cap) {
    snprintf(out, cap, "%s", strerror(e));
    if (out[0] && isupper((unsigned char)out[0]) && !(out[1] && isupper((unsigned char)out[1])))
        out[0] = (char)tolower((unsigned char)out[0]);
}

static void watch(httpget *h, uint32_t events) {
    if (h->watching == events) return;
    struct epoll_event ev = {.events = events, .data.u64 = h->tag};
    epoll_ctl(h->epfd, EPOLL_CTL_MOD, h->fd, &ev);
    h->watching = events;
}

static void close_connection(httpget *h) {
    if (h->fd >= 0) close(h->fd); /* which also drops it from the epoll set */
    h->fd = -1;
}

static void free_addrs(httpget *h) {
    if (h->addrs) freeaddrinfo(h->addrs);
    h->addrs = h->next_addr = NULL;
}

/* Ends the request with h->error already written. */
static int fail(httpget *h) {
    close_connection(h);
    free_addrs(h);
    h->state = HTTPGET_IDLE;
    return HTTPGET_FAILED;
}

static int failf(httpget *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(httpget *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof h->error, fmt, ap);
    va_end(ap);
    return fail(h);
}

/* Records a dial error unless an earlier address failed already: Go
 * reports the first address's error. */
static void dial_error(httpget *h, const char *op, int e) {
    if (h->error[0]) return;
    char why[96];
    errno_text(e, why, sizeof why);
    snprintf(h->error, sizeof h->error, "dial tcp %s: %s: %s", h->dial_text, op, why);
}

/* "127.0.0.1:9100" or "[::1]:9100" of the address being dialled. */
static void note_dial_text(httpget *h) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (h->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&h->peer;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(h->dial_text, sizeof h->dial_text, "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&h->peer;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(h->dial_text, sizeof h->dial_text, "[%s]:%d", ip, port);
    }
}

static int send_request(httpget *h);

/* Opens a socket to h->peer and starts connecting.  Returns HTTPGET_MORE,
 * or -2 with h->error when this address failed at once (the caller may
 * try the next one). */
static int open_connection(httpget *h) {
    int fd = socket(h->peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dial_error(h, "socket", errno);
        return -2;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* Go's default */
    int rc = connect(fd, (const struct sockaddr *)&h->peer, h->peer_len);
    if (rc < 0 && errno != EINPROGRESS) {
        dial_error(h, "connect", errno);
        close(fd);
        return -2;
    }
    h->fd = fd;
    h->watching = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = h->tag};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        dial_error(h, "epoll", errno);
        close_connection(h);
        return -2;
    }
    h->state = HTTPGET_CONNECTING;
    return HTTPGET_MORE;
}

/* How long an attempt at one address may take while others wait, as Go's
 * dialer shares the time out (partialDeadline, fallbackDelay). */
#define FALLBACK_DELAY_US 300000
#define SANE_MINIMUM_US 2000000

static int usable(const struct addrinfo *ai, size_t cap) {
    return ai->ai_addrlen <= cap && (ai->ai_family == AF_INET || ai->ai_family == AF_INET6);
}

/* The end of the share of an attempt at ai, with the addresses after it
 * waiting; 0 when none waits. */
static int64_t attempt_until(const httpget *h, const struct addrinfo *ai) {
    size_t left = 0;
    const struct addrinfo *next = NULL;
    for (const struct addrinfo *a = ai->ai_next; a; a = a->ai_next)
        if (usable(a, sizeof h->peer)) {
            if (!next) next = a;
            left++;
        }
    if (!left) return 0;
    int64_t now = mono_micros(), share = INT64_MAX;
    if (h->deadline_us) {
        int64_t remaining = h->deadline_us - now;
        share = remaining / (int64_t)(left + 1);
        if (share < SANE_MINIMUM_US) share = remaining < SANE_MINIMUM_US ? remaining : SANE_MINIMUM_US;
    }
    if (next->ai_family != ai->ai_family && share > FALLBACK_DELAY_US) share = FALLBACK_DELAY_US;
    return share == INT64_MAX ? 0 : now + (share > 0 ? share : 1);
}

/* Dials the addresses left in h->next_addr in turn until one gets as far
 * as connecting. */
static int connect_next(httpget *h) {
    while (h->next_addr) {
        struct addrinfo *ai = h->next_addr;
        h->next_addr = ai->ai_next;
        if (!usable(ai, sizeof h->peer)) continue;
        memcpy(&h->peer, ai->ai_addr, ai->ai_addrlen);
        h->peer_len = ai->ai_addrlen;
        note_dial_text(h);
        h->attempt_until_us = attempt_until(h, ai);
        if (open_connection(h) == HTTPGET_MORE) return HTTPGET_MORE;
    }
    h->attempt_until_us = 0;
    if (!h->error[0]) snprintf(h->error, sizeof h->error, "dial tcp: no usable address");
    return fail(h);
}

static void reset_answer(httpget *h) {
    buf_reset(h->body);
    h->raw_pos = 0;
    h->head_scan = 0;
    h->head_done = 0;
    h->status = 0;
    h->status_text[0] = 0;
    h->content_type[0] = 0;
    h->gzip = 0;
    h->keep_alive = 0;
    h->content_length = -1;
    h->chunked = 0;
    h->chunk_state = CH_SIZE;
    h->chunk_left = 0;
    h->decoded = 0;
    h->interim = 0;
}

/* What every start sets up. */
static void begin(httpget *h, int epfd, uint64_t tag, const char *request, size_t request_len, buf *body,
                  uint64_t limit, uint64_t gzip_limit, int64_t deadline_us) {
    h->epfd = epfd;
    h->tag = tag;
    h->body = body;
    h->limit = limit;
    h->gzip_limit = gzip_limit;
    h->body_exceeded = 0;
    h->error[0] = 0;
    h->request = request;
    h->request_len = request_len;
    h->request_sent = 0;
    h->deadline_us = deadline_us;
    h->attempt_until_us = 0;
    reset_answer(h);
}

int httpget_start_addrs(httpget *h, int epfd, uint64_t tag, struct addrinfo *addrs, const char *request,
                        size_t request_len, buf *body, uint64_t limit, uint64_t gzip_limit, int64_t deadline_us) {
    close_connection(h);
    free_addrs(h);
    begin(h, epfd, tag, request, request_len, body, limit, gzip_limit, deadline_us);
    h->reused = 0;
    h->addrs = h->next_addr = addrs;
    return connect_next(h);
}

int httpget_start(httpget *h, int epfd, uint64_t tag, const char *host, const char *port, const char *request,
                  size_t request_len, buf *body, uint64_t limit, uint64_t gzip_limit, int64_t deadline_us) {
    begin(h, epfd, tag, request, request_len, body, limit, gzip_limit, deadline_us);
    if (h->fd >= 0) {
        h->reused = 1;
        return send_request(h);
    }
    h->reused = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    if (getaddrinfo(host, port, &hints, &h->addrs) == 0) {
        h->next_addr = h->addrs;
        return connect_next(h);
    }
    /* A name: looked up off this thread, polled by httpget_poll_resolve(). */
    size_t hl = strlen(host), pl = strlen(port);
    struct httpget_lookup *l = xcalloc(1, sizeof *l + hl + pl + 2);
    memcpy(l->text, host, hl + 1);
    memcpy(l->text + hl + 1, port, pl + 1);
    l->hints.ai_family = AF_UNSPEC;
    l->hints.ai_socktype = SOCK_STREAM;
    l->cb.ar_name = l->text;
    l->cb.ar_service = l->text + hl + 1;
    l->cb.ar_request = &l->hints;
    struct gaicb *list[1] = {&l->cb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (rc) {
        free(l);
        return failf(h, "dial tcp: lookup %s: %s", host, gai_strerror(rc));
    }
    h->lookup = l;
    h->state = HTTPGET_RESOLVING;
    return HTTPGET_MORE;
}

int httpget_poll_resolve(httpget *h) {
    if (h->state != HTTPGET_RESOLVING || !h->lookup) return HTTPGET_MORE;
    struct httpget_lookup *l = h->lookup;
    int e = gai_error(&l->cb);
    if (e == EAI_INPROGRESS) return HTTPGET_MORE;
    h->lookup = NULL;
    if (e) {
        snprintf(h->error, sizeof h->error, "dial tcp: lookup %s: %s", l->text,
                 e == EAI_NONAME ? "no such host" : gai_strerror(e));
        if (l->cb.ar_result) freeaddrinfo(l->cb.ar_result);
        free(l);
        return fail(h);
    }
    h->addrs = h->next_addr = l->cb.ar_result;
    free(l);
    return connect_next(h);
}

/* A kept connection turned out dead before any of the answer arrived:
 * Go's transport sends an idempotent request again on a new connection. */
static int retry_on_new_connection(httpget *h) {
    close_connection(h);
    h->reused = 0;
    h->request_sent = 0;
    reset_answer(h);
    int rc = open_connection(h);
    return rc == HTTPGET_MORE ? rc : fail(h);
}

/* A read or write on the connection failed with errno e. */
static int connection_failed(httpget *h, const char *op, int e) {
    if (h->reused && h->body->len == 0) return retry_on_new_connection(h);
    char why[96], local[INET6_ADDRSTRLEN + 8] = "?";
    errno_text(e, why, sizeof why);
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    if (getsockname(h->fd, (struct sockaddr *)&a, &al) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (a.ss_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a;
            inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
            snprintf(local, sizeof local, "%s:%d", ip, ntohs(v4->sin_port));
        } else if (a.ss_family == AF_INET6) {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a;
            inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
            snprintf(local, sizeof local, "[%s]:%d", ip, ntohs(v6->sin6_port));
        }
    }
    return failf(h, "%s tcp %s->%s: %s: %s", op, local, h->dial_text, op, why);
}

static int send_request(httpget *h) {
    h->state = HTTPGET_SENDING;
    while (h->request_sent < h->request_len) {
        ssize_t n = send(h->fd, h->request + h->request_sent, h->request_len - h->request_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(h, EPOLLOUT);
                return HTTPGET_MORE;
            }
            return connection_failed(h, "write", errno);
        }
        h->request_sent += (size_t)n;
    }
    h->state = HTTPGET_RECEIVING;
    watch(h, EPOLLIN); /* a kept connection is watched for it already */
    return HTTPGET_MORE;
}

/* Finds the end of the line starting at p (before end): returns the
 * position of its '\n', or NULL.  *len gets the line's length without
 * "\r\n". */
static const char *line_end(const char *p, const char *end, size_t *len) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return NULL;
    size_t n = (size_t)(nl - p);
    if (n && p[n - 1] == '\r') n--;
    *len = n;
    return nl;
}

static int header_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen) {
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl)) return 0;
    const char *v = line + nl + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *value = v;
    *vlen = (size_t)(e - v);
    return 1;
}

static int has_token(const char *v, size_t n, const char *token) {
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= n; i++)
        if (!strncasecmp(v + i, token, tl) && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
            (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == ';'))
            return 1;
    return 0;
}

static void copy_text(char *out, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
}

/* Go's %q of a malformed status line, shortened. */
static int malformed(httpget *h, const char *line, size_t len) {
    char shown[64];
    size_t k = 0;
    for (size_t i = 0; i < len && k + 5 < sizeof shown; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '"' || c == '\\') {
            shown[k++] = '\\';
            shown[k++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            shown[k++] = (char)c;
        } else {
            k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", c);
        }
    }
    shown[k] = 0;
    return failf(h, BROKEN "malformed HTTP response \"%s\"", shown);
}

/* Whether a body of n bytes breaks the limit: Prometheus fails a body of
 * limit bytes or more; the gzip bound is a "cannot inflate to less" test,
 * so a compressed body only fails past it. */
static int over_limit(const httpget *h, uint64_t n) {
    if (h->gzip) return h->gzip_limit && n > h->gzip_limit;
    return h->limit && n >= h->limit;
}

/* Parses the head when it is complete.  Returns 1 when it was (the body
 * bytes are then at the front of *body), 0 when more is needed, or
 * HTTPGET_FAILED. */
static int parse_head(httpget *h) {
    for (;;) {
        const char *data = (const char *)h->body->data, *end = data + h->body->len;
        const char *p = data + h->raw_pos;
        /* Find the blank line that ends the head, from the first line not
         * looked at yet (a head may come in many pieces). */
        const char *q = h->head_scan > h->raw_pos ? data + h->head_scan : p, *head_end = NULL;
        size_t len;
        const char *nl;
        while ((nl = line_end(q, end, &len))) {
            if (len == 0) {
                head_end = nl + 1;
                break;
            }
            q = nl + 1;
        }
        if (!head_end) {
            h->head_scan = (size_t)(q - data);
            if (h->body->len > MAX_HEAD_BYTES)
                return failf(h, "net/http: server response headers exceeded %u bytes; aborted", MAX_HEAD_BYTES);
            /* A status line is checked as soon as it is there, so garbage
             * fails at once instead of at the timeout. */
            if ((nl = line_end(p, end, &len)) && (len < 12 || memcmp(p, "HTTP/1.", 7))) return malformed(h, p, len);
            if (!nl && h->body->len - h->raw_pos >= 7 && memcmp(p, "HTTP/1.", 7))
                return malformed(h, p, (size_t)(end - p) < 40 ? (size_t)(end - p) : 40);
            return 0;
        }
        nl = line_end(p, end, &len);
        if (len < 12 || memcmp(p, "HTTP/1.", 7) || !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
            !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
            (len > 12 && p[12] != ' '))
            return malformed(h, p, len);
        int minor = p[7] - '0';
        h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        copy_text(h->status_text, sizeof h->status_text, p + 9, len - 9);
        h->keep_alive = minor >= 1;
        h->gzip = 0;
        h->chunked = 0;
        h->content_length = -1;
        h->content_type[0] = 0;
        const char *te = NULL;
        size_t te_len = 0;
        for (q = nl + 1; q < head_end;) {
            nl = line_end(q, end, &len);
            const char *v;
            size_t vl;
            if (header_is(q, len, "Content-Length", &v, &vl)) {
                int64_t n = 0;
                if (!vl) return failf(h, BROKEN "bad Content-Length \"\"");
                for (size_t i = 0; i < vl; i++) {
                    if (!isdigit((unsigned char)v[i]) || n > (INT64_MAX - 9) / 10)
                        return failf(h, BROKEN "bad Content-Length \"%.*s\"", (int)(vl < 40 ? vl : 40), v);
                    n = n * 10 + (v[i] - '0');
                }
                /* Two lengths that differ leave the answer's end unknown. */
                if (h->content_length >= 0 && h->content_length != n)
                    return failf(h, BROKEN "message cannot contain multiple Content-Length headers");
                h->content_length = n;
            } else if (header_is(q, len, "Transfer-Encoding", &v, &vl)) {
                te = v;
                te_len = vl;
            } else if (header_is(q, len, "Content-Type", &v, &vl)) {
                copy_text(h->content_type, sizeof h->content_type, v, vl);
            } else if (header_is(q, len, "Content-Encoding", &v, &vl)) {
                h->gzip = vl == 4 && !memcmp(v, "gzip", 4); /* Prometheus compares exactly */
            } else if (header_is(q, len, "Connection", &v, &vl)) {
                if (has_token(v, vl, "close")) h->keep_alive = 0;
                else if (has_token(v, vl, "keep-alive")) h->keep_alive = 1;
            }
            q = nl + 1;
        }
        size_t consumed = (size_t)(head_end - data);
        if (h->status >= 100 && h->status < 200 && h->status != 101) {
            /* An interim answer: the real one follows.  Dropped from the
             * buffer, so that the head limit counts from the next one. */
            if (++h->interim > MAX_INTERIM) return failf(h, "net/http: too many 1xx informational responses");
            size_t rest = h->body->len - consumed;
            memmove(h->body->data, h->body->data + consumed, rest);
            h->body->len = rest;
            h->raw_pos = h->head_scan = 0;
            continue;
        }
        /* Go honours Transfer-Encoding from HTTP/1.1 on, and only
         * "chunked" alone. */
        if (te && minor >= 1) {
            if (te_len != 7 || strncasecmp(te, "chunked", 7))
                return failf(h, BROKEN "unsupported transfer encoding: \"%.*s\"", (int)(te_len < 40 ? te_len : 40),
                             te);
            h->chunked = 1;
        }
        if (h->status == 204 || h->status == 304) h->content_length = 0, h->chunked = 0;
        if (h->chunked) h->content_length = -1;
        else if (h->content_length < 0) h->keep_alive = 0; /* the body ends when the server closes */
        if (h->content_length > 0 && over_limit(h, (uint64_t)h->content_length)) {
            h->body_exceeded = 1;
            return failf(h, "body size limit exceeded");
        }
        size_t rest = h->body->len - consumed;
        memmove(h->body->data, h->body->data + consumed, rest);
        h->body->len = rest;
        h->raw_pos = 0;
        h->head_done = 1;
        return 1;
    }
}

static int check_limit(httpget *h, size_t decoded) {
    if (over_limit(h, decoded)) {
        h->body_exceeded = 1;
        return failf(h, "body size limit exceeded");
    }
    return 0;
}

/* The answer is complete with decoded bytes of body; anything after it is
 * a server speaking out of turn, so such a connection is not kept. */
static int finish(httpget *h, size_t decoded) {
    if (h->body->len > decoded) h->keep_alive = 0;
    h->body->len = decoded;
    free_addrs(h);
    if (!h->keep_alive) close_connection(h);
    h->state = HTTPGET_IDLE;
    return HTTPGET_DONE;
}

/* Decodes the chunks received so far (see the file comment). */
static int decode_chunks(httpget *h) {
    uint8_t *d = h->body->data;
    size_t out = h->decoded;
    for (;;) {
        size_t avail = h->body->len - h->raw_pos;
        const char *p = (const char *)d + h->raw_pos, *end = p + avail;
        if (h->chunk_state == CH_DATA) {
            size_t n = avail < h->chunk_left ? avail : (size_t)h->chunk_left;
            if (!n) break;
            memmove(d + out, d + h->raw_pos, n);
            out += n;
            h->raw_pos += n;
            h->chunk_left -= n;
            if (check_limit(h, out)) return HTTPGET_FAILED;
            if (!h->chunk_left) h->chunk_state = CH_DATA_END;
            continue;
        }
        size_t len;
        const char *nl = line_end(p, end, &len);
        if (!nl) {
            if (avail > MAX_CHUNK_LINE) return failf(h, "malformed chunked encoding");
            break;
        }
        h->raw_pos += (size_t)(nl + 1 - p);
        if (h->chunk_state == CH_DATA_END) {
            if (len) return failf(h, "malformed chunked encoding");
            h->chunk_state = CH_SIZE;
        } else if (h->chunk_state == CH_SIZE) {
            uint64_t size = 0;
            size_t i = 0;
            for (; i < len && isxdigit((unsigned char)p[i]); i++) {
                if (size >> 59) return failf(h, "http chunk length too large");
                size = size * 16 + (uint64_t)(isdigit((unsigned char)p[i]) ? p[i] - '0' : (tolower((unsigned char)p[i]) - 'a' + 10));
            }
            if (!i || (i < len && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
                return failf(h, "malformed chunked encoding");
            if (size) {
                h->chunk_left = size;
                h->chunk_state = CH_DATA;
            } else {
                h->chunk_state = CH_TRAILER;
            }
        } else if (len == 0) { /* CH_TRAILER: the blank line ends the body */
            size_t after = h->body->len - h->raw_pos;
            memmove(d + out, d + h->raw_pos, after);
            h->body->len = out + after;
            return finish(h, out);
        }
    }
    /* Move what is still raw down to the decoded bytes, so that the buffer
     * holds no gap. */
    size_t rest = h->body->len - h->raw_pos;
    if (h->raw_pos > out) memmove(d + out, d + h->raw_pos, rest);
    h->body->len = out + rest;
    h->raw_pos = out;
    h->decoded = out;
    return HTTPGET_MORE;
}

/* Parses what has arrived. */
static int parse(httpget *h) {
    if (!h->head_done) {
        int r = parse_head(h);
        if (r <= 0) return r < 0 ? r : HTTPGET_MORE;
    }
    if (h->chunked) return decode_chunks(h);
    if (h->content_length >= 0) {
        if (h->body->len >= (uint64_t)h->content_length) return finish(h, (size_t)h->content_length);
        return HTTPGET_MORE;
    }
    if (check_limit(h, h->body->len)) return HTTPGET_FAILED;
    return HTTPGET_MORE;
}

/* The server closed the connection. */
static int on_eof(httpget *h) {
    if (!h->head_done) {
        if (h->body->len == 0) {
            if (h->reused) return retry_on_new_connection(h);
            return failf(h, "EOF");
        }
        return failf(h, "unexpected EOF");
    }
    if (!h->chunked && h->content_length < 0) return finish(h, h->body->len);
    return failf(h, "unexpected EOF");
}

static int receive(httpget *h) {
    for (;;) {
        buf_reserve(h->body, RECV_ROOM);
        size_t room = h->body->cap - h->body->len;
        ssize_t n = recv(h->fd, h->body->data + h->body->len, room, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return HTTPGET_MORE;
            return connection_failed(h, "read", errno);
        }
        if (n == 0) return on_eof(h);
        h->body->len += (size_t)n;
        int r = parse(h);
        if (r != HTTPGET_MORE) return r;
        if ((size_t)n < room) return HTTPGET_MORE; /* drained: epoll says when there is more */
    }
}

int httpget_on_ready(httpget *h, uint32_t events) {
    switch (h->state) {
    case HTTPGET_IDLE:
        /* A kept connection is readable only when the server closed it or
         * talks out of turn: either way it cannot carry the next request. */
        close_connection(h);
        return HTTPGET_MORE;
    case HTTPGET_RESOLVING:
        return HTTPGET_MORE;
    case HTTPGET_CONNECTING: {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        if (!err && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return HTTPGET_MORE;
        if (err) {
            dial_error(h, "connect", err);
            close_connection(h);
            return connect_next(h);
        }
        free_addrs(h);
        return send_request(h);
    }
    case HTTPGET_SENDING:
        return send_request(h);
    case HTTPGET_RECEIVING:
        return receive(h);
    }
    return HTTPGET_MORE;
}

int64_t httpget_wake_us(const httpget *h) { return h->state == HTTPGET_CONNECTING ? h->attempt_until_us : 0; }

int httpget_tick(httpget *h, int64_t now_us) {
    if (h->state != HTTPGET_CONNECTING || !h->attempt_until_us || now_us < h->attempt_until_us) return HTTPGET_MORE;
    if (!h->error[0]) snprintf(h->error, sizeof h->error, "dial tcp %s: i/o timeout", h->dial_text);
    close_connection(h);
    return connect_next(h);
}

/* Hands a lookup in progress to r (or frees it when glibc lets go). */
static void drop_lookup(httpget *h, httpget_resolver *r) {
    struct httpget_lookup *l = h->lookup;
    if (!l) return;
    h->lookup = NULL;
    int rc = gai_cancel(&l->cb);
    if (rc == EAI_NOTCANCELED) {
        l->next = r->orphans;
        r->orphans = l;
        return;
    }
    if (l->cb.ar_result) freeaddrinfo(l->cb.ar_result);
    free(l);
}

void httpget_abort(httpget *h, httpget_resolver *r) {
    drop_lookup(h, r);
    close_connection(h);
    free_addrs(h);
    h->state = HTTPGET_IDLE;
}

void httpget_close(httpget *h, httpget_resolver *r) {
    httpget_abort(h, r);
    h->request = NULL;
}

void httpget_resolver_reap(httpget_resolver *r, int wait) {
    for (struct httpget_lookup **pp = &r->orphans; *pp;) {
        struct httpget_lookup *l = *pp;
        if (wait) {
            const struct gaicb *list[1] = {&l->cb};
            while (gai_error(&l->cb) == EAI_INPROGRESS) gai_suspend(list, 1, NULL);
        }
        if (gai_error(&l->cb) == EAI_INPROGRESS) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        if (l->cb.ar_result) freeaddrinfo(l->cb.ar_result);
        free(l);
    }
}
