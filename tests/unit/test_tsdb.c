/*
 * test_tsdb.c - storage engine tests: append semantics, bit-exact reads,
 * recovery after an abandoned process, selection by every matcher kind,
 * label listing, map growth, retention and concurrent readers.
 *
 * Each test works in its own temporary folder.  A "crash" is simulated by a
 * forked child that appends and then _exit()s without closing, which leaves
 * exactly what SIGKILL would: committed LMDB transactions, the WAL file as
 * written, and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

static char *make_dir(void) {
    char *d = strdup("/tmp/promlite-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_dir(char *d) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

static tsdb *open_db(const char *dir, tsdb_options *extra) {
    tsdb_options o = {0};
    if (extra) o = *extra;
    o.path = dir;
    tsdb *db;
    errbuf err;
    if (tsdb_open(&o, &db, &err)) fail_msg("open: %s", err.msg);
    return db;
}

static void close_db(tsdb *db) {
    errbuf err;
    if (tsdb_close(db, &err)) fail_msg("close: %s", err.msg);
}

/* Resolves a series given as "name", "k1", "v1", ..., NULL. */
static tsdb_ref ref_of(tsdb_appender *a, const char *name, ...) {
    label l[16];
    size_t n = 0;
    l[n++] = (label){"__name__", 8, name, (uint32_t)strlen(name)};
    va_list ap;
    va_start(ap, name);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        l[n++] = (label){k, (uint32_t)strlen(k), v, (uint32_t)strlen(v)};
    }
    va_end(ap);
    tsdb_ref r;
    errbuf err;
    if (tsdb_appender_ref(a, l, n, &r, &err)) fail_msg("ref: %s", err.msg);
    return r;
}

static void commit(tsdb_appender *a, tsdb_append_stats *st) {
    errbuf err;
    if (tsdb_appender_commit(a, st, &err)) fail_msg("commit: %s", err.msg);
}

static double bits_to_double(uint64_t b) {
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static uint64_t double_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* Selects with one selector string and returns the number of series. */
/* Series matching sel with samples in [mint, maxt]. */
static size_t count_selected_in(tsdb *db, const char *sel, int64_t mint, int64_t maxt) {
    matcher *m;
    size_t n;
    errbuf err;
    if (selector_parse(sel, &m, &n, &err)) fail_msg("selector %s: %s", sel, err.msg);
    tsdb_reader *r;
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    const tsdb_series *s;
    size_t count;
    assert_int_equal(tsdb_select(r, m, n, mint, maxt, &s, &count, &err), 0);
    tsdb_reader_close(r);
    matchers_free(m, n);
    return count;
}

static size_t count_selected(tsdb *db, const char *sel) { return count_selected_in(db, sel, INT64_MIN, INT64_MAX); }

/* Reads all samples of the single series matching sel into t/v. */
static size_t read_one(tsdb *db, const char *sel, int64_t *t, double *v, size_t cap) {
    matcher *m;
    size_t n;
    errbuf err;
    assert_int_equal(selector_parse(sel, &m, &n, &err), 0);
    tsdb_reader *r;
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    const tsdb_series *s;
    size_t count;
    assert_int_equal(tsdb_select(r, m, n, INT64_MIN, INT64_MAX, &s, &count, &err), 0);
    assert_int_equal(count, 1);
    tsdb_samples smp;
    assert_int_equal(tsdb_read(r, s[0].ref, INT64_MIN, INT64_MAX, &smp, &err), 0);
    assert_true(smp.n <= cap);
    memcpy(t, smp.t, smp.n * sizeof *t);
    memcpy(v, smp.v, smp.n * sizeof *v);
    size_t got = smp.n;
    tsdb_reader_close(r);
    matchers_free(m, n);
    return got;
}

static const uint64_t special_bits[] = {
    0x7ff0000000000002ULL, /* staleness marker */
    0x7ff8000000000001ULL, /* Go's NaN */
    0x7ff8000000000000ULL, /* C's NaN */
    0xfff8000000000123ULL, /* negative NaN with payload */
    0x7ff0000000000000ULL, /* +Inf */
    0xfff0000000000000ULL, /* -Inf */
    0x8000000000000000ULL, /* -0.0 */
    0x0000000000000001ULL, /* smallest denormal */
};
#define NSPECIAL (sizeof special_bits / sizeof special_bits[0])

/* Every special float survives the head, sealing, persistence and reopen. */
static void test_bit_exact(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "special", "job", "x", NULL);
    size_t n = 1000;
    for (size_t i = 0; i < n; i++) {
        double v = i % 3 == 0 ? bits_to_double(special_bits[i % NSPECIAL]) : (double)i * 0.1;
        tsdb_appender_add(a, r, 1000 + (int64_t)i * 15000, v);
    }
    tsdb_append_stats st;
    commit(a, &st);
    assert_int_equal(st.appended, n);
    tsdb_appender_free(a);
    for (int round = 0; round < 2; round++) {
        int64_t t[1100];
        double v[1100];
        assert_int_equal(read_one(db, "special", t, v, 1100), n);
        for (size_t i = 0; i < n; i++) {
            double want = i % 3 == 0 ? bits_to_double(special_bits[i % NSPECIAL]) : (double)i * 0.1;
            assert_int_equal(t[i], 1000 + (int64_t)i * 15000);
            assert_int_equal(double_bits(v[i]), double_bits(want));
        }
        close_db(db);
        db = open_db(dir, NULL);
    }
    close_db(db);
    remove_dir(dir);
}

