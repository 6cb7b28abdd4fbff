/*
 * httpget.h - the scrape loop's HTTP/1.1 GET client for plain-http targets
 * without a proxy, driven by the caller's epoll set.
 *
 * Why not libcurl for these: a scrape of a node_exporter-sized target
 * costs promlite about 440 µs of CPU, and libcurl's part of it (an easy
 * handle per transfer, its URL parser, connection cache, liveness poll()s
 * and multi-handle bookkeeping) is about 150 µs above what the socket
 * calls themselves cost (bench/http_client_cost measures both).  A scrape
 * is one GET of one URL over a kept-alive connection, so the client it
 * needs is small; HTTPS, proxies and redirects stay with libcurl (the
 * scrape loop hands a target to libcurl when its answer is a redirect).
 *
 * What it does: one connection per httpget, kept alive between requests
 * (a kept connection is watched for EPOLLIN while idle, so one the server
 * closes is dropped at once); names resolved afresh for each new
 * connection, as Go does, with getaddrinfo_a() so that a slow resolver
 * never blocks the caller (numeric addresses skip it); every address of a
 * name tried in turn, as Go's dialer does: each attempt gets its share of
 * the time left (at least 2 s), and one whose next address is of the
 * other family gets 300 ms before that one is tried; a request that fails on a kept connection before any
 * byte of the answer arrived is sent once more on a new one, as Go's
 * transport retries an idempotent request; 1xx answers skipped;
 * Content-Length, chunked and close-delimited bodies; a body limit
 * enforced while receiving.  Error texts follow Go's net/http, which is
 * what Prometheus shows in lastError ("dial tcp 127.0.0.1:9: connect:
 * connection refused").
 *
 * Timeouts are the caller's: it knows each request's deadline and calls
 * httpget_abort() when it passes; it also calls httpget_tick() at the
 * moment httpget_wake_us() names, when a connect attempt runs out of its
 * share of the time.
 *
 * Ownership: the caller owns the httpget (embedded or allocated), the
 * request text and the body buffer it passes in, and keeps the request
 * text unchanged until the request ends; httpget_close() frees what the
 * httpget holds.
 * A name lookup still running when its httpget is closed is handed to the
 * httpget_resolver, which frees it once glibc is done with it.
 * Threads: an httpget and its resolver are used by one thread at a time
 * (the scrape thread); glibc's resolver threads touch only their request.
 */
#ifndef PROMLITE_HTTPGET_H
#define PROMLITE_HTTPGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/util.h"

typedef enum {
    HTTPGET_IDLE,        /* no request; a kept connection may be open */
    HTTPGET_RESOLVING,   /* waiting for getaddrinfo_a(): httpget_poll_resolve() */
    HTTPGET_CONNECTING,
    HTTPGET_SENDING,
    HTTPGET_RECEIVING
} httpget_state;

/* What httpget_start(), httpget_on_ready() and httpget_poll_resolve()
 * return. */
#define HTTPGET_MORE 0     /* in progress: wait for the next event */
#define HTTPGET_DONE 1     /* the answer is complete: status, headers, body */
#define HTTPGET_FAILED (-1) /* error holds why; the connection is closed */

/* Name lookups that outlived their httpget (one per caller). */
typedef struct {
    struct httpget_lookup *orphans;
} httpget_resolver;

