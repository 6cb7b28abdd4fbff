/*
 * test_registry.c - the target management API's records (ingest/registry.h):
 * validation and its messages, conflicts, what a change renders into the
 * configuration, registration, secrets, persistence across a reopen, and
 * the configuration file changing under the records.
 *
 * The build hook is the server's in miniature: parse a configuration text
 * (which a test may change, as a reload would) and render the registry into
 * it.  The apply hook keeps the last configuration it was given, so tests
 * can look at exactly what scraping would run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ingest/registry.h"

static const char *FILE_TEXT = "global: {scrape_interval: 15s}\n"
                               "scrape_configs:\n"
                               "  - job_name: node\n"
                               "    static_configs: [{targets: ['10.0.0.1:9100']}]\n";

typedef struct {
    char dir[64];
    tsdb *db;
    registry *reg;
    const char *file_text;
    promlite_config *applied;   /* the last configuration applied */
    int applies;
} fixture;

static int build(void *ctx, const registry_state *s, promlite_config **out, errbuf *err) {
    fixture *f = ctx;
    promlite_config *cfg;
    if (config_parse(f->file_text, strlen(f->file_text), "prometheus.yml", &cfg, err)) return -1;
    if (registry_render(s, cfg, NULL, err)) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

static void apply(void *ctx, promlite_config *cfg) {
    fixture *f = ctx;
    config_free(f->applied);
    f->applied = cfg;
    f->applies++;
}

static void open_registry(fixture *f) {
    registry_options o = {.db = f->db, .ctx = f, .build = build, .apply = apply};
    errbuf err;
    if (registry_open(&o, &f->reg, &err)) fail_msg("registry_open: %s", err.msg);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/promlite-registry-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    tsdb_options o = {.path = f->dir};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("open: %s", err.msg);
    f->file_text = FILE_TEXT;
    open_registry(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    registry_close(f->reg);
    config_free(f->applied);
    errbuf err;
    if (tsdb_close(f->db, &err)) fail_msg("close: %s", err.msg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd)) return -1;
    free(f);
    return 0;
}

/* One request; the answer parsed into *data (the envelope's "data", or
 * the whole error object).  Returns the status. */
static unsigned call(fixture *f, const char *method, const char *path, const char *body, json_t **answer) {
    registry_request q = {.method = method, .path = path, .body = body, .body_len = body ? strlen(body) : 0};
    if (!strncmp(path, "jobs/", 5) && strstr(path, "?cascade")) {
        static char p[256];
        snprintf(p, sizeof p, "%.*s", (int)(strstr(path, "?cascade") - path), path);
        q.path = p;
        q.cascade = 1;
    }
    buf out = {0};
    unsigned status = registry_handle(f->reg, &q, &out);
    json_error_t e;
    json_t *v = json_loadb((const char *)out.data, out.len, 0, &e);
    if (!v) fail_msg("answer is not JSON: %.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    const char *st = json_string_value(json_object_get(v, "status"));
    assert_non_null(st);
    assert_string_equal(st, status < 300 ? "success" : "error");
    if (answer) {
        *answer = status < 300 ? json_incref(json_object_get(v, "data")) : json_incref(v);
    }
    json_decref(v);
    return status;
}

static const char *error_of(json_t *v) { return json_string_value(json_object_get(v, "error")); }

/* Expects an error status whose message contains want. */
static void expect_error(fixture *f, const char *method, const char *path, const char *body, unsigned status,
                         const char *type, const char *want) {
    json_t *v;
    unsigned got = call(f, method, path, body, &v);
    if (got != status || !strstr(error_of(v) ? error_of(v) : "", want) ||
        strcmp(json_string_value(json_object_get(v, "errorType")), type))
        fail_msg("%s %s %s: got %u %s, want %u %s containing \"%s\"", method, path, body ? body : "", got,
                 json_dumps(v, 0), status, type, want);
    json_decref(v);
}

static const config_scrape *applied_job(fixture *f, const char *name) {
    assert_non_null(f->applied);
    return config_find_job(f->applied, name);
}

static const char *group_label(const config_static *g, const char *name) {
    const label *l = labels_get(g->labels, g->nlabels, name, strlen(name));
    return l ? l->value : NULL;
}

static void test_job_and_target_render(void **state) {
    fixture *f = *state;
    json_t *v;
    assert_int_equal(call(f, "POST", "jobs",
                          "{\"name\":\"web\",\"note\":\"front ends\",\"scrape\":{\"scrape_interval\":\"5s\","
                          "\"metrics_path\":\"/m\",\"sample_limit\":100}}",
                          &v),
                     201);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "web");
    assert_string_equal(json_string_value(json_object_get(v, "note")), "front ends");
    assert_non_null(json_string_value(json_object_get(v, "created")));
    json_decref(v);
    const config_scrape *sc = applied_job(f, "web");
    assert_non_null(sc);
    assert_int_equal(sc->scrape_interval_ms, 5000);
    assert_int_equal(sc->scrape_timeout_ms, 5000); /* global 10s capped at the interval */
    assert_string_equal(sc->metrics_path, "/m");
    assert_int_equal(sc->sample_limit, 100);
    assert_int_equal(sc->nstatic, 0);
    assert_non_null(applied_job(f, "node")); /* the file's jobs stay */

    assert_int_equal(call(f, "POST", "targets",
                          "{\"job\":\"web\",\"address\":\"web1:8080\",\"labels\":{\"env\":\"prod\"},\"hostname\":\"web1\"}",
                          &v),
                     201);
    const char *id = json_string_value(json_object_get(v, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    char id_copy[37];
    strcpy(id_copy, id);
    json_decref(v);
    sc = applied_job(f, "web");
    assert_int_equal(sc->nstatic, 1);
    assert_int_equal(sc->static_configs[0].ntargets, 1);
    assert_string_equal(sc->static_configs[0].targets[0], "web1:8080");
    assert_string_equal(group_label(&sc->static_configs[0], "env"), "prod");
    assert_string_equal(group_label(&sc->static_configs[0], "__meta_promlite_target_id"), id_copy);
    assert_string_equal(group_label(&sc->static_configs[0], "__meta_promlite_hostname"), "web1");

    /* A target in a job of the file joins that job's own targets. */
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"node\",\"address\":\"10.0.0.2:9100\"}", NULL), 201);
    const config_scrape *node = applied_job(f, "node");
    assert_int_equal(node->nstatic, 2);
    assert_string_equal(node->static_configs[1].targets[0], "10.0.0.2:9100");

    /* A change of targets alone leaves the job's settings equal, so scraping
     * resyncs the targets instead of rebuilding the job. */
    promlite_config *before = f->applied;
    f->applied = NULL;
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"node\",\"address\":\"10.0.0.3:9100\"}", NULL), 201);
    assert_true(config_scrape_equal(config_find_job(before, "node"), applied_job(f, "node")));
    assert_false(config_scrape_targets_equal(config_find_job(before, "node"), applied_job(f, "node")));
    assert_true(config_scrape_targets_equal(config_find_job(before, "web"), applied_job(f, "web")));
    config_free(before);

    /* Listing, with the job filter. */
    assert_int_equal(call(f, "GET", "targets", NULL, &v), 200);
    assert_int_equal(json_array_size(v), 3);
    json_decref(v);
    registry_request q = {.method = "GET", .path = "targets", .job = "web"};
    buf out = {0};
    assert_int_equal(registry_handle(f->reg, &q, &out), 200);
    json_t *all = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(all, "data")), 1);
    json_decref(all);
    buf_free(&out);
    size_t nj, nt;
    registry_counts(f->reg, &nj, &nt);
    assert_int_equal(nj, 1);
    assert_int_equal(nt, 3);

    /* Deleting the target takes it out of the next configuration. */
    char path[64];
    snprintf(path, sizeof path, "targets/%s", id_copy);
    assert_int_equal(call(f, "DELETE", path, NULL, NULL), 200);
    assert_int_equal(applied_job(f, "web")->nstatic, 0);
    expect_error(f, "GET", path, NULL, 404, "not_found", "no managed target");
    expect_error(f, "DELETE", path, NULL, 404, "not_found", "no managed target");
}