/* Out-of-order and duplicate samples are rejected one by one; the rest of
 * the batch is kept; an identical repeat is ignored. */
static void test_append_semantics(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "m", "a", "1", NULL);
    tsdb_appender_add(a, r, 100, 1);
    tsdb_appender_add(a, r, 200, 2);
    tsdb_appender_add(a, r, 150, 9);  /* out of order */
    tsdb_appender_add(a, r, 200, 3);  /* duplicate, other value */
    tsdb_appender_add(a, r, 200, 2);  /* identical */
    tsdb_appender_add(a, r, 300, 4);
    tsdb_appender_add(a, 987654, 300, 4); /* unknown ref */
    tsdb_append_stats st;
    commit(a, &st);
    assert_int_equal(st.appended, 3);
    assert_int_equal(st.out_of_order, 1);
    assert_int_equal(st.duplicate, 1);
    assert_int_equal(st.identical, 1);
    assert_int_equal(st.unknown_ref, 1);
    assert_int_equal(st.new_series, 1);
    /* Later batches are checked against stored data too, after a reopen. */
    tsdb_appender_free(a);
    close_db(db);
    db = open_db(dir, NULL);
    a = tsdb_appender_new(db);
    tsdb_ref r2 = ref_of(a, "m", "a", "1", NULL);
    assert_int_equal(r2, r);
    tsdb_appender_add(a, r, 250, 5);
    tsdb_appender_add(a, r, 300, 5);
    tsdb_appender_add(a, r, 400, 6);
    commit(a, &st);
    assert_int_equal(st.appended, 1);
    assert_int_equal(st.out_of_order, 1);
    assert_int_equal(st.duplicate, 1);
    assert_int_equal(st.new_series, 0);
    int64_t t[10];
    double v[10];
    assert_int_equal(read_one(db, "m", t, v, 10), 4);
    assert_int_equal(t[3], 400);
    assert_true(v[3] == 6);
    tsdb_appender_free(a);
    close_db(db);
    remove_dir(dir);
}

/* Labels are validated and canonicalised. */
static void test_label_validation(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    tsdb_appender *a = tsdb_appender_new(db);
    errbuf err;
    tsdb_ref r1, r2;
    label bad_name[] = {{"__name__", 8, "x", 1}, {"0bad", 4, "v", 1}};
    assert_int_equal(tsdb_appender_ref(a, bad_name, 2, &r1, &err), -1);
    assert_non_null(strstr(err.msg, "invalid label name"));
    label dup[] = {{"__name__", 8, "x", 1}, {"a", 1, "1", 1}, {"a", 1, "2", 1}};
    assert_int_equal(tsdb_appender_ref(a, dup, 3, &r1, &err), -1);
    assert_non_null(strstr(err.msg, "given twice"));
    label badutf[] = {{"__name__", 8, "x", 1}, {"a", 1, "\xff", 1}};
    assert_int_equal(tsdb_appender_ref(a, badutf, 2, &r1, &err), -1);
    /* Order does not matter; an empty value is the same as no label. */
    label o1[] = {{"b", 1, "2", 1}, {"__name__", 8, "x", 1}, {"a", 1, "1", 1}};
    label o2[] = {{"a", 1, "1", 1}, {"c", 1, "", 0}, {"b", 1, "2", 1}, {"__name__", 8, "x", 1}};
    assert_int_equal(tsdb_appender_ref(a, o1, 3, &r1, &err), 0);
    assert_int_equal(tsdb_appender_ref(a, o2, 4, &r2, &err), 0);
    assert_int_equal(r1, r2);
    tsdb_appender_free(a);
    close_db(db);
    remove_dir(dir);
}

