/*
 * test_web_auth.c - the HTTP server's security end to end: web_start() on
 * 127.0.0.1:0 over a tsdb in a temporary folder with a web config, driven
 * by libcurl.  Checks 401 (with WWW-Authenticate: Basic) without or with
 * wrong credentials, 200 with basic auth and with a read token, 403 for
 * /-/quit with read rights, the admin token's /-/quit, the unauthorized
 * counter in /metrics, and, when /usr/bin/openssl exists to make a
 * self-signed certificate at run time, HTTPS with that certificate pinned
 * as the only CA, plus web_start()'s messages for bad TLS files.  Talks to
 * 127.0.0.1 only.  bcrypt hashes use cost 4 to keep the test fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "web/server.h"
#include "web/webconfig.h"

/* crypt_r(3) of "secret" with a bcrypt salt of cost 4. */
#define HASH_SECRET "$2b$04$8AkQI3b1dSDn5kfKmgnQ1OWQQD4llZlv5NtX6MQUl6h36ENkaz5mW"

typedef struct {
    char dir[64];
    tsdb *db;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/promlite-webauth-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/data", f->dir);
    tsdb_options o = {.path = path};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    errbuf err;
    tsdb_close(f->db, &err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd)) return -1;
    free(f);
    return 0;
}

static web_security *security(const char *text) {
    web_security *s = NULL;
    errbuf err;
    if (webconfig_parse(text, strlen(text), "web.yml", &s, &err)) fail_msg("web config: %s", err.msg);
    return s;
}

static web_server *start(fixture *f, const web_security *sec) {
    web_options o = {.listen_address = "127.0.0.1:0", .threads = 2, .db = f->db, .enable_lifecycle = 1,
                     .security = sec};
    web_server *s;
    errbuf err;
    if (web_start(&o, &s, &err)) fail_msg("web_start: %s", err.msg);
    return s;
}

typedef struct {
    long status;
    buf body;
    int challenge; /* saw WWW-Authenticate: Basic */
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    buf_append(&((reply *)ud)->body, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    if (size * n >= 23 && !strncasecmp(p, "WWW-Authenticate: Basic", 23)) ((reply *)ud)->challenge = 1;
    return size * n;
}

/* One request.  auth: a whole Authorization header value or NULL; post:
 * a form body (POST) or NULL (GET); ca: a CA file for https, or NULL.
 * Returns the status (0 when the transfer failed) in r. */
static void request(reply *r, const char *scheme, unsigned port, const char *path, const char *auth, const char *post,
                    const char *ca) {
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[256], hdr[512];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, port, path);
    struct curl_slist *h = NULL;
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    if (ca) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    }
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    buf_append(&r->body, "", 1);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* request() and the status it must answer. */
static void expect(long want, const char *scheme, unsigned port, const char *path, const char *auth, const char *post,
                   const char *ca) {
    reply r;
    request(&r, scheme, port, path, auth, post, ca);
    if (r.status != want)
        fail_msg("%s %s (auth %s): status %ld, want %ld: %s", post ? "POST" : "GET", path, auth ? auth : "none", r.status,
                 want, (char *)r.body.data);
    if (want == 401 && !r.challenge) fail_msg("%s: 401 without WWW-Authenticate: Basic", path);
    buf_free(&r.body);
}

/* "Basic " + base64("alice:secret") and friends. */
#define ALICE "Basic YWxpY2U6c2VjcmV0"
#define ALICE_WRONG "Basic YWxpY2U6d3Jvbmc="

static const char *const users_and_tokens = "basic_auth_users:\n"
                                            "  alice: " HASH_SECRET "\n"
                                            "bearer_tokens:\n"
                                            "  - token: r3ad\n"
                                            "  - token: adm1n\n"
                                            "    role: admin\n";

static void test_auth(void **state) {
    fixture *f = *state;
    web_security *sec = security(users_and_tokens);
    web_server *s = start(f, sec);
    unsigned port = web_port(s);
    const char *q = "/api/v1/query?query=1%2B1";
    expect(401, "http", port, q, NULL, NULL, NULL);
    expect(401, "http", port, q, ALICE_WRONG, NULL, NULL);
    expect(401, "http", port, q, "Bearer wrong", NULL, NULL);
    expect(401, "http", port, "/-/healthy", NULL, NULL, NULL);
    expect(401, "http", port, "/api/v1/query", NULL, "query=1%2B1", NULL); /* the body is drained, not read */
    expect(200, "http", port, q, ALICE, NULL, NULL);
    expect(200, "http", port, q, ALICE, NULL, NULL); /* cached */
    expect(200, "http", port, q, "Bearer r3ad", NULL, NULL);
    expect(200, "http", port, "/api/v1/query", "Bearer r3ad", "query=1%2B1", NULL);
    expect(200, "http", port, q, "Bearer adm1n", NULL, NULL);
    /* admin endpoints: readers get 403, admins get through */
    expect(403, "http", port, "/-/quit", "Bearer r3ad", "", NULL);
    expect(403, "http", port, "/-/reload", ALICE, "", NULL); /* users are readers when tokens exist */
    assert_false(web_quit_requested(s));
    reply r;
    request(&r, "http", port, "/metrics", "Bearer r3ad", NULL, NULL);
    assert_int_equal(r.status, 200);
    if (!strstr((char *)r.body.data, "\npromlite_http_unauthorized_requests_total 5\n"))
        fail_msg("metrics: %s", (char *)r.body.data);
    buf_free(&r.body);
    expect(200, "http", port, "/-/reload", "Bearer adm1n", "", NULL);
    expect(200, "http", port, "/-/quit", "Bearer adm1n", "", NULL);
    assert_true(web_quit_requested(s));
    web_stop(s);
    webconfig_free(sec);
}