static void test_validation(void **state) {
    fixture *f = *state;
    assert_int_equal(call(f, "POST", "jobs", "{\"name\":\"web\"}", NULL), 201);
    int applies = f->applies;
    struct {
        const char *method, *path, *body;
        unsigned status;
        const char *type, *want;
    } cases[] = {
        {"POST", "jobs", NULL, 400, "bad_data", "needs a JSON object"},
        {"POST", "jobs", "{\"name\":\"x\",}", 400, "bad_data", "invalid JSON at line 1, column 13"},
        {"POST", "jobs", "[1]", 400, "bad_data", "must be a JSON object"},
        {"POST", "jobs", "{\"name\":\"x\",\"name\":\"y\"}", 400, "bad_data", "duplicate"},
        {"POST", "jobs", "{\"note\":\"no name\"}", 400, "bad_data", "a job needs a \"name\""},
        {"POST", "jobs", "{\"name\":\"1x\"}", 400, "bad_data", "invalid job name \"1x\""},
        {"POST", "jobs", "{\"name\":\"a-b\"}", 400, "bad_data", "[a-zA-Z_][a-zA-Z0-9_]*"},
        {"POST", "jobs", "{\"name\":\"x\",\"colour\":1}", 400, "bad_data", "unknown field \"colour\" in a job"},
        {"POST", "jobs", "{\"name\":\"x\",\"note\":5}", 400, "bad_data", "\"note\" must be a string"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":[]}", 400, "bad_data", "\"scrape\" must be an object"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"job_name\":\"y\"}}", 400, "bad_data", "must not set job_name"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"foo\":1}}", 400, "bad_data",
         "scrape: field foo not found in type config.ScrapeConfig"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"scrape_interval\":\"2x\"}}", 400, "bad_data",
         "scrape: not a valid duration string: \"2x\""},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"honor_labels\":\"yes\"}}", 400, "bad_data",
         "cannot unmarshal !!str `yes` into bool"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"scrape_interval\":\"5s\",\"scrape_timeout\":\"10s\"}}", 400,
         "bad_data", "scrape timeout greater than scrape interval"},
        {"POST", "jobs", "{\"name\":\"x\",\"scrape\":{\"kubernetes_sd_configs\":[{\"role\":\"node\"}]}}", 400, "bad_data",
         "\"kubernetes_sd_configs\" is not supported by promlite"},
        {"POST", "jobs", "{\"name\":\"web\"}", 409, "conflict", "job \"web\" exists already"},
        {"POST", "jobs", "{\"name\":\"node\"}", 409, "conflict", "job \"node\" is defined in prometheus.yml"},
        {"PUT", "jobs/node", "{}", 409, "conflict", "change it there"},
        {"PUT", "jobs/web", "{\"name\":\"other\"}", 400, "bad_data", "the body names job \"other\""},
        {"DELETE", "jobs/nope", NULL, 404, "not_found", "no managed job \"nope\""},
        {"DELETE", "jobs/node", NULL, 404, "not_found", "no managed job \"node\""},
        {"PATCH", "jobs/web", "{}", 405, "bad_data", "GET, PUT or DELETE"},
        {"DELETE", "jobs", NULL, 405, "bad_data", "GET or POST"},
        {"GET", "register", NULL, 405, "bad_data", "POST"},
        {"GET", "nothing", NULL, 404, "not_found", "unknown admin endpoint"},
        {"GET", "jobs/a/b", NULL, 404, "not_found", "unknown admin endpoint"},
        {"POST", "targets", "{\"address\":\"a:1\"}", 400, "bad_data", "a target needs a \"job\""},
        {"POST", "targets", "{\"job\":\"web\"}", 400, "bad_data", "needs an \"address\""},
        {"POST", "targets", "{\"job\":\"gone\",\"address\":\"a:1\"}", 400, "bad_data",
         "job \"gone\" does not exist: neither a managed job nor one of prometheus.yml"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"http://a/b\"}", 400, "bad_data",
         "\"http://a/b\" is not a valid hostname"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"a:99999\"}", 400, "bad_data", "invalid port"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"::1:80\"}", 400, "bad_data", "needs brackets"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"a:1\",\"labels\":{\"0x\":\"v\"}}", 400, "bad_data",
         "invalid label name \"0x\""},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"a:1\",\"labels\":{\"x\":1}}", 400, "bad_data",
         "label \"x\" must have a string value"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"a:1\",\"labels\":[]}", 400, "bad_data",
         "\"labels\" must be an object"},
        {"POST", "targets", "{\"job\":\"web\",\"address\":\"a:1\",\"id\":\"6f1c7e4a-1111-4222-8333-444455556666\"}",
         400, "bad_data", "\"id\" is assigned by the server"},
        {"PUT", "targets/xyz", "{\"job\":\"web\",\"address\":\"a:1\"}", 400, "bad_data", "invalid target id \"xyz\""},
        {"PUT", "targets/6f1c7e4a-1111-4222-8333-444455556666",
         "{\"job\":\"web\",\"address\":\"a:1\",\"id\":\"6f1c7e4a-1111-4222-8333-444455556667\"}", 400, "bad_data",
         "the body names target"},
        {"POST", "register", "{\"job\":\"web\",\"address\":\"a:1\"}", 400, "bad_data", "needs the host's \"id\""},
        {"POST", "register", "{\"id\":\"host-1\",\"job\":\"web\",\"address\":\"a:1\"}", 400, "bad_data",
         "want a UUID"},
        {"POST", "register", "{\"id\":\"6f1c7e4a-1111-4222-8333-444455556666\",\"job\":\"web\",\"address\":\"a:1\","
                             "\"colour\":\"red\"}",
         400, "bad_data", "unknown field \"colour\" in a registration"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_error(f, cases[i].method, cases[i].path, cases[i].body, cases[i].status, cases[i].type, cases[i].want);
    /* None of them changed anything. */
    assert_int_equal(f->applies, applies);
    size_t nj, nt;
    registry_counts(f->reg, &nj, &nt);
    assert_int_equal(nj, 1);
    assert_int_equal(nt, 0);
    /* An oversized body is refused before parsing. */
    char *big = malloc((2u << 20) + 1);
    memset(big, ' ', 2u << 20);
    big[2u << 20] = 0;
    big[0] = '{';
    big[(2u << 20) - 1] = '}';
    expect_error(f, "POST", "jobs", big, 413, "bad_data", "too large");
    free(big);
}