/* Builds a small index: 3 jobs x 4 instances of metric "up" plus "other". */
static void fill_index(tsdb *db) {
    tsdb_appender *a = tsdb_appender_new(db);
    const char *jobs[] = {"api", "node", "db"};
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i < 4; i++) {
            char inst[32];
            snprintf(inst, sizeof inst, "host-%d", i);
            tsdb_ref r = ref_of(a, "up", "job", jobs[j], "instance", inst, NULL);
            tsdb_appender_add(a, r, 1000, 1);
        }
    }
    tsdb_ref r = ref_of(a, "other", "job", "api", "env", "prod", NULL);
    tsdb_appender_add(a, r, 1000, 1);
    char longv[1000];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    longv[500] = 'y';
    r = ref_of(a, "long", "v", longv, NULL);
    tsdb_appender_add(a, r, 1000, 1);
    commit(a, NULL);
    tsdb_appender_free(a);
}

static void test_select(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    fill_index(db);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(count_selected(db, "up"), 12);
        assert_int_equal(count_selected(db, "up{job=\"api\"}"), 4);
        assert_int_equal(count_selected(db, "up{job!=\"api\"}"), 8);
        assert_int_equal(count_selected(db, "up{job=~\"api|db\"}"), 8);
        assert_int_equal(count_selected(db, "up{job!~\"a.*\"}"), 8);
        assert_int_equal(count_selected(db, "up{job=~\"ap\"}"), 0); /* anchored */
        assert_int_equal(count_selected(db, "{job=\"api\"}"), 5);
        assert_int_equal(count_selected(db, "{job=\"api\",env=\"\"}"), 4); /* no env label */
        assert_int_equal(count_selected(db, "{job=\"api\",env!=\"\"}"), 1);
        assert_int_equal(count_selected(db, "{__name__=~\"up|other\",instance=~\"host-[12]\"}"), 6);
        assert_int_equal(count_selected(db, "{__name__=~\".+\"}"), 14);
        assert_int_equal(count_selected(db, "{v=~\"x+yx+\"}"), 1); /* value beyond the postings key limit */
        assert_int_equal(count_selected(db, "nonexistent"), 0);
        close_db(db);
        db = open_db(dir, NULL);
    }
    /* Results are sorted by label set. */
    matcher *m;
    size_t n;
    errbuf err;
    assert_int_equal(selector_parse("up", &m, &n, &err), 0);
    tsdb_reader *r;
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    const tsdb_series *s;
    size_t count;
    assert_int_equal(tsdb_select(r, m, n, 0, 5000, &s, &count, &err), 0);
    assert_int_equal(count, 12);
    const label *inst = labels_get(s[0].labels, s[0].nlabels, "instance", 8);
    const label *job = labels_get(s[0].labels, s[0].nlabels, "job", 3);
    assert_memory_equal(inst->value, "host-0", 6);
    assert_memory_equal(job->value, "api", 3);
    /* Out of the time range: nothing. */
    assert_int_equal(tsdb_select(r, m, n, 2000, 5000, &s, &count, &err), 0);
    assert_int_equal(count, 0);
    /* Label names and values. */
    const tsdb_str *names, *vals;
    size_t nn, nv;
    assert_int_equal(tsdb_label_names(r, &names, &nn, &err), 0);
    assert_int_equal(nn, 5);
    assert_memory_equal(names[0].s, "__name__", 8);
    assert_memory_equal(names[1].s, "env", 3);
    assert_int_equal(tsdb_label_values(r, "job", &vals, &nv, &err), 0);
    assert_int_equal(nv, 3);
    assert_memory_equal(vals[0].s, "api", 3);
    assert_memory_equal(vals[1].s, "db", 2);
    assert_int_equal(tsdb_label_values(r, "v", &vals, &nv, &err), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(vals[0].len, 999);
    tsdb_reader_close(r);
    matchers_free(m, n);
    close_db(db);
    remove_dir(dir);
}

/* In a forked child: the refs of the 20 series "walt" (s=0..19). */
static void walt_refs(tsdb_appender *a, tsdb_ref refs[20]) {
    errbuf err;
    for (int s = 0; s < 20; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        label l[] = {{"__name__", 8, "walt", 4}, {"s", 1, v, (uint32_t)strlen(v)}};
        if (tsdb_appender_ref(a, l, 2, &refs[s], &err)) _exit(4);
    }
}

/* Appends batches 0..nbatch-1 of 20 series ("walt", s=0..19; batch b at
 * t = b s, v = b + s) with the given checkpoint threshold, then _exit()s in
 * a child without closing, as SIGKILL would leave it. */
