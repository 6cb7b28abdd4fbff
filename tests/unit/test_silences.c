/*
 * test_silences.c - the silence store (alert/silences.h) on a real tsdb in
 * a temporary folder, with a clock the tests set: states over time,
 * Alertmanager's update rules (in place or expire-and-replace), expiry,
 * validation messages, listing order and filters, persistence across a
 * reopen, garbage collection, the notifier's mute query and its cache
 * hint, the JSON of API v2 byte for byte, the HTTP answers (each expected
 * status and body is what Alertmanager 0.25 answered to the same request),
 * and readers racing a writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/silences.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00.000Z */
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

typedef struct {
    char dir[64];
    tsdb *db;
    silences *s;
} fixture;

static void open_all(fixture *f, int64_t retention_ms) {
    tsdb_options o = {.path = f->dir};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("tsdb_open: %s", err.msg);
    silences_options so = {.db = f->db, .retention_ms = retention_ms};
    if (silences_open(&so, &f->s, &err)) fail_msg("silences_open: %s", err.msg);
}

static void close_all(fixture *f) {
    errbuf err;
    silences_close(f->s);
    f->s = NULL;
    if (tsdb_close(f->db, &err)) fail_msg("tsdb_close: %s", err.msg);
    f->db = NULL;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/promlite-silences-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    open_all(f, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (f->s) close_all(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd)) return -1;
    free(f);
    return 0;
}

static const silence_matcher DISK[] = {{"alertname", "DiskFull", 0, 1}};
static const silence_matcher DISK_DB[] = {{"alertname", "DiskFull", 0, 1}, {"instance", "db-.*", 1, 1}};

static silence mk(const silence_matcher *ms, size_t n, int64_t starts, int64_t ends) {
    silence s = {.matchers = ms, .nmatchers = n, .starts_at_ms = starts, .ends_at_ms = ends, .created_by = "ops",
                 .comment = "maintenance"};
    return s;
}

static void create(fixture *f, const silence *in, int64_t now, char id[37]) {
    errbuf err;
    int rc = silences_set(f->s, in, now, id, &err);
    if (rc) fail_msg("silences_set: %d %s", rc, err.msg);
}

static silence get(fixture *f, const char *id) {
    silence s;
    if (!silences_get(f->s, id, &s)) fail_msg("no silence %s", id);
    return s;
}

static silence_state state_of(fixture *f, const char *id, int64_t now) {
    silence s = get(f, id);
    silence_state st = silence_state_at(&s, now);
    silence_free(&s);
    return st;
}

static int uuid_v4(const char *id) {
    if (strlen(id) != 36 || id[14] != '4' || !strchr("89ab", id[19])) return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (id[i] == '-')) return 0;
        if (!dash && !strchr("0123456789abcdef", id[i])) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ the store */

/* A silence is pending before startsAt, active until endsAt, expired from
 * endsAt on; a start in the past becomes now. */
static void test_create_and_states(void **state) {
    fixture *f = *state;
    char id[37], id2[37];
    silence in = mk(DISK, 1, T0 + HOUR, T0 + 2 * HOUR);
    uint64_t v0 = silences_version(f->s);
    create(f, &in, T0, id);
    assert_true(uuid_v4(id));
    assert_true(silences_version(f->s) > v0);
    silence s = get(f, id);
    assert_int_equal(s.starts_at_ms, T0 + HOUR);
    assert_int_equal(s.ends_at_ms, T0 + 2 * HOUR);
    assert_int_equal(s.updated_at_ms, T0);
    assert_string_equal(s.created_by, "ops");
    assert_string_equal(s.comment, "maintenance");
    assert_int_equal(s.nmatchers, 1);
    assert_string_equal(s.matchers[0].name, "alertname");
    assert_int_equal(silence_state_at(&s, T0), SILENCE_PENDING);
    assert_int_equal(silence_state_at(&s, T0 + HOUR - 1), SILENCE_PENDING);
    assert_int_equal(silence_state_at(&s, T0 + HOUR), SILENCE_ACTIVE);
    assert_int_equal(silence_state_at(&s, T0 + 2 * HOUR - 1), SILENCE_ACTIVE);
    assert_int_equal(silence_state_at(&s, T0 + 2 * HOUR), SILENCE_EXPIRED);
    silence_free(&s);
    assert_string_equal(silence_state_name(SILENCE_PENDING), "pending");

    in = mk(DISK_DB, 2, T0 - HOUR, T0 + HOUR);
    create(f, &in, T0 + 5, id2);
    assert_string_not_equal(id, id2);
    s = get(f, id2);
    assert_int_equal(s.starts_at_ms, T0 + 5);
    assert_int_equal(s.matchers[1].is_regex, 1);
    silence_free(&s);

    silence none;
    assert_int_equal(silences_get(f->s, "00000000-0000-4000-8000-000000000000", &none), 0);
    size_t counts[3];
    silences_count(f->s, T0 + 10, counts);
    assert_int_equal(counts[SILENCE_ACTIVE], 1);
    assert_int_equal(counts[SILENCE_PENDING], 1);
    assert_int_equal(counts[SILENCE_EXPIRED], 0);
}

typedef struct {
    silence_matcher m[3];
    size_t n;
    int64_t starts, ends;
    int rc;
    const char *msg;
} invalid_case;

/* Alertmanager's validation, with its words; a refused change stores
 * nothing and leaves the version alone. */