static void test_put_and_delete_job(void **state) {
    fixture *f = *state;
    json_t *v;
    assert_int_equal(call(f, "PUT", "jobs/api", "{\"scrape\":{\"scrape_interval\":\"30s\"}}", &v), 201);
    const char *created = json_string_value(json_object_get(v, "created"));
    char created_copy[40];
    strcpy(created_copy, created);
    json_decref(v);
    assert_int_equal(call(f, "PUT", "jobs/api", "{\"name\":\"api\",\"note\":\"n\",\"scrape\":{}}", &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "created")), created_copy);
    assert_string_equal(json_string_value(json_object_get(v, "note")), "n");
    json_decref(v);
    assert_int_equal(applied_job(f, "api")->scrape_interval_ms, 15000); /* back to the global */
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"api\",\"address\":\"a:1\"}", NULL), 201);
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"api\",\"address\":\"b:1\"}", NULL), 201);
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"node\",\"address\":\"c:1\"}", NULL), 201);
    expect_error(f, "DELETE", "jobs/api", NULL, 409, "conflict", "job \"api\" still has 2 targets");
    assert_int_equal(call(f, "DELETE", "jobs/api?cascade=true", NULL, &v), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "deletedTargets")), 2);
    json_decref(v);
    assert_null(applied_job(f, "api"));
    size_t nj, nt;
    registry_counts(f->reg, &nj, &nt);
    assert_int_equal(nj, 0);
    assert_int_equal(nt, 1); /* the node target stays */
}