static void crash_child(const char *dir, int nbatch, uint64_t checkpoint_bytes) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tsdb_options o = {.path = dir, .checkpoint_wal_bytes = checkpoint_bytes};
        tsdb *db;
        errbuf err;
        if (tsdb_open(&o, &db, &err)) _exit(3);
        tsdb_appender *a = tsdb_appender_new(db);
        tsdb_ref refs[20];
        walt_refs(a, refs);
        for (int b = 0; b < nbatch; b++) {
            for (int s = 0; s < 20; s++) tsdb_appender_add(a, refs[s], (int64_t)b * 1000, b + s);
            if (tsdb_appender_commit(a, NULL, &err)) _exit(5);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void check_walt(tsdb *db, int nbatch) {
    static int64_t t[16384];
    static double v[16384];
    assert_true(nbatch < 16384);
    for (int s = 0; s < 20; s += 19) {
        char sel[64];
        snprintf(sel, sizeof sel, "walt{s=\"%d\"}", s);
        assert_int_equal(read_one(db, sel, t, v, 16384), nbatch);
        for (int b = 0; b < nbatch; b++) {
            assert_int_equal(t[b], (int64_t)b * 1000);
            assert_true(v[b] == b + s);
        }
    }
}

/* A child appends in WAL mode (small batches) and dies without closing; the
 * parent reopens and finds every committed batch (300 per series: more than
 * a chunk, so sealed chunks are recovered too), and so does a second open. */
static void crash_reopen_check(int nbatch, uint64_t checkpoint_bytes) {
    char *dir = make_dir();
    crash_child(dir, nbatch, checkpoint_bytes);
    for (int round = 0; round < 2; round++) {
        tsdb *db = open_db(dir, NULL);
        assert_int_equal(count_selected(db, "walt"), 20);
        check_walt(db, nbatch);
        close_db(db);
    }
    remove_dir(dir);
}

static void test_recovery_after_crash(void **state) {
    (void)state;
    crash_reopen_check(300, 0);
}

/* With a tiny checkpoint threshold, checkpoints (sealed chunks, snapshots
 * into the other head database, WAL emptied) happen every few batches; a
 * crash after many of them recovers every batch, and so does a reopen. */
static void test_recovery_across_checkpoints(void **state) {
    (void)state;
    crash_reopen_check(1000, 4096);
}

/* A record cut short (power loss in the middle of a write) is dropped with
 * a warning; every record before it is replayed, and the database takes new
 * writes afterwards. */
static void test_wal_torn_tail(void **state) {
    (void)state;
    char *dir = make_dir();
    crash_child(dir, 50, 0);
    char p[512];
    snprintf(p, sizeof p, "%s/wal", dir);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    /* A header announcing 1000 bytes, followed by only 3. */
    const unsigned char torn[] = {0xe8, 0x03, 0, 0, 1, 2, 3, 4, 9, 9, 9};
    assert_int_equal(fwrite(torn, 1, sizeof torn, f), sizeof torn);
    fclose(f);
    tsdb *db = open_db(dir, NULL);
    check_walt(db, 50);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "walt", "s", "0", NULL);
    tsdb_appender_add(a, r, 50000, 50);
    tsdb_append_stats st;
    commit(a, &st);
    assert_int_equal(st.appended, 1);
    tsdb_appender_free(a);
    close_db(db);
    remove_dir(dir);
}

/* A full disk on the WAL path (the file size limit stands in for it): the
 * commit that cannot be logged fails with a message naming the log and the
 * cause, and after it every batch acknowledged before is still there. */