typedef struct httpget {
    httpget_state state;
    int fd;                        /* the connection, -1 when none */
    uint64_t tag;                  /* epoll_event.data.u64 of fd */
    int epfd;
    uint32_t watching;             /* the events fd is registered for */
    /* The request in flight (borrowed from the caller). */
    const char *request;
    size_t request_len, request_sent;
    int reused;                    /* sent on a kept connection: may retry once */
    /* Where to connect. */
    struct httpget_lookup *lookup; /* running getaddrinfo_a(), or NULL */
    struct addrinfo *addrs, *next_addr;
    struct sockaddr_storage peer;  /* the connection's address */
    int64_t deadline_us;           /* the caller's deadline (mono_seconds() µs), 0: none */
    int64_t attempt_until_us;      /* this connect attempt's share ends; 0: no other address */
    socklen_t peer_len;
    char dial_text[80];            /* "127.0.0.1:9100" for error texts */
    /* The answer.  The body is decoded (chunks joined) into *body. */
    buf *body;
    uint64_t limit, gzip_limit;    /* 0: none; gzip_limit when Content-Encoding is gzip */
    size_t raw_pos;                /* first byte of *body not yet parsed */
    size_t head_scan;              /* where the search for the head's end resumes */
    int head_done;
    int interim;                   /* 1xx answers skipped so far */
    int status;                    /* 200 */
    char status_text[96];          /* "200 OK" */
    char content_type[128];
    int gzip;                      /* Content-Encoding: gzip */
    int keep_alive;
    int64_t content_length;        /* -1: not given */
    int chunked, chunk_state;
    uint64_t chunk_left;
    size_t decoded;                /* chunked: body bytes decoded so far */
    int body_exceeded;             /* failed because the body passed the limit */
    char error[256];
} httpget;

/* Sets h up with no connection. */
void httpget_init(httpget *h);

/* Starts GET request (the complete request text, request_len bytes: request
 * line, headers and the blank line; borrowed until the answer is complete,
 * failed or aborted) to host:port, to be done by deadline_us (0: no
 * deadline; it only shares out the time among a name's addresses), on the kept connection
 * when there is one.  host is a name or a numeric address (IPv6 without
 * brackets).  The connection is registered in epfd with tag as its
 * epoll_event data; the caller passes each event for tag to
 * httpget_on_ready().  The answer's body goes to body (reset first); its
 * decoded size may not exceed limit, or gzip_limit when it is
 * gzip-encoded (0 for none).  Returns HTTPGET_MORE, or HTTPGET_FAILED with
 * h->error (the name could not be looked up, no socket). */
int httpget_start(httpget *h, int epfd, uint64_t tag, const char *host, const char *port, const char *request,
                  size_t request_len, buf *body, uint64_t limit, uint64_t gzip_limit, int64_t deadline_us);

/* httpget_start() with the addresses given (a getaddrinfo() list, which h
 * takes over) instead of a name; a kept connection is closed first.
 * Exposed for tests. */
int httpget_start_addrs(httpget *h, int epfd, uint64_t tag, struct addrinfo *addrs, const char *request,
                        size_t request_len, buf *body, uint64_t limit, uint64_t gzip_limit, int64_t deadline_us);

/* When the caller must call httpget_tick() (mono_seconds() µs), or 0. */
int64_t httpget_wake_us(const httpget *h);

/* Moves a connect attempt whose share of the time is up on to the next
 * address.  Returns as httpget_on_ready(); HTTPGET_MORE when nothing was
 * due. */
int httpget_tick(httpget *h, int64_t now_us);

/* Handles the epoll events of h's connection.  For an idle httpget it
 * closes a connection the server closed (or sent to unasked) and returns
 * HTTPGET_MORE. */
int httpget_on_ready(httpget *h, uint32_t events);

/* For an httpget in HTTPGET_RESOLVING: checks whether the lookup finished
 * and if so connects.  Returns as httpget_on_ready(). */
int httpget_poll_resolve(httpget *h);

/* Ends the request in flight, if any, and closes the connection (a
 * timeout).  The httpget is idle afterwards. */
void httpget_abort(httpget *h, httpget_resolver *r);

/* Frees everything h holds and closes its connection. */
void httpget_close(httpget *h, httpget_resolver *r);

/* Frees the orphaned lookups that have finished; with wait set, waits for
 * all of them first (at shutdown). */
void httpget_resolver_reap(httpget_resolver *r, int wait);

#endif