static void test_register(void **state) {
    fixture *f = *state;
    const char *body = "{\"id\":\"6F1C7E4A-1111-4222-8333-444455556666\",\"hostname\":\"db1\",\"address\":\"db1:9100\","
                       "\"job\":\"node\",\"labels\":{\"rack\":\"r1\"}}";
    json_t *v;
    assert_int_equal(call(f, "POST", "register", body, &v), 201);
    assert_string_equal(json_string_value(json_object_get(v, "id")), "6f1c7e4a-1111-4222-8333-444455556666");
    char updated[40];
    strcpy(updated, json_string_value(json_object_get(v, "updated")));
    json_decref(v);
    int applies = f->applies;
    /* The same registration again (a host registering at every boot). */
    assert_int_equal(call(f, "POST", "register", body, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "updated")), updated);
    json_decref(v);
    assert_int_equal(f->applies, applies);
    /* An admin's note survives the host's next registration. */
    assert_int_equal(call(f, "PUT", "targets/6f1c7e4a-1111-4222-8333-444455556666",
                          "{\"job\":\"node\",\"address\":\"db1:9100\",\"hostname\":\"db1\",\"labels\":{\"rack\":\"r1\"},"
                          "\"note\":\"primary\"}",
                          NULL),
                     200);
    const char *moved = "{\"id\":\"6f1c7e4a-1111-4222-8333-444455556666\",\"hostname\":\"db1\",\"address\":\"10.1.1.1:9100\","
                        "\"job\":\"node\",\"labels\":{\"rack\":\"r2\"}}";
    assert_int_equal(call(f, "POST", "register", moved, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "note")), "primary");
    assert_string_equal(json_string_value(json_object_get(v, "address")), "10.1.1.1:9100");
    json_decref(v);
    const config_scrape *node = applied_job(f, "node");
    assert_int_equal(node->nstatic, 2);
    assert_string_equal(node->static_configs[1].targets[0], "10.1.1.1:9100");
    assert_string_equal(group_label(&node->static_configs[1], "rack"), "r2");
    assert_string_equal(group_label(&node->static_configs[1], "__meta_promlite_hostname"), "db1");
    size_t nj, nt;
    registry_counts(f->reg, &nj, &nt);
    assert_int_equal(nt, 1);
}