static void test_wal_disk_full(void **state) {
    (void)state;
    char *dir = make_dir();
    char result[512];
    snprintf(result, sizeof result, "%s.result", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {256 * 1024, 256 * 1024};
        tsdb_options o = {.path = dir};
        tsdb *db;
        errbuf err;
        if (tsdb_open(&o, &db, &err)) _exit(3);
        tsdb_appender *a = tsdb_appender_new(db);
        tsdb_ref refs[20];
        walt_refs(a, refs);
        if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(5);
        int b = 0;
        for (;; b++) {
            for (int s = 0; s < 20; s++) tsdb_appender_add(a, refs[s], (int64_t)b * 1000, b + s);
            if (tsdb_appender_commit(a, NULL, &err)) break;
            if (b > 1000000) _exit(6);
        }
        FILE *f = fopen(result, "w");
        if (!f) _exit(7);
        fprintf(f, "%d\n%s\n", b, err.msg);
        fclose(f);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(result, "r");
    assert_non_null(f);
    int failed_batch = 0;
    char msg[600] = "";
    assert_int_equal(fscanf(f, "%d\n", &failed_batch), 1);
    assert_non_null(fgets(msg, sizeof msg, f));
    fclose(f);
    unlink(result);
    assert_true(failed_batch > 10);
    assert_non_null(strstr(msg, "/wal"));
    assert_non_null(strstr(msg, "no space left for the data folder"));
    tsdb *db = open_db(dir, NULL);
    check_walt(db, failed_batch);
    close_db(db);
    remove_dir(dir);
}

/* A file named wal that is not a promlite log stops the open with a message
 * naming it, instead of being overwritten. */
static void test_wal_foreign_file(void **state) {
    (void)state;
    char *dir = make_dir();
    char p[512];
    snprintf(p, sizeof p, "%s/wal", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("not a log at all\n", f);
    fclose(f);
    tsdb_options o = {.path = dir};
    tsdb *db;
    errbuf err;
    assert_int_equal(tsdb_open(&o, &db, &err), -1);
    assert_non_null(strstr(err.msg, "/wal is not a promlite write-ahead log"));
    remove_dir(dir);
}

/* Selection honours the time range for data in the open chunk, in sealed
 * chunks in memory and in persisted chunks alike. */
static void test_select_time_range(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "ranged", NULL);
    for (int i = 0; i < 10; i++) {
        tsdb_appender_add(a, r, 100000 + i * 1000, i);
        commit(a, NULL);
    }
    assert_int_equal(count_selected_in(db, "ranged", 0, 99999), 0);
    assert_int_equal(count_selected_in(db, "ranged", 110000, 200000), 0);
    assert_int_equal(count_selected_in(db, "ranged", 0, 100000), 1);
    assert_int_equal(count_selected_in(db, "ranged", 109000, 200000), 1);
    assert_int_equal(count_selected_in(db, "ranged", 104500, 104600), 1); /* inside, between samples */
    tsdb_appender_free(a);
    close_db(db);
    db = open_db(dir, NULL); /* from the snapshot */
    assert_int_equal(count_selected_in(db, "ranged", 0, 99999), 0);
    assert_int_equal(count_selected_in(db, "ranged", 0, 100000), 1);
    close_db(db);
    remove_dir(dir);
}

typedef struct {
    char keys[8][32];
    size_t n;
} kv_seen;

static int kv_collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    kv_seen *s = ctx;
    (void)val;
    (void)vlen;
    if (s->n < 8) snprintf(s->keys[s->n++], 32, "%.*s", (int)klen, (const char *)key);
    return 0;
}

typedef struct {
    tsdb *db;
    int id;
} kv_writer;

static void *kv_write_many(void *arg) {
    kv_writer *w = arg;
    errbuf err;
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d-%03d", w->id, i);
        if (tsdb_kv_put(w->db, "load", k, strlen(k), "x", 1, &err)) return (void *)1;
    }
    return NULL;
}

static int kv_count(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(size_t *)ctx)++;
    return 0;
}

/* Records: put, overwrite, get, delete, namespaces kept apart and walked in
 * key order, kept across a reopen, and written from two threads at once
 * while samples are appended. */
