/*
 * test_webconfig.c - the web config loader (web/webconfig.h): a table of
 * bad files with the message each must give (FILE:LINE:COL and the reason,
 * in exporter-toolkit's wording where it has one), good files with their
 * parsed values, bcrypt verification against hashes made once with
 * libxcrypt's crypt_r ($2a$, $2b$, $2y$, low costs to keep the test fast),
 * bearer tokens (inline and from files), the rights rule, and the cache of
 * bcrypt outcomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web/webconfig.h"

/* crypt_r(3) with a bcrypt salt: "secret", "p@ss:w0rd", "hunter2". */
#define HASH_SECRET "$2b$04$8AkQI3b1dSDn5kfKmgnQ1OWQQD4llZlv5NtX6MQUl6h36ENkaz5mW"
#define HASH_PASSW0RD "$2y$04$AUjTbyMpEVw6rHvDfT37teA7mBT2I2MiPrhrGjGXeXvCWCCJB47G."
#define HASH_HUNTER2 "$2a$05$r9ZrWBFM7kg8RQS4J2WXr.30JPmkXFi4c01Khywi/Xxu5vpTnyXea"

static web_security *parse_ok(const char *text) {
    web_security *s = NULL;
    errbuf err;
    err.msg[0] = 0;
    if (webconfig_parse(text, strlen(text), "w.yml", &s, &err)) fail_msg("unexpected error: %s\n---\n%s", err.msg, text);
    return s;
}