static void test_secrets(void **state) {
    fixture *f = *state;
    json_t *v;
    assert_int_equal(call(f, "POST", "jobs",
                          "{\"name\":\"sec\",\"scrape\":{\"basic_auth\":{\"username\":\"u\",\"password\":\"hunter2\"}}}", &v),
                     201);
    json_t *ba = json_object_get(json_object_get(v, "scrape"), "basic_auth");
    assert_string_equal(json_string_value(json_object_get(ba, "password")), "<secret>");
    json_decref(v);
    assert_string_equal(applied_job(f, "sec")->basic_auth->password, "hunter2");
    /* Sending back what GET showed keeps the password. */
    assert_int_equal(call(f, "GET", "jobs/sec", NULL, &v), 200);
    json_object_set_new(v, "note", json_string("changed"));
    char *back = json_dumps(v, 0);
    json_decref(v);
    assert_int_equal(call(f, "PUT", "jobs/sec", back, NULL), 200);
    free(back);
    assert_string_equal(applied_job(f, "sec")->basic_auth->password, "hunter2");
    /* A new password replaces it. */
    assert_int_equal(call(f, "PUT", "jobs/sec",
                          "{\"scrape\":{\"basic_auth\":{\"username\":\"u\",\"password\":\"new\"}}}", NULL),
                     200);
    assert_string_equal(applied_job(f, "sec")->basic_auth->password, "new");
}

typedef struct {
    promlite_config *cfg;
    size_t orphans;
} render_ctx;

/* registry_with_state callback: renders the registry into r->cfg. */
static int render(void *ctx, const registry_state *s, errbuf *e) {
    render_ctx *r = ctx;
    return registry_render(s, r->cfg, &r->orphans, e);
}

static void test_persistence_and_file_changes(void **state) {
    fixture *f = *state;
    assert_int_equal(call(f, "POST", "jobs", "{\"name\":\"web\",\"scrape\":{\"scrape_interval\":\"5s\"}}", NULL), 201);
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"web\",\"address\":\"w:1\"}", NULL), 201);
    assert_int_equal(call(f, "POST", "targets", "{\"job\":\"node\",\"address\":\"n:1\"}", NULL), 201);
    registry_close(f->reg);
    open_registry(f);
    json_t *v;
    assert_int_equal(call(f, "GET", "jobs", NULL, &v), 200);
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "name")), "web");
    json_decref(v);
    assert_int_equal(call(f, "GET", "targets", NULL, &v), 200);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);

    /* The file drops job node: its managed target is kept, not scraped. */
    f->file_text = "scrape_configs: []\n";
    promlite_config *cfg = NULL;
    errbuf err;
    assert_int_equal(config_parse(f->file_text, strlen(f->file_text), "prometheus.yml", &cfg, &err), 0);
    render_ctx r = {cfg, 0};
    assert_int_equal(registry_with_state(f->reg, render, &r, &err), 0);
    assert_int_equal(r.orphans, 1);
    assert_non_null(config_find_job(cfg, "web"));
    assert_int_equal(config_find_job(cfg, "web")->nstatic, 1);
    config_free(cfg);

    /* The file takes a managed job's name: rendering refuses. */
    f->file_text = "scrape_configs: [{job_name: web}]\n";
    assert_int_equal(config_parse(f->file_text, strlen(f->file_text), "prometheus.yml", &cfg, &err), 0);
    r.cfg = cfg;
    assert_int_equal(registry_with_state(f->reg, render, &r, &err), -1);
    assert_non_null(strstr(err.msg, "job \"web\" is defined both in prometheus.yml and by the target management API"));
    config_free(cfg);
}

static void test_damaged_record(void **state) {
    fixture *f = *state;
    errbuf err;
    assert_int_equal(tsdb_kv_put(f->db, "admin.jobs", "web", 3, "{not json", 9, &err), 0);
    registry *r;
    registry_options o = {.db = f->db, .ctx = f, .build = build, .apply = apply};
    assert_int_equal(registry_open(&o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "stored record admin.jobs/web is damaged"));
    /* A record stored under another key than its name is damaged too. */
    assert_int_equal(tsdb_kv_put(f->db, "admin.jobs", "web", 3, "{\"name\":\"api\"}", 14, &err), 0);
    assert_int_equal(registry_open(&o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "admin.jobs/web"));
    assert_int_equal(tsdb_kv_delete(f->db, "admin.jobs", "web", 3, &err), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_and_target_render, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_and_delete_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_and_file_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