static void test_kv_records(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    errbuf err;
    assert_int_equal(tsdb_kv_put(db, "admin", "job/b", 5, "{\"b\":1}", 7, &err), 0);
    assert_int_equal(tsdb_kv_put(db, "admin", "job/a", 5, "first", 5, &err), 0);
    assert_int_equal(tsdb_kv_put(db, "admin", "job/a", 5, "second", 6, &err), 0);
    assert_int_equal(tsdb_kv_put(db, "silences", "job/a", 5, "other ns", 8, &err), 0);
    void *v;
    size_t vlen;
    assert_int_equal(tsdb_kv_get(db, "admin", "job/a", 5, &v, &vlen, &err), 1);
    assert_int_equal(vlen, 6);
    assert_string_equal(v, "second");
    free(v);
    assert_int_equal(tsdb_kv_get(db, "admin", "job/zzz", 7, &v, &vlen, &err), 0);
    kv_seen seen = {0};
    assert_int_equal(tsdb_kv_each(db, "admin", kv_collect, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.keys[0], "job/a");
    assert_string_equal(seen.keys[1], "job/b");
    assert_int_equal(tsdb_kv_delete(db, "admin", "job/b", 5, &err), 0);
    assert_int_equal(tsdb_kv_delete(db, "admin", "job/b", 5, &err), 1);
    char longkey[600];
    memset(longkey, 'k', sizeof longkey);
    assert_int_equal(tsdb_kv_put(db, "admin", longkey, sizeof longkey, "v", 1, &err), -1);
    assert_non_null(strstr(err.msg, "too long"));
    /* A batch: puts and deletes together (deleting an absent record is no
     * error), and a batch with one bad change writes nothing. */
    tsdb_kv_change batch[] = {{"admin", "job/c", 5, "c", 1}, {"admin", "job/a", 5, NULL, 0},
                              {"admin", "job/none", 8, NULL, 0}, {"admin", "job/d", 5, "d", 1}};
    assert_int_equal(tsdb_kv_write(db, batch, 4, &err), 0);
    assert_int_equal(tsdb_kv_get(db, "admin", "job/a", 5, &v, &vlen, &err), 0);
    assert_int_equal(tsdb_kv_get(db, "admin", "job/d", 5, &v, &vlen, &err), 1);
    free(v);
    tsdb_kv_change bad[] = {{"admin", "job/e", 5, "e", 1}, {"admin", longkey, sizeof longkey, "v", 1}};
    assert_int_equal(tsdb_kv_write(db, bad, 2, &err), -1);
    assert_non_null(strstr(err.msg, "too long"));
    assert_int_equal(tsdb_kv_get(db, "admin", "job/e", 5, &v, &vlen, &err), 0);
    /* Back to the records the rest of the test expects. */
    tsdb_kv_change restore[] = {{"admin", "job/a", 5, "second", 6}, {"admin", "job/c", 5, NULL, 0},
                                {"admin", "job/d", 5, NULL, 0}};
    assert_int_equal(tsdb_kv_write(db, restore, 3, &err), 0);
    /* Two threads write records while this one appends samples. */
    pthread_t th[2];
    kv_writer w[2] = {{db, 0}, {db, 1}};
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, kv_write_many, &w[i]), 0);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "kv_side", NULL);
    for (int i = 0; i < 200; i++) {
        tsdb_appender_add(a, r, 1000 + i, i);
        commit(a, NULL);
    }
    tsdb_appender_free(a);
    for (int i = 0; i < 2; i++) {
        void *rv;
        assert_int_equal(pthread_join(th[i], &rv), 0);
        assert_null(rv);
    }
    close_db(db);
    db = open_db(dir, NULL);
    assert_int_equal(tsdb_kv_get(db, "admin", "job/a", 5, &v, &vlen, &err), 1);
    assert_string_equal(v, "second");
    free(v);
    assert_int_equal(tsdb_kv_get(db, "silences", "job/a", 5, &v, &vlen, &err), 1);
    assert_string_equal(v, "other ns");
    free(v);
    size_t n = 0;
    assert_int_equal(tsdb_kv_each(db, "load", kv_count, &n, &err), 0);
    assert_int_equal(n, 200);
    int64_t t[256];
    double vv[256];
    assert_int_equal(read_one(db, "kv_side", t, vv, 256), 200);
    close_db(db);
    remove_dir(dir);
}

/* A tiny initial map must grow by itself. */
static void test_map_growth(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb_options o = {.initial_map_bytes = 256 * 1024};
    tsdb *db = open_db(dir, &o);
    tsdb_appender *a = tsdb_appender_new(db);
    for (int s = 0; s < 2000; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        tsdb_ref r = ref_of(a, "grow", "s", v, NULL);
        for (int i = 0; i < 100; i++) tsdb_appender_add(a, r, i * 1000, (double)rand() / 3.0);
    }
    tsdb_append_stats st;
    commit(a, &st);
    assert_int_equal(st.appended, 200000);
    tsdb_appender_free(a);
    close_db(db);
    db = open_db(dir, &o);
    assert_int_equal(count_selected(db, "grow"), 2000);
    close_db(db);
    remove_dir(dir);
}

static void fill_days(tsdb *db, int series, int days) {
    tsdb_appender *a = tsdb_appender_new(db);
    for (int s = 0; s < series; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        tsdb_ref r = ref_of(a, "ret", "s", v, NULL);
        /* one sample per 10 minutes over the days */
        for (int64_t t = 0; t < (int64_t)days * 86400000; t += 600000) tsdb_appender_add(a, r, t, (double)t);
    }
    commit(a, NULL);
    tsdb_appender_free(a);
}