static const struct {
    const char *yaml;
    const char *want;
} bad[] = {
    /* YAML syntax and document shape */
    {"basic_auth_users:\n  a: [x\n", "w.yml:3:1: yaml: did not find expected ',' or ']'"},
    {"a: b: c\n", "w.yml:1:5: yaml: mapping values are not allowed in this context"},
    {"{}\n---\n{}\n", "w.yml:2:1: a second YAML document is not supported"},
    {"[1]\n", "w.yml:1:1: cannot unmarshal !!seq into web.Config"},
    /* unknown and repeated fields */
    {"foo: 1\n", "w.yml:1:1: field foo not found in type web.Config"},
    {"rate_limit: {burst: 1}\n", "w.yml:1:1: field rate_limit not found in type web.Config"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
     "w.yml:4:3: field certfile not found in type web.TLSStruct"},
    {"http_server_config:\n  http3: true\n", "w.yml:2:3: field http3 not found in type web.HTTPStruct"},
    {"bearer_tokens:\n  - token: a\n    rol: admin\n", "w.yml:3:5: field rol not found in type promlite.BearerToken"},
    {"tls_server_config:\n  cert_file: a\n  cert_file: b\n",
     "w.yml:3:3: field cert_file already set in type web.TLSStruct"},
    {"basic_auth_users:\n  a: " HASH_SECRET "\n  a: " HASH_SECRET "\n", "w.yml:3:3: key \"a\" already set in map"},
    /* known to exporter-toolkit, not implemented */
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca.pem\n",
     "w.yml:4:3: \"client_ca_file\" is not supported by promlite"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n",
     "w.yml:4:3: \"min_version\" is not supported by promlite"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
     "w.yml:4:3: \"cipher_suites\" is not supported by promlite"},
    {"http_server_config:\n  headers:\n    X-Frame-Options: deny\n", "w.yml:2:3: \"headers\" is not supported by promlite"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
     "w.yml:4:21: client_auth_type RequireAndVerifyClientCert is not supported by promlite"},
    {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
     "w.yml:4:21: invalid ClientAuth: Sometimes"},
    /* types */
    {"tls_server_config: 5\n", "w.yml:1:20: cannot unmarshal !!int `5` into web.TLSStruct"},
    {"tls_server_config:\n  cert_file: [a]\n", "w.yml:2:14: cannot unmarshal !!seq into string"},
    {"http_server_config:\n  http2: maybe\n", "w.yml:2:10: cannot unmarshal !!str `maybe` into bool"},
    {"http_server_config:\n  http2: 1\n", "w.yml:2:10: cannot unmarshal !!int `1` into bool"},
    {"basic_auth_users: [a]\n", "w.yml:1:19: cannot unmarshal !!seq into map[string]config.Secret"},
    {"bearer_tokens: abc\n", "w.yml:1:16: cannot unmarshal !!str `abc` into []promlite.BearerToken"},
    {"bearer_tokens: [abcdefghijkl]\n", "w.yml:1:17: cannot unmarshal !!str `abcdefg...` into promlite.BearerToken"},
    /* TLS pairing (exporter-toolkit's checks) */
    {"tls_server_config:\n  key_file: b\n", "w.yml:2:3: missing cert_file"},
    {"tls_server_config:\n  cert_file: a\n", "w.yml:2:3: missing key_file"},
    {"tls_server_config:\n  client_auth_type: NoClientCert\n", "w.yml:2:3: missing cert_file"},
    /* users */
    {"basic_auth_users:\n  alice: plaintext\n", "w.yml:2:10: the password hash of user \"alice\" is not a bcrypt hash"},
    {"basic_auth_users:\n  alice: $2b$04$short\n", "must be 60 characters long"},
    {"basic_auth_users:\n  alice: $2b$99$8AkQI3b1dSDn5kfKmgnQ1OWQQD4llZlv5NtX6MQUl6h36ENkaz5mW\n",
     "has a bcrypt cost outside 4..31"},
    {"basic_auth_users:\n  alice:\n", "w.yml:2:9: user \"alice\" has no password hash"},
    {"basic_auth_users:\n  \"a:b\": " HASH_SECRET "\n", "w.yml:2:3: user name \"a:b\" contains ':'"},
    /* tokens */
    {"bearer_tokens:\n  - role: read\n", "w.yml:2:5: a bearer token needs token or token_file"},
    {"bearer_tokens:\n  - token: a\n    token_file: b\n", "w.yml:2:5: at most one of token and token_file"},
    {"bearer_tokens:\n  - token: a\n    role: root\n", "w.yml:3:11: unknown role \"root\" (use read or admin)"},
    {"bearer_tokens:\n  - token: \"a b\"\n", "w.yml:2:12: a bearer token cannot contain spaces"},
    {"bearer_tokens:\n  - token: abc\n  - token: abc\n    role: admin\n",
     "w.yml:3:12: the same bearer token is configured at line 2"},
    {"bearer_tokens:\n  - token_file: /nonexistent/promlite.token\n",
     "w.yml:2:17: cannot read token_file /nonexistent/promlite.token: No such file or directory"},
};

static void test_bad_files(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        web_security *s = (web_security *)1;
        errbuf err;
        err.msg[0] = 0;
        int rc = webconfig_parse(bad[i].yaml, strlen(bad[i].yaml), "w.yml", &s, &err);
        if (rc != -1 || s != NULL || strncmp(err.msg, "w.yml:", 6) || !strstr(err.msg, bad[i].want)) {
            print_error("case %zu: rc=%d\n  got:  %s\n  want: %s\n---\n%s", i, rc, err.msg, bad[i].want, bad[i].yaml);
            failures++;
            if (rc == 0) webconfig_free(s);
        }
    }
    assert_int_equal(failures, 0);
}

static void test_empty_and_plain(void **state) {
    (void)state;
    const char *texts[] = {"", "# nothing\n", "{}\n", "tls_server_config:\nhttp_server_config:\n  http2: false\n",
                           "tls_server_config:\n  cipher_suites: []\n  client_ca_file:\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        web_security *s = parse_ok(texts[i]);
        assert_false(webconfig_auth_required(s));
        assert_null(s->cert_file);
        assert_int_equal(webconfig_authenticate(s, NULL, NULL), WEB_ROLE_ADMIN);
        webconfig_free(s);
    }
    web_security *s = parse_ok("http_server_config:\n  http2: false\n");
    assert_int_equal(s->http2, 0);
    webconfig_free(s);
    /* no web config at all */
    assert_int_equal(webconfig_authenticate(NULL, NULL, "Basic Zm9vOmJhcg=="), WEB_ROLE_ADMIN);
}