/* Without tokens, basic-auth users are admins; without a web config (or
 * with one that has no users or tokens) nothing is asked. */
static void test_users_only_and_open(void **state) {
    fixture *f = *state;
    web_security *sec = security("basic_auth_users:\n  alice: " HASH_SECRET "\n");
    web_server *s = start(f, sec);
    expect(401, "http", web_port(s), "/-/quit", NULL, "", NULL);
    expect(200, "http", web_port(s), "/-/quit", ALICE, "", NULL);
    assert_true(web_quit_requested(s));
    web_stop(s);
    webconfig_free(sec);

    sec = security("http_server_config:\n  http2: true\n");
    s = start(f, sec);
    expect(200, "http", web_port(s), "/api/v1/status/buildinfo", NULL, NULL, NULL);
    expect(200, "http", web_port(s), "/-/quit", NULL, "", NULL);
    web_stop(s);
    webconfig_free(sec);

    s = start(f, NULL);
    expect(200, "http", web_port(s), "/-/quit", NULL, "", NULL);
    web_stop(s);
}

static int have_openssl(void) { return access("/usr/bin/openssl", X_OK) == 0; }

/* Makes a self-signed certificate and key for 127.0.0.1 in dir. */
static void make_cert(const char *dir, const char *name) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             "-days 1 -keyout '%s/%s.key' -out '%s/%s.crt' >/dev/null 2>&1",
             dir, name, dir, name);
    if (system(cmd)) fail_msg("openssl req failed: %s", cmd);
}

static void test_tls(void **state) {
    fixture *f = *state;
    if (!have_openssl()) {
        print_message("no /usr/bin/openssl: skipping the HTTPS checks\n");
        skip();
    }
    make_cert(f->dir, "server");
    char text[1024], ca[128];
    snprintf(text, sizeof text,
             "tls_server_config:\n  cert_file: %s/server.crt\n  key_file: %s/server.key\n"
             "bearer_tokens:\n  - token: r3ad\n",
             f->dir, f->dir);
    snprintf(ca, sizeof ca, "%s/server.crt", f->dir);
    web_security *sec = security(text);
    web_server *s = start(f, sec);
    unsigned port = web_port(s);
    expect(401, "https", port, "/api/v1/query?query=1", NULL, NULL, ca);
    expect(200, "https", port, "/api/v1/query?query=1", "Bearer r3ad", NULL, ca);
    expect(200, "https", port, "/api/v1/query", "Bearer r3ad", "query=2", ca);
    /* the system's CAs do not know the certificate; plain HTTP gets no answer */
    reply r;
    request(&r, "https", port, "/-/healthy", "Bearer r3ad", NULL, "/dev/null");
    assert_int_equal(r.status, 0);
    buf_free(&r.body);
    request(&r, "http", port, "/-/healthy", "Bearer r3ad", NULL, NULL);
    assert_int_not_equal(r.status, 200);
    buf_free(&r.body);
    web_stop(s);
    webconfig_free(sec);
}

/* web_start() names the TLS file at fault. */
static void test_tls_bad_files(void **state) {
    fixture *f = *state;
    if (!have_openssl()) skip();
    make_cert(f->dir, "a");
    make_cert(f->dir, "b");
    char garbage[128];
    snprintf(garbage, sizeof garbage, "%s/garbage.pem", f->dir);
    FILE *g = fopen(garbage, "w");
    fputs("not a certificate\n", g);
    fclose(g);
    struct {
        const char *cert, *key, *want;
    } cases[] = {
        {"missing.crt", "a.key", "cannot read cert_file %s/missing.crt: No such file or directory"},
        {"a.crt", "missing.key", "cannot read key_file %s/missing.key: No such file or directory"},
        {"garbage.pem", "a.key", "cert_file %s/garbage.pem: no PEM certificate found"},
        {"a.crt", "garbage.pem", "key_file %s/garbage.pem: no unencrypted PEM private key found"},
        {"a.crt", "b.key", "key_file %s/b.key does not match the certificate of cert_file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024], want[512];
        snprintf(text, sizeof text, "tls_server_config:\n  cert_file: %s/%s\n  key_file: %s/%s\n", f->dir,
                 cases[i].cert, f->dir, cases[i].key);
        snprintf(want, sizeof want, cases[i].want, f->dir);
        web_security *sec = security(text);
        web_options o = {.listen_address = "127.0.0.1:0", .db = f->db, .security = sec};
        web_server *s = NULL;
        errbuf err;
        assert_int_equal(web_start(&o, &s, &err), -1);
        if (!strstr(err.msg, want)) fail_msg("case %zu: got %s, want %s", i, err.msg, want);
        webconfig_free(sec);
    }
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_only_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_bad_files, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