static void test_retention_time(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb_options o = {.retention_ms = 2LL * 86400000};
    tsdb *db = open_db(dir, &o);
    fill_days(db, 10, 10);
    /* A series that ends early disappears entirely. */
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref old = ref_of(a, "ret_old", NULL);
    tsdb_appender_add(a, old, 1000, 1);
    commit(a, NULL);
    tsdb_appender_free(a);
    close_db(db); /* persist everything as chunks */
    db = open_db(dir, &o);
    errbuf err;
    long deleted = tsdb_apply_retention(db, &err);
    assert_true(deleted > 0);
    assert_int_equal(count_selected(db, "ret_old"), 0);
    int64_t t[2000];
    double v[2000];
    size_t n = read_one(db, "ret{s=\"3\"}", t, v, 2000);
    int64_t newest = 10LL * 86400000 - 600000;
    assert_int_equal(t[n - 1], newest);
    /* Whole chunks only: nothing older than one chunk before the cutoff, and
     * everything after the cutoff is kept. */
    assert_true(t[0] >= newest - 2LL * 86400000 - 240LL * 600000);
    assert_true(t[0] <= newest - 2LL * 86400000);
    close_db(db);
    remove_dir(dir);
}

static void test_retention_size(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    fill_days(db, 200, 20);
    close_db(db);
    db = open_db(dir, NULL);
    tsdb_reader *r;
    errbuf err;
    tsdb_stats before, after;
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    assert_int_equal(tsdb_stats_collect(r, &before, &err), 0);
    tsdb_reader_close(r);
    close_db(db);
    uint64_t limit = before.used_bytes / 2;
    tsdb_options o = {.retention_bytes = limit};
    db = open_db(dir, &o);
    assert_true(tsdb_apply_retention(db, &err) > 0);
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    assert_int_equal(tsdb_stats_collect(r, &after, &err), 0);
    tsdb_reader_close(r);
    assert_true(after.used_bytes <= limit);
    assert_true(after.samples < before.samples);
    assert_true(after.samples > 0);
    assert_int_equal(after.max_time, before.max_time); /* the newest data stays */
    close_db(db);
    remove_dir(dir);
}

typedef struct {
    tsdb *db;
    volatile int stop;
    int errors;
    long reads;
} reader_arg;

/* Readers check that every series they see is a gap-free prefix of
 * 0, 1000, 2000, ... with value == t / 1000. */
static void *reader_thread(void *p) {
    reader_arg *ra = p;
    matcher *m;
    size_t n;
    errbuf err;
    selector_parse("conc", &m, &n, &err);
    while (!ra->stop) {
        tsdb_reader *r;
        if (tsdb_reader_open(ra->db, &r, &err)) {
            ra->errors++;
            break;
        }
        const tsdb_series *s;
        size_t count;
        if (tsdb_select(r, m, n, INT64_MIN, INT64_MAX, &s, &count, &err)) ra->errors++;
        for (size_t i = 0; i < count; i++) {
            tsdb_samples smp;
            if (tsdb_read(r, s[i].ref, INT64_MIN, INT64_MAX, &smp, &err)) {
                ra->errors++;
                continue;
            }
            for (size_t k = 0; k < smp.n; k++)
                if (smp.t[k] != (int64_t)k * 1000 || smp.v[k] != (double)k) {
                    ra->errors++;
                    break;
                }
        }
        tsdb_reader_close(r);
        ra->reads++;
    }
    matchers_free(m, n);
    return NULL;
}

static void test_concurrent_readers(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    reader_arg ra = {.db = db};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, reader_thread, &ra);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref refs[20];
    for (int s = 0; s < 20; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        refs[s] = ref_of(a, "conc", "s", v, NULL);
    }
    errbuf err;
    for (int b = 0; b < 600; b++) {
        for (int s = 0; s < 20; s++) tsdb_appender_add(a, refs[s], (int64_t)b * 1000, b);
        commit(a, NULL);
        if (b % 200 == 199) assert_int_equal(tsdb_checkpoint(db, &err), 0);
    }
    ra.stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_int_equal(ra.errors, 0);
    assert_true(ra.reads > 0);
    tsdb_appender_free(a);
    close_db(db);
    remove_dir(dir);
}

/* Compaction packs the file and keeps every sample. */
/* tsdb_read_newest against the answer of a full read: the newest one or two
 * samples that are not staleness markers, in ranges that cut at, before and
 * after them, with markers at the end, right after a write, across a
 * reopen (where the head does not know the sample before the newest) and
 * for a series with a single sample. */