static void test_good_file(void **state) {
    (void)state;
    web_security *s = parse_ok("tls_server_config:\n"
                               "  cert_file: server.crt\n"
                               "  key_file: /etc/promlite/server.key\n"
                               "  client_auth_type: NoClientCert\n"
                               "http_server_config:\n"
                               "  http2: true\n"
                               "basic_auth_users:\n"
                               "  alice: " HASH_SECRET "\n"
                               "  bob: '" HASH_PASSW0RD "'\n"
                               "  carol: \"" HASH_HUNTER2 "\"\n"
                               "bearer_tokens:\n"
                               "  - token: r3ad\n"
                               "  - token: adm1n\n"
                               "    role: admin\n");
    assert_string_equal(s->cert_file, "server.crt"); /* folder of "w.yml" is "." */
    assert_string_equal(s->key_file, "/etc/promlite/server.key");
    assert_int_equal(s->nusers, 3);
    assert_string_equal(s->users[1].name, "bob");
    assert_string_equal(s->users[1].hash, HASH_PASSW0RD);
    assert_int_equal(s->users[2].line, 10);
    assert_int_equal(s->ntokens, 2);
    assert_int_equal(s->tokens[0].role, WEB_ROLE_READ);
    assert_int_equal(s->tokens[1].role, WEB_ROLE_ADMIN);
    assert_true(webconfig_auth_required(s));
    webconfig_free(s);

    /* relative paths follow the file's folder */
    web_security *t = NULL;
    errbuf err;
    const char *text = "tls_server_config: {cert_file: c.pem, key_file: k.pem}\n";
    assert_int_equal(webconfig_parse(text, strlen(text), "/etc/promlite/web.yml", &t, &err), 0);
    assert_string_equal(t->cert_file, "/etc/promlite/c.pem");
    assert_string_equal(t->key_file, "/etc/promlite/k.pem");
    webconfig_free(t);
}

static void test_bcrypt(void **state) {
    (void)state;
    assert_true(webconfig_bcrypt_verify(HASH_SECRET, "secret"));
    assert_false(webconfig_bcrypt_verify(HASH_SECRET, "Secret"));
    assert_false(webconfig_bcrypt_verify(HASH_SECRET, ""));
    assert_true(webconfig_bcrypt_verify(HASH_PASSW0RD, "p@ss:w0rd"));
    assert_false(webconfig_bcrypt_verify(HASH_PASSW0RD, "p@ss:w0rd "));
    assert_true(webconfig_bcrypt_verify(HASH_HUNTER2, "hunter2"));
    assert_false(webconfig_bcrypt_verify(HASH_HUNTER2, "hunter3"));
    assert_false(webconfig_bcrypt_verify("plain", "plain"));
    assert_false(webconfig_bcrypt_verify(NULL, "x"));
    /* a tampered digest */
    char h[] = HASH_SECRET;
    h[sizeof h - 2] = h[sizeof h - 2] == 'W' ? 'X' : 'W';
    assert_false(webconfig_bcrypt_verify(h, "secret"));
}