static void test_validation(void **state) {
    fixture *f = *state;
    static const invalid_case cases[] = {
        {{{0}}, 0, T0, T0 + HOUR, SILENCES_INVALID, "silence invalid: at least one matcher required"},
        {{{"a-b", "x", 0, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 0: invalid label name \"a-b\""},
        {{{"job", "x", 0, 1}, {"a:b", "x", 0, 1}}, 2, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 1: invalid label name \"a:b\""},
        {{{"", "x", 0, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 0: invalid label name \"\""},
        {{{"job", "b[", 1, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 0: invalid regular expression \"b[\": error parsing regexp: missing "
         "closing ]: `[`"},
        {{{"job", "(?=x)", 1, 0}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 0: invalid regular expression \"(?=x)\": error parsing regexp: "
         "invalid or unsupported Perl syntax: `(?=`"},
        {{{"job", "x\xff", 0, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: invalid label matcher 0: invalid label value \"x\\xff\""},
        {{{"job", "", 0, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: at least one matcher must not match the empty string"},
        {{{"job", "x*", 1, 1}}, 1, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: at least one matcher must not match the empty string"},
        {{{"job", "", 0, 1}, {"env", ".*", 1, 1}}, 2, T0, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: at least one matcher must not match the empty string"},
        {{{"job", "x", 0, 1}}, 1, T0 + 2 * HOUR, T0 + HOUR, SILENCES_INVALID,
         "silence invalid: end time must not be before start time"},
        /* a start in the past becomes now, after which the end is before it */
        {{{"job", "x", 0, 1}}, 1, T0 - 2 * HOUR, T0 - HOUR, SILENCES_INVALID,
         "silence invalid: end time must not be before start time"},
    };
    uint64_t v = silences_version(f->s);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        silence in = mk(cases[i].m, cases[i].n, cases[i].starts, cases[i].ends);
        char id[37];
        errbuf err;
        int rc = silences_set(f->s, &in, T0, id, &err);
        if (rc != cases[i].rc || strcmp(err.msg, cases[i].msg)) fail_msg("case %zu: %d %s", i, rc, err.msg);
    }
    assert_int_equal(silences_version(f->s), v);
    silence *l;
    size_t n;
    silences_list(f->s, NULL, T0, &l, &n);
    assert_int_equal(n, 0);
    assert_null(l);

    /* != and !~ never count as matching everything (Alertmanager's rule),
     * and an unknown id is "silence not found". */
    static const silence_matcher ne[] = {{"job", "x", 0, 0}}, nre[] = {{"job", "", 1, 0}};
    char id[37];
    silence in = mk(ne, 1, T0, T0 + HOUR);
    create(f, &in, T0, id);
    in = mk(nre, 1, T0, T0 + HOUR);
    create(f, &in, T0, id);
    in = mk(DISK, 1, T0, T0 + HOUR);
    strcpy(in.id, "00000000-0000-4000-8000-000000000000");
    errbuf err;
    assert_int_equal(silences_set(f->s, &in, T0, id, &err), SILENCES_NOT_FOUND);
    assert_string_equal(err.msg, "silence not found");
}

/* Alertmanager's canUpdate: same matchers and history untouched means in
 * place; anything else expires the old silence and makes a new one. */
static void test_update_rules(void **state) {
    fixture *f = *state;
    char id[37], got[37];
    silence in = mk(DISK, 1, T0, T0 + HOUR);
    create(f, &in, T0, id);

    /* active: comment, author, end: in place */
    in.comment = "longer";
    in.created_by = "alice";
    in.ends_at_ms = T0 + 3 * HOUR;
    strcpy(in.id, id);
    create(f, &in, T0 + MIN, got);
    assert_string_equal(got, id);
    silence s = get(f, id);
    assert_string_equal(s.comment, "longer");
    assert_int_equal(s.ends_at_ms, T0 + 3 * HOUR);
    assert_int_equal(s.updated_at_ms, T0 + MIN);
    silence_free(&s);

    /* active: a start within the same second is the same start */
    in.starts_at_ms = T0 + 999;
    create(f, &in, T0 + 2 * MIN, got);
    assert_string_equal(got, id);
    s = get(f, id);
    assert_int_equal(s.starts_at_ms, T0 + 999);
    silence_free(&s);

    /* active: a start moved: replaced, the old one ends now */
    in.starts_at_ms = T0 - 5 * SEC;
    create(f, &in, T0 + 3 * MIN, got);
    assert_string_not_equal(got, id);
    s = get(f, id);
    assert_int_equal(s.ends_at_ms, T0 + 3 * MIN);
    assert_int_equal(s.updated_at_ms, T0 + 3 * MIN);
    assert_int_equal(silence_state_at(&s, T0 + 3 * MIN), SILENCE_EXPIRED);
    silence_free(&s);
    s = get(f, got);
    assert_int_equal(s.starts_at_ms, T0 + 3 * MIN); /* the past start became now */
    assert_string_equal(s.comment, "longer");
    silence_free(&s);
    char active[37];
    strcpy(active, got);

    /* active: other matchers: replaced */
    in = mk(DISK_DB, 2, T0, T0 + 3 * HOUR);
    strcpy(in.id, active);
    create(f, &in, T0 + 4 * MIN, got);
    assert_string_not_equal(got, active);
    assert_int_equal(state_of(f, active, T0 + 4 * MIN), SILENCE_EXPIRED);
    assert_int_equal(state_of(f, got, T0 + 4 * MIN), SILENCE_ACTIVE);

    /* pending: a later (or still future) start: in place */
    char pending[37];
    in = mk(DISK, 1, T0 + HOUR, T0 + 2 * HOUR);
    create(f, &in, T0, pending);
    in.starts_at_ms = T0 + 30 * MIN;
    strcpy(in.id, pending);
    create(f, &in, T0 + MIN, got);
    assert_string_equal(got, pending);
    /* pending: a start in the past: replaced; the old one starts and ends now */
    in.starts_at_ms = T0 - HOUR;
    create(f, &in, T0 + 2 * MIN, got);
    assert_string_not_equal(got, pending);
    s = get(f, pending);
    assert_int_equal(s.starts_at_ms, T0 + 2 * MIN);
    assert_int_equal(s.ends_at_ms, T0 + 2 * MIN);
    silence_free(&s);
    s = get(f, got);
    assert_int_equal(s.starts_at_ms, T0 + 2 * MIN);
    silence_free(&s);

    /* expired: always a new silence; the expired one stays as it was */
    silence before = get(f, id);
    in = mk(DISK, 1, T0, T0 + 5 * HOUR);
    strcpy(in.id, id);
    create(f, &in, T0 + 10 * MIN, got);
    assert_string_not_equal(got, id);
    s = get(f, id);
    assert_int_equal(s.updated_at_ms, before.updated_at_ms);
    assert_int_equal(s.ends_at_ms, before.ends_at_ms);
    silence_free(&s);
    silence_free(&before);

    /* A replacement that fails validation changes nothing (Alertmanager
     * 0.25 would have expired the old silence anyway). */
    static const silence_matcher empty[] = {{"alertname", "", 0, 1}};
    in = mk(empty, 1, T0, T0 + 5 * HOUR);
    strcpy(in.id, got);
    uint64_t v = silences_version(f->s);
    errbuf err;
    char unused[37];
    assert_int_equal(silences_set(f->s, &in, T0 + 11 * MIN, unused, &err), SILENCES_INVALID);
    assert_int_equal(state_of(f, got, T0 + 11 * MIN), SILENCE_ACTIVE);
    assert_int_equal(silences_version(f->s), v);
}

/* Expire: an active silence ends now, a pending one starts and ends now,
 * an expired one is left alone (no error, as in Alertmanager 0.25). */
static void test_expire(void **state) {
    fixture *f = *state;
    char a[37], p[37];
    silence in = mk(DISK, 1, T0, T0 + HOUR);
    create(f, &in, T0, a);
    in = mk(DISK, 1, T0 + HOUR, T0 + 2 * HOUR);
    create(f, &in, T0, p);
    errbuf err;
    uint64_t v = silences_version(f->s);
    assert_int_equal(silences_expire(f->s, a, T0 + MIN, &err), 0);
    assert_true(silences_version(f->s) > v);
    silence s = get(f, a);
    assert_int_equal(s.starts_at_ms, T0);
    assert_int_equal(s.ends_at_ms, T0 + MIN);
    assert_int_equal(s.updated_at_ms, T0 + MIN);
    assert_int_equal(silence_state_at(&s, T0 + MIN), SILENCE_EXPIRED);
    silence_free(&s);
    assert_int_equal(silences_expire(f->s, p, T0 + 2 * MIN, &err), 0);
    s = get(f, p);
    assert_int_equal(s.starts_at_ms, T0 + 2 * MIN);
    assert_int_equal(s.ends_at_ms, T0 + 2 * MIN);
    silence_free(&s);

    v = silences_version(f->s);
    assert_int_equal(silences_expire(f->s, a, T0 + 3 * MIN, &err), 0);
    assert_int_equal(silences_version(f->s), v);
    s = get(f, a);
    assert_int_equal(s.updated_at_ms, T0 + MIN);
    assert_int_equal(s.ends_at_ms, T0 + MIN);
    silence_free(&s);
    assert_int_equal(silences_expire(f->s, "00000000-0000-4000-8000-000000000000", T0, &err), SILENCES_NOT_FOUND);
    assert_string_equal(err.msg, "silence not found");
}

/* The API's order (active by end, pending by start, expired most recent
 * first) and its filter (each filter matcher equal to one of the
 * silence's). */
static void test_list_order_and_filter(void **state) {
    fixture *f = *state;
    char a1[37], a2[37], p1[37], p2[37], e1[37], e2[37];
    static const silence_matcher job[] = {{"job", "api", 0, 1}, {"env", "prod|staging", 1, 1}};
    silence in = mk(DISK, 1, T0, T0 + 3 * HOUR);
    create(f, &in, T0, a1);
    in = mk(job, 2, T0, T0 + 2 * HOUR);
    create(f, &in, T0, a2);
    in = mk(DISK, 1, T0 + 2 * HOUR, T0 + 5 * HOUR);
    create(f, &in, T0, p1);
    in = mk(job, 2, T0 + HOUR, T0 + 5 * HOUR);
    create(f, &in, T0, p2);
    in = mk(DISK, 1, T0, T0 + 10 * MIN);
    create(f, &in, T0, e1);
    in = mk(job, 2, T0, T0 + 20 * MIN);
    create(f, &in, T0, e2);

    silence *l;
    size_t n;
    silences_list(f->s, NULL, T0 + 30 * MIN, &l, &n);
    assert_int_equal(n, 6);
    const char *want[] = {a2, a1, p2, p1, e2, e1};
    for (size_t i = 0; i < n; i++) assert_string_equal(l[i].id, want[i]);
    silences_list_free(l, n);

    am_matchers filter = {0};
    errbuf err;
    assert_int_equal(am_matcher_parse(&filter, "alertname=DiskFull", &err), 0);
    silences_list(f->s, &filter, T0 + 30 * MIN, &l, &n);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].id, a1);
    silences_list_free(l, n);
    /* the filter compares matchers, it does not match labels */
    am_matchers_free(&filter);
    assert_int_equal(am_matcher_parse(&filter, "alertname=~DiskFull", &err), 0);
    silences_list(f->s, &filter, T0 + 30 * MIN, &l, &n);
    assert_int_equal(n, 0);
    am_matchers_free(&filter);
    assert_int_equal(am_matcher_parse(&filter, "env=~\"prod|staging\"", &err), 0);
    assert_int_equal(am_matcher_parse(&filter, "job=api", &err), 0);
    silences_list(f->s, &filter, T0 + 30 * MIN, &l, &n);
    assert_int_equal(n, 3);
    silences_list_free(l, n);
    assert_int_equal(am_matcher_parse(&filter, "alertname=DiskFull", &err), 0);
    silences_list(f->s, &filter, T0 + 30 * MIN, &l, &n);
    assert_int_equal(n, 0);
    am_matchers_free(&filter);
}

/* Everything survives a close and a reopen of the data folder, in the
 * stored form the header documents. */
static void test_persistence(void **state) {
    fixture *f = *state;
    char a[37], b[37], c[37];
    silence in = mk(DISK_DB, 2, T0, T0 + HOUR);
    create(f, &in, T0, a);
    in.comment = "edited";
    strcpy(in.id, a);
    create(f, &in, T0 + SEC, b);
    assert_string_equal(a, b);
    in = mk(DISK, 1, T0 + HOUR, T0 + 2 * HOUR);
    create(f, &in, T0, c);
    errbuf err;
    assert_int_equal(silences_expire(f->s, c, T0 + 2 * SEC, &err), 0);

    buf before = {0}, after = {0};
    silence *l;
    size_t n;
    silences_list(f->s, NULL, T0 + 3 * SEC, &l, &n);
    for (size_t i = 0; i < n; i++) silence_write_json(&l[i], T0 + 3 * SEC, &before);
    silences_list_free(l, n);

    void *val;
    size_t vlen;
    assert_int_equal(tsdb_kv_get(f->db, SILENCES_KV_NAMESPACE, c, 36, &val, &vlen, &err), 1);
    char want[512];
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"matchers\":[{\"name\":\"alertname\",\"value\":\"DiskFull\",\"isRegex\":false,"
             "\"isEqual\":true}],\"startsAt\":%lld,\"endsAt\":%lld,\"updatedAt\":%lld,\"createdBy\":\"ops\","
             "\"comment\":\"maintenance\"}",
             c, T0 + 2 * SEC, T0 + 2 * SEC, T0 + 2 * SEC);
    assert_string_equal((char *)val, want);
    free(val);

    close_all(f);
    open_all(f, 0);
    silences_list(f->s, NULL, T0 + 3 * SEC, &l, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) silence_write_json(&l[i], T0 + 3 * SEC, &after);
    silences_list_free(l, n);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    buf_free(&before);
    buf_free(&after);
    /* the reloaded set mutes as before */
    silence_ids ids = {0};
    label ls[] = {{"alertname", 9, "DiskFull", 8}, {"instance", 8, "db-1", 4}};
    assert_int_equal(silences_mutes(f->s, ls, 2, T0 + 3 * SEC, &ids, NULL), 1);
    assert_string_equal(ids.v[0], a);
    silence_ids_free(&ids);
}

/* A stored record that is not a silence stops the open, naming the key. */
static void test_damaged_record(void **state) {
    fixture *f = *state;
    errbuf err;
    assert_int_equal(tsdb_kv_put(f->db, SILENCES_KV_NAMESPACE, "bad", 3, "{not json", 9, &err), 0);
    silences *s;
    silences_options so = {.db = f->db};
    assert_int_equal(silences_open(&so, &s, &err), -1);
    assert_non_null(strstr(err.msg, "silence record bad"));
    const char *wrong = "{\"id\":\"other\",\"matchers\":[],\"startsAt\":0,\"endsAt\":0,\"updatedAt\":0,"
                        "\"createdBy\":\"\",\"comment\":\"\"}";
    assert_int_equal(tsdb_kv_put(f->db, SILENCES_KV_NAMESPACE, "bad", 3, wrong, strlen(wrong), &err), 0);
    assert_int_equal(silences_open(&so, &s, &err), -1);
    assert_non_null(strstr(err.msg, "silence record bad"));
    assert_int_equal(tsdb_kv_delete(f->db, SILENCES_KV_NAMESPACE, "bad", 3, &err), 0);
}

/* Silences go once they ended a retention ago, from memory and storage. */
static void test_gc(void **state) {
    fixture *f = *state;
    close_all(f);
    open_all(f, HOUR);
    char old[37], recent[37], live[37];
    silence in = mk(DISK, 1, T0, T0 + MIN);
    create(f, &in, T0, old);
    in = mk(DISK, 1, T0, T0 + 30 * MIN);
    create(f, &in, T0, recent);
    in = mk(DISK, 1, T0, T0 + 10 * HOUR);
    create(f, &in, T0, live);
    errbuf err;
    assert_int_equal(silences_gc(f->s, T0 + MIN + HOUR - 1, &err), 0);
    uint64_t v = silences_version(f->s);
    assert_int_equal(silences_gc(f->s, T0 + MIN + HOUR, &err), 1);
    assert_true(silences_version(f->s) > v);
    silence s;
    assert_int_equal(silences_get(f->s, old, &s), 0);
    assert_int_equal(silences_gc(f->s, T0 + 2 * HOUR, &err), 1);
    close_all(f);
    open_all(f, HOUR);
    silence *l;
    size_t n;
    silences_list(f->s, NULL, T0 + 2 * HOUR, &l, &n);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].id, live);
    silences_list_free(l, n);
    /* the default retention is Alertmanager's 120h */
    close_all(f);
    open_all(f, 0);
    assert_int_equal(silences_gc(f->s, T0 + 10 * HOUR + SILENCES_DEFAULT_RETENTION_MS - 1, &err), 0);
    assert_int_equal(silences_gc(f->s, T0 + 10 * HOUR + SILENCES_DEFAULT_RETENTION_MS, &err), 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The notifier's question: which active silences mute this label set. */
static void test_mutes(void **state) {
    fixture *f = *state;
    char disk[37], db[37], later[37], gone[37], not_staging[37];
    silence in = mk(DISK, 1, T0, T0 + HOUR);
    create(f, &in, T0, disk);
    in = mk(DISK_DB, 2, T0, T0 + 2 * HOUR);
    create(f, &in, T0, db);
    in = mk(DISK, 1, T0 + 30 * MIN, T0 + 3 * HOUR);
    create(f, &in, T0, later);
    in = mk(DISK, 1, T0, T0 + MIN);
    create(f, &in, T0, gone);
    static const silence_matcher ns[] = {{"env", "staging", 0, 0}, {"alertname", "DiskFull", 0, 1}};
    in = mk(ns, 2, T0, T0 + HOUR);
    create(f, &in, T0, not_staging);

    silence_ids ids = {0};
    int64_t until;
    label web[] = {{"alertname", 9, "DiskFull", 8}, {"instance", 8, "web-1", 5}};
    label dbl[] = {{"instance", 8, "db-2", 4}, {"alertname", 9, "DiskFull", 8}, {"env", 3, "staging", 7}};
    label other[] = {{"alertname", 9, "CPUHigh", 7}};

    /* at T0+10m: gone has ended, later has not begun; ids come sorted */
    const char *web_ids[] = {disk, not_staging};
    qsort(web_ids, 2, sizeof *web_ids, cmp_str);
    assert_int_equal(silences_mutes(f->s, web, 2, T0 + 10 * MIN, &ids, &until), 2);
    assert_string_equal(ids.v[0], web_ids[0]);
    assert_string_equal(ids.v[1], web_ids[1]);
    assert_int_equal(until, T0 + 30 * MIN); /* when "later" starts */

    /* the regex matcher and the != matcher decide */
    const char *db_ids[] = {disk, db};
    qsort(db_ids, 2, sizeof *db_ids, cmp_str);
    assert_int_equal(silences_mutes(f->s, dbl, 3, T0 + 10 * MIN, &ids, &until), 2);
    assert_string_equal(ids.v[0], db_ids[0]);
    assert_string_equal(ids.v[1], db_ids[1]);

    assert_int_equal(silences_mutes(f->s, other, 1, T0 + 10 * MIN, &ids, &until), 0);
    assert_int_equal(until, INT64_MAX);

    /* after later begins, the next change is when disk and not_staging end */
    assert_int_equal(silences_mutes(f->s, web, 2, T0 + 40 * MIN, &ids, &until), 3);
    assert_int_equal(until, T0 + HOUR);
    assert_int_equal(silences_mutes(f->s, web, 2, T0 + 2 * HOUR, &ids, NULL), 1);
    assert_string_equal(ids.v[0], later);

    /* a caller caching by version sees every change */
    uint64_t v = silences_version(f->s);
    errbuf err;
    assert_int_equal(silences_expire(f->s, later, T0 + 2 * HOUR, &err), 0);
    assert_true(silences_version(f->s) != v);
    assert_int_equal(silences_mutes(f->s, web, 2, T0 + 2 * HOUR, &ids, NULL), 0);
    silence_ids_free(&ids);
}

/* ------------------------------------------------------------ JSON and HTTP */

/* GettableSilence exactly as Alertmanager writes it: key order, times with
 * milliseconds, Go's escaping. */
static void test_json_shape(void **state) {
    (void)state;
    static const silence_matcher ms[] = {
        {"alertname", "DiskFull", 0, 1}, {"instance", "db-.*", 1, 1}, {"severity", "info", 0, 0}, {"a", "<&>\x01\t", 1, 0}};
    silence s = {.id = "9e4b0c6e-2f0c-4a57-9b1a-3d2f6a7c8e01", .matchers = ms, .nmatchers = 4,
                 .starts_at_ms = T0 + HOUR, .ends_at_ms = T0 + 3 * HOUR + 500, .updated_at_ms = T0 + 123,
                 .created_by = "<ops&dev>", .comment = "disk \"swap\"\n\xe2\x80\xa8\xc3\xa9\x7f"};
    buf b = {0};
    silence_write_json(&s, T0 + 2 * HOUR, &b);
    buf_append(&b, "", 1);
    assert_string_equal(
        (char *)b.data,
        "{\"id\":\"9e4b0c6e-2f0c-4a57-9b1a-3d2f6a7c8e01\",\"status\":{\"state\":\"active\"},"
        "\"updatedAt\":\"2026-01-01T00:00:00.123Z\",\"comment\":\"disk \\\"swap\\\"\\n\\u2028\xc3\xa9\x7f\","
        "\"createdBy\":\"\\u003cops\\u0026dev\\u003e\",\"endsAt\":\"2026-01-01T03:00:00.500Z\",\"matchers\":["
        "{\"isEqual\":true,\"isRegex\":false,\"name\":\"alertname\",\"value\":\"DiskFull\"},"
        "{\"isEqual\":true,\"isRegex\":true,\"name\":\"instance\",\"value\":\"db-.*\"},"
        "{\"isEqual\":false,\"isRegex\":false,\"name\":\"severity\",\"value\":\"info\"},"
        "{\"isEqual\":false,\"isRegex\":true,\"name\":\"a\",\"value\":\"\\u003c\\u0026\\u003e\\u0001\\t\"}],"
        "\"startsAt\":\"2026-01-01T01:00:00.000Z\"}");
    buf_reset(&b);
    silence_write_json(&s, T0, &b);
    assert_non_null(memmem(b.data, b.len, "\"state\":\"pending\"", 17));
    buf_reset(&b);
    silence_write_json(&s, T0 + 3 * HOUR + 500, &b);
    assert_non_null(memmem(b.data, b.len, "\"state\":\"expired\"", 17));
    buf_free(&b);
}

static unsigned call(fixture *f, const char *method, const char *path, const char *body, const char *filter,
                     int64_t now, buf *out) {
    const char *filters[1] = {filter};
    silences_request q = {method, path, filters, filter ? 1 : 0, body, body ? strlen(body) : 0};
    buf_reset(out);
    unsigned st = silences_handle(f->s, &q, now, out);
    buf_append(out, "", 1);
    out->len--;
    return st;
}

/* The whole round amtool makes: add, query, update, expire. */
static void test_http_flow(void **state) {
    fixture *f = *state;
    buf out = {0};
    const char *post = "{\"comment\":\"hello\",\"createdBy\":\"tester\",\"endsAt\":\"2026-01-01T02:00:00.000Z\","
                       "\"matchers\":[{\"isEqual\":true,\"isRegex\":false,\"name\":\"alertname\",\"value\":\"Foo\"},"
                       "{\"isEqual\":true,\"isRegex\":true,\"name\":\"job\",\"value\":\"a|b\"}],"
                       "\"startsAt\":\"2026-01-01T00:00:00.000Z\"}\n";
    assert_int_equal(call(f, "POST", "silences", post, NULL, T0 + 5, &out), 200);
    char id[37];
    assert_int_equal(sscanf((char *)out.data, "{\"silenceID\":\"%36[0-9a-f-]\"}\n", id), 1);
    char want[1024];
    snprintf(want, sizeof want, "{\"silenceID\":\"%s\"}\n", id);
    assert_string_equal((char *)out.data, want);

    char path[64];
    snprintf(path, sizeof path, "silence/%s", id);
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"status\":{\"state\":\"active\"},\"updatedAt\":\"2026-01-01T00:00:00.005Z\","
             "\"comment\":\"hello\",\"createdBy\":\"tester\",\"endsAt\":\"2026-01-01T02:00:00.000Z\",\"matchers\":["
             "{\"isEqual\":true,\"isRegex\":false,\"name\":\"alertname\",\"value\":\"Foo\"},"
             "{\"isEqual\":true,\"isRegex\":true,\"name\":\"job\",\"value\":\"a|b\"}],"
             "\"startsAt\":\"2026-01-01T00:00:00.005Z\"}\n",
             id);
    assert_int_equal(call(f, "GET", path, NULL, NULL, T0 + SEC, &out), 200);
    assert_string_equal((char *)out.data, want);
    strcat(path, "/");
    assert_int_equal(call(f, "GET", path, NULL, NULL, T0 + SEC, &out), 200);

    /* the list, filtered the way `amtool silence query alertname=Foo` asks */
    assert_int_equal(call(f, "GET", "silences", NULL, "alertname=Foo", T0 + SEC, &out), 200);
    assert_int_equal(out.data[0], '[');
    assert_non_null(strstr((char *)out.data, id));
    assert_int_equal(memcmp(out.data + out.len - 2, "]\n", 2), 0);
    assert_int_equal(call(f, "GET", "silences", NULL, "alertname=Bar", T0 + SEC, &out), 200);
    assert_string_equal((char *)out.data, "[]\n");

    /* `amtool silence update --comment`: the same id */
    char upd[1024];
    snprintf(upd, sizeof upd,
             "{\"id\":\"%s\",\"comment\":\"newc\",\"createdBy\":\"tester\",\"endsAt\":\"2026-01-01T02:00:00.000Z\","
             "\"matchers\":[{\"isEqual\":true,\"isRegex\":false,\"name\":\"alertname\",\"value\":\"Foo\"},"
             "{\"isEqual\":true,\"isRegex\":true,\"name\":\"job\",\"value\":\"a|b\"}],"
             "\"startsAt\":\"2026-01-01T00:00:00.005Z\"}",
             id);
    assert_int_equal(call(f, "POST", "silences", upd, NULL, T0 + 2 * SEC, &out), 200);
    snprintf(want, sizeof want, "{\"silenceID\":\"%s\"}\n", id);
    assert_string_equal((char *)out.data, want);

    /* `amtool silence expire` */
    path[strlen(path) - 1] = 0;
    assert_int_equal(call(f, "DELETE", path, NULL, NULL, T0 + 3 * SEC, &out), 200);
    assert_int_equal(out.len, 0);
    assert_int_equal(call(f, "DELETE", path, NULL, NULL, T0 + 4 * SEC, &out), 200);
    assert_int_equal(call(f, "GET", path, NULL, NULL, T0 + 4 * SEC, &out), 200);
    assert_non_null(strstr((char *)out.data, "\"state\":\"expired\""));
    assert_non_null(strstr((char *)out.data, "\"comment\":\"newc\""));
    assert_non_null(strstr((char *)out.data, "\"endsAt\":\"2026-01-01T00:00:03.000Z\""));
    buf_free(&out);
}

typedef struct {
    const char *method, *path, *body, *filter;
    unsigned status;
    const char *answer;
} http_case;

/* Error answers, each as Alertmanager 0.25 gave it to the same request. */
static void test_http_errors(void **state) {
    fixture *f = *state;
    static const http_case cases[] = {
        {"POST", "silences", "{\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"isRegex\":false}],\"startsAt\":"
                             "\"2026-01-01T00:00:00Z\",\"endsAt\":\"2026-01-01T01:00:00Z\",\"createdBy\":\"me\"}",
         NULL, 422, "{\"code\":602,\"message\":\"comment in body is required\"}"},
        {"POST", "silences", "{\"comment\":\"c\"}", NULL, 422, "{\"code\":602,\"message\":\"createdBy in body is required\"}"},
        {"POST", "silences", "{\"comment\":\"\",\"createdBy\":\"\"}", NULL, 422,
         "{\"code\":602,\"message\":\"endsAt in body is required\"}"},
        {"POST", "silences", "{\"comment\":\"\",\"createdBy\":\"\",\"endsAt\":\"2026-01-01T01:00:00Z\"}", NULL, 422,
         "{\"code\":602,\"message\":\"matchers in body is required\"}"},
        {"POST", "silences", "{\"comment\":\"\",\"createdBy\":\"\",\"endsAt\":\"2026-01-01T01:00:00Z\",\"matchers\":[]}",
         NULL, 422, "{\"code\":612,\"message\":\"matchers in body should have at least 1 items\"}"},
        {"POST", "silences",
         "{\"comment\":\"\",\"createdBy\":\"\",\"endsAt\":\"2026-01-01T01:00:00Z\",\"matchers\":[{\"name\":\"a\"}]}",
         NULL, 422, "{\"code\":602,\"message\":\"matchers.0.isRegex in body is required\"}"},
        {"POST", "silences",
         "{\"comment\":\"\",\"createdBy\":\"\",\"endsAt\":\"2026-01-01T01:00:00Z\",\"matchers\":[{\"name\":\"a\","
         "\"value\":\"b\",\"isRegex\":false}]}",
         NULL, 422, "{\"code\":602,\"message\":\"startsAt in body is required\"}"},
        {"POST", "silences", "", NULL, 422, "{\"code\":602,\"message\":\"silence in body is required\"}"},
        {"POST", "silences", "{bad", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because invalid character 'b' "
         "looking for beginning of object key string\"}"},
        {"POST", "silences", "{\"a\":", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because unexpected EOF\"}"},
        {"POST", "silences", "{\"comment\":tru}", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because invalid character '}' in "
         "literal true (expecting 'e')\"}"},
        {"POST", "silences", "[]", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because json: cannot unmarshal array "
         "into Go value of type struct { ID string \\\"json:\\\\\\\"id,omitempty\\\\\\\"\\\" }\"}"},
        {"POST", "silences", "{\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"isRegex\":\"yes\"}]}", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because json: cannot unmarshal string "
         "into Go struct field Matcher.matchers.isRegex of type bool\"}"},
        {"POST", "silences", "{\"startsAt\":\"yesterday\"}", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because parsing time "
         "\\\"yesterday\\\" as \\\"2006-01-02 15:04:05\\\": cannot parse \\\"yesterday\\\" as \\\"2006\\\"\"}"},
        {"POST", "silences", "{\"startsAt\":\"2026-13-01T00:00:00Z\"}", NULL, 400,
         "{\"code\":400,\"message\":\"parsing silence body from \\\"\\\" failed, because parsing time "
         "\\\"2026-13-01T00:00:00Z\\\": month out of range\"}"},
        {"POST", "silences",
         "{\"comment\":\"\",\"createdBy\":\"\",\"startsAt\":\"2026-01-01T02:00:00Z\",\"endsAt\":\"2026-01-01T01:00:00Z\","
         "\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"isRegex\":false}]}",
         NULL, 400, "\"Failed to create silence: start time must be before end time\"\n"},
        {"POST", "silences",
         "{\"comment\":\"\",\"createdBy\":\"\",\"startsAt\":\"2025-12-31T22:00:00Z\",\"endsAt\":\"2025-12-31T23:00:00Z\","
         "\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"isRegex\":false}]}",
         NULL, 400, "\"Failed to create silence: end time can't be in the past\"\n"},
        {"POST", "silences",
         "{\"comment\":\"\",\"createdBy\":\"\",\"startsAt\":\"2026-01-01T00:00:00Z\",\"endsAt\":\"2026-01-01T01:00:00Z\","
         "\"matchers\":[{\"name\":\"a-b\",\"value\":\"b\",\"isRegex\":false}]}",
         NULL, 400, "\"silence invalid: invalid label matcher 0: invalid label name \\\"a-b\\\"\"\n"},
        {"POST", "silences",
         "{\"id\":\"nope\",\"comment\":\"\",\"createdBy\":\"\",\"startsAt\":\"2026-01-01T00:00:00Z\",\"endsAt\":"
         "\"2026-01-01T01:00:00Z\",\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"isRegex\":false}]}",
         NULL, 404, "\"silence not found\"\n"},
        {"GET", "silences", NULL, "bad", 400, "\"bad matcher format: bad\"\n"},
        {"GET", "silences", NULL, "{a=\"b\"}", 400, "\"bad matcher format: {a=\\\"b\\\"}\"\n"},
        {"GET", "silence/nope", NULL, NULL, 422,
         "{\"code\":601,\"message\":\"silenceID in path must be of type uuid: \\\"nope\\\"\"}"},
        {"DELETE", "silence/<a>", NULL, NULL, 422,
         "{\"code\":601,\"message\":\"silenceID in path must be of type uuid: \\\"\\u003ca\\u003e\\\"\"}"},
        {"GET", "silence/5fc90a4e-bd05-4051-9f75-fdaf6cd14dbb", NULL, NULL, 404, ""},
        {"GET", "silence/5fc90a4ebd0540519f75fdaf6cd14dbb", NULL, NULL, 404, ""},
        {"DELETE", "silence/5fc90a4e-bd05-4051-9f75-fdaf6cd14dbb", NULL, NULL, 500, "\"silence not found\"\n"},
        {"PUT", "silences", NULL, NULL, 405, "{\"code\":405,\"message\":\"method PUT is not allowed, but [GET,POST] are\"}"},
        {"PUT", "silence/5fc90a4e-bd05-4051-9f75-fdaf6cd14dbb", NULL, NULL, 405,
         "{\"code\":405,\"message\":\"method PUT is not allowed, but [DELETE,GET] are\"}"},
        {"HEAD", "silences", NULL, NULL, 405, ""},
        {"GET", "silencez", NULL, NULL, 404, "{\"code\":404,\"message\":\"path /api/v2/silencez was not found\"}"},
        {"GET", "silence/", NULL, NULL, 404, "{\"code\":404,\"message\":\"path /api/v2/silence/ was not found\"}"},
    };
    buf out = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const http_case *c = &cases[i];
        unsigned st = call(f, c->method, c->path, c->body, c->filter, T0, &out);
        if (st != c->status || strcmp((char *)out.data, c->answer))
            fail_msg("case %zu %s %s: %u %s", i, c->method, c->path, st, (char *)out.data);
    }
    buf_free(&out);
    silence *l;
    size_t n;
    silences_list(f->s, NULL, T0, &l, &n);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------ threads */

typedef struct {
    silences *s;
    atomic_int *stop;
    long checks, errors;
} reader;

static void *read_loop(void *arg) {
    reader *r = arg;
    silence_ids ids = {0};
    label ls[] = {{"alertname", 9, "DiskFull", 8}, {"instance", 8, "db-7", 4}};
    while (!atomic_load(r->stop)) {
        int64_t until;
        silences_mutes(r->s, ls, 2, T0 + MIN, &ids, &until);
        for (size_t i = 1; i < ids.n; i++)
            if (strcmp(ids.v[i - 1], ids.v[i]) >= 0) r->errors++;
        silence *l;
        size_t n;
        silences_list(r->s, NULL, T0 + MIN, &l, &n);
        silences_list_free(l, n);
        r->checks++;
    }
    silence_ids_free(&ids);
    return NULL;
}

/* Readers (the notifier, the API) run while a writer adds and expires. */
static void test_concurrent_readers(void **state) {
    fixture *f = *state;
    atomic_int stop = 0;
    reader r[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (reader){f->s, &stop, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    }
    char ids[40][37];
    for (int i = 0; i < 40; i++) {
        silence in = mk(i % 2 ? DISK_DB : DISK, i % 2 ? 2 : 1, T0, T0 + HOUR);
        create(f, &in, T0, ids[i]);
        if (i % 3 == 0) {
            errbuf err;
            assert_int_equal(silences_expire(f->s, ids[i], T0 + SEC, &err), 0);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].errors, 0);
    }
    silence_ids out = {0};
    label ls[] = {{"alertname", 9, "DiskFull", 8}, {"instance", 8, "db-7", 4}};
    /* 40 silences, 14 of them expired */
    assert_int_equal(silences_mutes(f->s, ls, 2, T0 + MIN, &out, NULL), 26);
    silence_ids_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutes, setup, teardown),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test_setup_teardown(test_http_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