static void check_newest_against_read(tsdb *db, tsdb_ref ref, int64_t mint, int64_t maxt) {
    tsdb_reader *r;
    errbuf err;
    assert_int_equal(tsdb_reader_open(db, &r, &err), 0);
    tsdb_samples smp;
    assert_int_equal(tsdb_read(r, ref, mint, maxt, &smp, &err), 0);
    int64_t wt[2];
    double wv[2];
    int want = 0;
    for (size_t i = smp.n; i-- > 0 && want < 2;) {
        if (double_bits(smp.v[i]) == 0x7ff0000000000002ULL) continue;
        wt[want] = smp.t[i], wv[want] = smp.v[i];
        want++;
    }
    for (int n = 1; n <= 2; n++) {
        int64_t t[2];
        double v[2];
        tsdb_reader *r2;
        assert_int_equal(tsdb_reader_open(db, &r2, &err), 0); /* a fresh head copy */
        int got = tsdb_read_newest(r2, ref, mint, maxt, n, t, v, &err);
        int expect = want < n ? want : n;
        if (got != expect) fail_msg("range [%lld, %lld] n=%d: got %d samples, want %d", (long long)mint, (long long)maxt, n, got, expect);
        for (int i = 0; i < got; i++) {
            assert_int_equal(t[i], wt[got - 1 - i]);
            assert_int_equal(double_bits(v[i]), double_bits(wv[got - 1 - i]));
        }
        tsdb_reader_close(r2);
    }
    tsdb_reader_close(r);
}

static void check_newest_ranges(tsdb *db, tsdb_ref ref, int64_t last) {
    int64_t cuts[] = {last - 45000, last - 30000, last - 29999, last - 15000, last - 14999, last, last + 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        for (size_t j = 0; j < sizeof cuts / sizeof *cuts; j++)
            if (cuts[i] <= cuts[j]) check_newest_against_read(db, ref, cuts[i], cuts[j]);
    check_newest_against_read(db, ref, INT64_MIN, INT64_MAX);
}

static void test_read_newest(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "newest", "job", "x", NULL);
    tsdb_ref one = ref_of(a, "single", "job", "x", NULL);
    int64_t t = 1000;
    for (int i = 0; i < 300; i++, t += 15000) tsdb_appender_add(a, r, t, (double)i);
    tsdb_appender_add(a, one, 1000, 7);
    commit(a, NULL);
    int64_t last = t - 15000;
    check_newest_ranges(db, r, last);
    check_newest_ranges(db, one, 1000);
    /* A staleness marker at the end: the samples before it count. */
    tsdb_appender_add(a, r, t, bits_to_double(0x7ff0000000000002ULL));
    commit(a, NULL);
    check_newest_ranges(db, r, t);
    /* A marker between two samples. */
    tsdb_appender_add(a, r, t + 15000, 1e9);
    commit(a, NULL);
    check_newest_ranges(db, r, t + 15000);
    tsdb_appender_free(a);
    close_db(db);
    /* Reopened: the head knows the newest sample again, and the rest comes
     * from the chunks. */
    db = open_db(dir, NULL);
    check_newest_ranges(db, r, t + 15000);
    check_newest_ranges(db, one, 1000);
    close_db(db);
    remove_dir(dir);
}

static void test_compact(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    fill_days(db, 300, 5);
    errbuf err;
    int64_t saved = tsdb_compact(db, &err);
    if (saved < 0) fail_msg("compact: %s", err.msg);
    int64_t t[1000];
    double v[1000];
    assert_int_equal(read_one(db, "ret{s=\"299\"}", t, v, 1000), 720);
    assert_true(v[719] == (double)t[719]);
    /* Still writable after the file swap. */
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref r = ref_of(a, "after_compact", NULL);
    tsdb_appender_add(a, r, 1, 1);
    commit(a, NULL);
    tsdb_appender_free(a);
    close_db(db);
    db = open_db(dir, NULL);
    assert_int_equal(count_selected(db, "after_compact"), 1);
    assert_int_equal(read_one(db, "ret{s=\"0\"}", t, v, 1000), 720);
    close_db(db);
    remove_dir(dir);
}

static void test_folder_lock(void **state) {
    (void)state;
    char *dir = make_dir();
    tsdb *db = open_db(dir, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        tsdb_options o = {.path = dir};
        tsdb *db2;
        errbuf err;
        int rc = tsdb_open(&o, &db2, &err);
        _exit(rc == -1 && strstr(err.msg, "in use by another") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close_db(db);
    remove_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bit_exact),
        cmocka_unit_test(test_append_semantics),
        cmocka_unit_test(test_label_validation),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_select_time_range),
        cmocka_unit_test(test_kv_records),
        cmocka_unit_test(test_recovery_after_crash),
        cmocka_unit_test(test_recovery_across_checkpoints),
        cmocka_unit_test(test_wal_torn_tail),
        cmocka_unit_test(test_wal_foreign_file),
        cmocka_unit_test(test_wal_disk_full),
        cmocka_unit_test(test_map_growth),
        cmocka_unit_test(test_retention_time),
        cmocka_unit_test(test_retention_size),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_read_newest),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_folder_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