static void test_authenticate(void **state) {
    (void)state;
    const char *base = "basic_auth_users:\n"
                       "  alice: " HASH_SECRET "\n"
                       "  bob: " HASH_PASSW0RD "\n";
    web_security *s = parse_ok(base);
    webauth_cache *c = webauth_cache_new(100);
    /* users only: users are admins */
    assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6c2VjcmV0"), WEB_ROLE_ADMIN);
    assert_int_equal(webconfig_authenticate(s, c, "basic   YWxpY2U6c2VjcmV0"), WEB_ROLE_ADMIN);
    assert_int_equal(webconfig_authenticate(s, c, "Basic Ym9iOnBAc3M6dzByZA=="), WEB_ROLE_ADMIN);
    assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6d3Jvbmc="), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Basic bWFsbG9yeTpzZWNyZXQ="), WEB_ROLE_NONE); /* unknown user */
    assert_int_equal(webconfig_authenticate(s, c, "Basic !!!"), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Basic "), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer YWxpY2U6c2VjcmV0"), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Digest x"), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, NULL), WEB_ROLE_NONE);
    /* the cache: a repeat costs no bcrypt run, failures are cached too */
    unsigned long misses = webauth_cache_misses(c);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6c2VjcmV0"), WEB_ROLE_ADMIN);
        assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6d3Jvbmc="), WEB_ROLE_NONE);
    }
    assert_int_equal(webauth_cache_misses(c), misses);
    webauth_cache_free(c);
    webconfig_free(s);

    /* a tiny cache evicts but stays correct */
    s = parse_ok(base);
    c = webauth_cache_new(1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6c2VjcmV0"), WEB_ROLE_ADMIN);
        assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6d3Jvbmc="), WEB_ROLE_NONE);
    }
    assert_int_equal(webauth_cache_misses(c), 6);
    webauth_cache_free(c);
    webconfig_free(s);
}

static void test_tokens(void **state) {
    (void)state;
    char dir[] = "/tmp/promlite-webconfig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tokpath[256], emptypath[256];
    snprintf(tokpath, sizeof tokpath, "%s/admin.token", dir);
    snprintf(emptypath, sizeof emptypath, "%s/empty.token", dir);
    snprintf(path, sizeof path, "%s/web.yml", dir);
    FILE *f = fopen(tokpath, "w");
    fputs("  fr0m-f1le\n\n", f);
    fclose(f);
    f = fopen(emptypath, "w");
    fputs(" \n", f);
    fclose(f);
    f = fopen(path, "w");
    fputs("basic_auth_users:\n"
          "  alice: " HASH_SECRET "\n"
          "bearer_tokens:\n"
          "  - token: r3ad-t0ken\n"
          "    role: read\n"
          "  - token_file: admin.token\n"
          "    role: admin\n",
          f);
    fclose(f);
    web_security *s = NULL;
    errbuf err;
    if (webconfig_load(path, &s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s->ntokens, 2);
    webauth_cache *c = webauth_cache_new(10);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer r3ad-t0ken"), WEB_ROLE_READ);
    assert_int_equal(webconfig_authenticate(s, c, "bearer r3ad-t0ken "), WEB_ROLE_READ);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer fr0m-f1le"), WEB_ROLE_ADMIN);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer fr0m-f1l"), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer "), WEB_ROLE_NONE);
    assert_int_equal(webconfig_authenticate(s, c, "Bearer admin.token"), WEB_ROLE_NONE);
    /* with tokens configured, users are readers */
    assert_int_equal(webconfig_authenticate(s, c, "Basic YWxpY2U6c2VjcmV0"), WEB_ROLE_READ);
    webauth_cache_free(c);
    webconfig_free(s);

    /* an empty token file */
    f = fopen(path, "w");
    fputs("bearer_tokens:\n  - token_file: empty.token\n", f);
    fclose(f);
    assert_int_equal(webconfig_load(path, &s, &err), -1);
    assert_non_null(strstr(err.msg, "web.yml:2:17: token_file "));
    assert_non_null(strstr(err.msg, "empty.token is empty"));
    /* a missing web config file */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.yml", dir);
    assert_int_equal(webconfig_load(missing, &s, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read web config file"));
    assert_non_null(strstr(err.msg, "nope.yml: No such file or directory"));
    unlink(tokpath);
    unlink(emptypath);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),   cmocka_unit_test(test_empty_and_plain), cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bcrypt),      cmocka_unit_test(test_authenticate),    cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
