/*
 * silences.c - the silence store and its API v2 endpoints (see silences.h).
 *
 * In memory the set is an array of records sorted by id (binary search for
 * the API's lookups, a plain pass for listings and the mute check, which
 * visits every silence anyway).  A record holds the silence (its strings in
 * one allocation) and its matchers compiled once, so the notifier's mute
 * check per alert costs two integer comparisons per silence that is not
 * active and a matcher evaluation per one that is.  Records are never
 * edited in place: a change builds new records, writes them to storage in
 * one transaction, and only then swaps them in, all under the write lock;
 * a failed write leaves memory as it was.
 *
 * The state of a silence is computed from the caller's clock with
 * half-open intervals: active on [startsAt, endsAt).  Alertmanager uses
 * that rule for what its API reports, and a closed one (endsAt itself still
 * active) inside its store; with nanosecond clocks the two never disagree,
 * with millisecond ones they would, so one rule serves here for both: a
 * silence expired at t is expired, and mutes nothing, at t.
 *
 * The HTTP side reproduces what Alertmanager 0.25 (go-swagger generated
 * server code over encoding/json) answers, because amtool and other
 * clients read those answers: the body is first checked by a scanner that
 * follows encoding/json's, so syntax errors carry Go's words ("invalid
 * character 'x' looking for beginning of value", "unexpected EOF"), then
 * parsed with jansson and walked field by field (Go matches field names
 * case-insensitively and takes the last duplicate), with Go's type error
 * messages; then the schema checks go-swagger generates (required fields,
 * in its order, only the first reported); then the handler's own checks
 * and the store's.  Answers are written by hand rather than with jansson,
 * to get Go's key order and Go's string escaping.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "alert/silences.h"
#include "common/timeutil.h"

/* Go's zero time.Time (0001-01-01T00:00:00Z): what an empty time string in
 * a request decodes to. */
#define GO_ZERO_TIME_MS (-62135596800000LL)
/* encoding/json refuses deeper nesting. */
#define GO_JSON_MAX_DEPTH 10000

typedef struct sil_rec {
    silence s;     /* strings and matcher array owned through s.storage_ */
    am_matchers m; /* s.matchers compiled */
} sil_rec;

struct silences {
    tsdb *db;
    int64_t retention_ms;
    pthread_rwlock_t lock;
    sil_rec **v; /* sorted by id */
    size_t n, cap;
    _Atomic uint64_t version;
};

/* ------------------------------------------------------------ silences as values */

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static am_match_type matcher_type(const silence_matcher *m) {
    if (m->is_regex) return m->is_equal ? AM_MATCH_RE : AM_MATCH_NRE;
    return m->is_equal ? AM_MATCH_EQ : AM_MATCH_NE;
}

const char *silence_state_name(silence_state st) {
    switch (st) {
    case SILENCE_ACTIVE: return "active";
    case SILENCE_PENDING: return "pending";
    case SILENCE_EXPIRED: return "expired";
    }
    return "unknown";
}

silence_state silence_state_at(const silence *sil, int64_t now_ms) {
    if (now_ms < sil->starts_at_ms) return SILENCE_PENDING;
    if (now_ms < sil->ends_at_ms) return SILENCE_ACTIVE;
    return SILENCE_EXPIRED;
}

/* Copies in into out with every string and the matcher array in one
 * allocation (out->storage_), so a copy is released with one free. */
static void silence_copy(silence *out, const silence *in) {
    const char *by = str_or_empty(in->created_by), *comment = str_or_empty(in->comment);
    size_t head = in->nmatchers * sizeof(silence_matcher);
    size_t size = head + strlen(by) + 1 + strlen(comment) + 1;
    for (size_t i = 0; i < in->nmatchers; i++)
        size += strlen(str_or_empty(in->matchers[i].name)) + 1 + strlen(str_or_empty(in->matchers[i].value)) + 1;
    char *block = xmalloc(size);
    silence_matcher *ms = (silence_matcher *)(void *)block;
    char *p = block + head;
#define COPY_STR(dst, src)                                                                                             \
    do {                                                                                                               \
        size_t l_ = strlen(src) + 1;                                                                                   \
        memcpy(p, (src), l_);                                                                                          \
        (dst) = p;                                                                                                     \
        p += l_;                                                                                                       \
    } while (0)
    for (size_t i = 0; i < in->nmatchers; i++) {
        COPY_STR(ms[i].name, str_or_empty(in->matchers[i].name));
        COPY_STR(ms[i].value, str_or_empty(in->matchers[i].value));
        ms[i].is_regex = in->matchers[i].is_regex != 0;
        ms[i].is_equal = in->matchers[i].is_equal != 0;
    }
    *out = *in;
    COPY_STR(out->created_by, by);
    COPY_STR(out->comment, comment);
#undef COPY_STR
    out->matchers = ms;
    out->storage_ = block;
}

void silence_free(silence *sil) {
    if (!sil) return;
    free(sil->storage_);
    memset(sil, 0, sizeof *sil);
}

void silences_list_free(silence *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].storage_);
    free(v);
}

void silence_ids_free(silence_ids *ids) {
    free(ids->v);
    am_match_scratch_free(&ids->scratch_);
    memset(ids, 0, sizeof *ids);
}

static void rec_free(sil_rec *r) {
    if (!r) return;
    am_matchers_free(&r->m);
    silence_free(&r->s);
    free(r);
}

/* A record owning a copy of sil, with its matchers compiled.  NULL with err
 * set when a pattern does not compile. */
static sil_rec *rec_new(const silence *sil, errbuf *err) {
    sil_rec *r = xcalloc(1, sizeof *r);
    silence_copy(&r->s, sil);
    for (size_t i = 0; i < sil->nmatchers; i++) {
        const silence_matcher *m = &r->s.matchers[i];
        if (am_matcher_add(&r->m, matcher_type(m), m->name, m->value, err)) {
            rec_free(r);
            return NULL;
        }
    }
    return r;
}

/* ------------------------------------------------------------ validation */

/* Appends a Go %q of a C string. */
static void quote_into(buf *b, const char *s) { am_go_quote(b, s, strlen(s)); }

/* Builds the record for sil after Alertmanager's validateSilence, with its
 * messages.  Returns 0 with *out set, or -1 with err set. */
static int rec_build_checked(const silence *sil, sil_rec **out, errbuf *err) {
    if (sil->nmatchers == 0) return errf(err, "silence invalid: at least one matcher required");
    for (size_t i = 0; i < sil->nmatchers; i++) {
        const silence_matcher *m = &sil->matchers[i];
        const char *name = str_or_empty(m->name), *value = str_or_empty(m->value);
        buf q = {0};
        int bad = 0;
        errbuf rerr;
        if (!label_name_valid(name, strlen(name))) {
            quote_into(&q, name);
            errf(err, "silence invalid: invalid label matcher %zu: invalid label name %.*s", i, (int)q.len,
                 (char *)q.data);
            bad = 1;
        } else if (!m->is_regex && !utf8_valid(value, strlen(value))) {
            quote_into(&q, value);
            errf(err, "silence invalid: invalid label matcher %zu: invalid label value %.*s", i, (int)q.len,
                 (char *)q.data);
            bad = 1;
        } else if (m->is_regex && am_regex_check(value, strlen(value), &rerr)) {
            quote_into(&q, value);
            errf(err, "silence invalid: invalid label matcher %zu: invalid regular expression %.*s: %s", i,
                 (int)q.len, (char *)q.data, rerr.msg);
            bad = 1;
        }
        buf_free(&q);
        if (bad) return -1;
    }
    /* Not Alertmanager's check (Go strings hold any bytes), but records are
     * JSON, and only UTF-8 goes into JSON. */
    if (!utf8_valid(str_or_empty(sil->comment), strlen(str_or_empty(sil->comment))))
        return errf(err, "silence invalid: comment is not valid UTF-8");
    if (!utf8_valid(str_or_empty(sil->created_by), strlen(str_or_empty(sil->created_by))))
        return errf(err, "silence invalid: createdBy is not valid UTF-8");
    errbuf cerr;
    sil_rec *r = rec_new(sil, &cerr);
    if (!r) return errf(err, "silence invalid: %s", cerr.msg);
    /* As Alertmanager's matchesEmpty: only = and =~ count; a != or !~
     * matcher never makes a silence "match everything". */
    int all_empty = 1;
    for (size_t i = 0; i < r->m.n && all_empty; i++) {
        const am_matcher *m = &r->m.v[i];
        if (m->type == AM_MATCH_EQ) all_empty = m->value_len == 0;
        else if (m->type == AM_MATCH_RE) all_empty = am_matcher_matches(m, "", 0);
        else all_empty = 0;
    }
    if (all_empty) {
        rec_free(r);
        return errf(err, "silence invalid: at least one matcher must not match the empty string");
    }
    if (sil->ends_at_ms < sil->starts_at_ms) {
        rec_free(r);
        return errf(err, "silence invalid: end time must not be before start time");
    }
    *out = r;
    return 0;
}

/* ------------------------------------------------------------ storage records */

/* The stored form: {"id","matchers":[{"name","value","isRegex","isEqual"}],
 * "startsAt","endsAt","updatedAt" (integer ms),"createdBy","comment"}.
 * Returns malloc'd text, or NULL when a string is not UTF-8. */
static char *record_json(const silence *sil) {
    json_t *ms = json_array();
    for (size_t i = 0; i < sil->nmatchers; i++) {
        const silence_matcher *m = &sil->matchers[i];
        json_t *o = json_pack("{s:s,s:s,s:b,s:b}", "name", m->name, "value", m->value, "isRegex", m->is_regex,
                              "isEqual", m->is_equal);
        if (!o) {
            json_decref(ms);
            return NULL;
        }
        json_array_append_new(ms, o);
    }
    json_t *o = json_pack("{s:s,s:o,s:I,s:I,s:I,s:s,s:s}", "id", sil->id, "matchers", ms, "startsAt",
                          (json_int_t)sil->starts_at_ms, "endsAt", (json_int_t)sil->ends_at_ms, "updatedAt",
                          (json_int_t)sil->updated_at_ms, "createdBy", sil->created_by, "comment", sil->comment);
    if (!o) return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* Writes puts (records to store) in one durable transaction. */
static int store_put(silences *s, sil_rec *const *puts, size_t n, errbuf *err) {
    tsdb_kv_change ch[2];
    char *text[2] = {NULL, NULL};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        text[i] = record_json(&puts[i]->s);
        if (!text[i]) {
            rc = errf(err, "silence %s cannot be encoded", puts[i]->s.id);
            goto done;
        }
        ch[i] = (tsdb_kv_change){SILENCES_KV_NAMESPACE, puts[i]->s.id, strlen(puts[i]->s.id), text[i], strlen(text[i])};
    }
    rc = tsdb_kv_write(s->db, ch, n, err);
done:
    for (size_t i = 0; i < n; i++) free(text[i]);
    return rc;
}

typedef struct {
    silences *s;
    errbuf *err;
    int failed;
} load_ctx;

/* Reads one stored record into the set (tsdb_kv_each callback). */
static int load_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    load_ctx *lc = ctx;
    json_error_t je;
    json_t *o = json_loadb(val, vlen, 0, &je);
    json_t *ms = NULL;
    const char *id = NULL, *by = NULL, *comment = NULL;
    json_int_t st = 0, en = 0, up = 0;
    if (!o || json_unpack_ex(o, &je, 0, "{s:s,s:o,s:I,s:I,s:I,s:s,s:s}", "id", &id, "matchers", &ms, "startsAt", &st,
                             "endsAt", &en, "updatedAt", &up, "createdBy", &by, "comment", &comment) ||
        !json_is_array(ms) || strlen(id) != klen || memcmp(id, key, klen) != 0 || klen > 36) {
        const char *why = !o ? "not JSON" : je.text[0] ? je.text : "its id is not its key";
        errf(lc->err, "silence record %.*s: not a silence record: %s", (int)(klen > 64 ? 64 : klen),
             (const char *)key, why);
        json_decref(o);
        lc->failed = 1;
        return 1;
    }
    size_t n = json_array_size(ms);
    silence_matcher *mv = xcalloc(n ? n : 1, sizeof *mv);
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        int re = 0, eq = 0;
        if (json_unpack_ex(json_array_get(ms, i), &je, 0, "{s:s,s:s,s:b,s:b}", "name", &mv[i].name, "value",
                           &mv[i].value, "isRegex", &re, "isEqual", &eq))
            bad = 1;
        mv[i].is_regex = re;
        mv[i].is_equal = eq;
    }
    silence sil = {.matchers = mv, .nmatchers = n, .starts_at_ms = st, .ends_at_ms = en, .updated_at_ms = up,
                   .created_by = by, .comment = comment};
    memcpy(sil.id, id, klen);
    sil.id[klen] = 0;
    errbuf cerr;
    sil_rec *r = bad ? NULL : rec_new(&sil, &cerr);
    free(mv);
    json_decref(o);
    if (!r) {
        errf(lc->err, "silence record %s: %s", sil.id, bad ? je.text : cerr.msg);
        lc->failed = 1;
        return 1;
    }
    /* Keys arrive in order, so appending keeps the array sorted. */
    if (lc->s->n == lc->s->cap) {
        lc->s->cap = lc->s->cap ? lc->s->cap * 2 : 16;
        lc->s->v = xrealloc(lc->s->v, lc->s->cap * sizeof *lc->s->v);
    }
    lc->s->v[lc->s->n++] = r;
    return 0;
}

/* ------------------------------------------------------------ the set */

/* Loads every record; any unreadable one fails the open, so a damaged
 * record is reported instead of silently unsilencing its alerts. */
int silences_open(const silences_options *o, silences **out, errbuf *err) {
    silences *s = xcalloc(1, sizeof *s);
    s->db = o->db;
    s->retention_ms = o->retention_ms > 0 ? o->retention_ms : SILENCES_DEFAULT_RETENTION_MS;
    if (pthread_rwlock_init(&s->lock, NULL)) {
        free(s);
        return errf(err, "silences: cannot create a lock");
    }
    atomic_init(&s->version, 1);
    load_ctx lc = {s, err, 0};
    if (tsdb_kv_each(s->db, SILENCES_KV_NAMESPACE, load_one, &lc, err) || lc.failed) {
        silences_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void silences_close(silences *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) rec_free(s->v[i]);
    free(s->v);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

uint64_t silences_version(silences *s) { return atomic_load(&s->version); }

/* Index of the first record whose id is >= id. */
static size_t rec_lower_bound(const silences *s, const char *id) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->v[mid]->s.id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static long rec_find(const silences *s, const char *id) {
    size_t i = rec_lower_bound(s, id);
    return i < s->n && strcmp(s->v[i]->s.id, id) == 0 ? (long)i : -1;
}

/* Inserts a record at its place in id order. */
static void rec_insert(silences *s, sil_rec *r) {
    size_t i = rec_lower_bound(s, r->s.id);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
    s->v[i] = r;
    s->n++;
}

/* A version 4 UUID from the kernel's random source, not yet in use. */
static int new_id(const silences *s, char out[37], errbuf *err) {
    do {
        unsigned char b[16];
        size_t got = 0;
        while (got < sizeof b) {
            ssize_t n = getrandom(b + got, sizeof b - got, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return errf(err, "generate uuid: getrandom: %s", strerror(errno));
            got += (size_t)n;
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    } while (rec_find(s, out) >= 0);
    return 0;
}

/* The silence as Expire leaves it at now: an active one ends now, a
 * pending one starts and ends now. */
static void expired_at(silence *sil, int64_t now_ms) {
    if (silence_state_at(sil, now_ms) == SILENCE_PENDING) sil->starts_at_ms = now_ms;
    sil->ends_at_ms = now_ms;
    sil->updated_at_ms = now_ms;
}

/* Go's time.Unix(): whole seconds, rounded down. */
static int64_t unix_seconds(int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); }

/* Alertmanager's canUpdate: whether b may replace a in place without
 * rewriting what a silenced in the past. */
static int can_update(const silence *a, const silence *b, int64_t now_ms) {
    if (a->nmatchers != b->nmatchers) return 0;
    for (size_t i = 0; i < a->nmatchers; i++) {
        const silence_matcher *x = &a->matchers[i], *y = &b->matchers[i];
        if (matcher_type(x) != matcher_type(y) || strcmp(x->name, str_or_empty(y->name)) ||
            strcmp(x->value, str_or_empty(y->value)))
            return 0;
    }
    switch (silence_state_at(a, now_ms)) {
    case SILENCE_ACTIVE: return unix_seconds(b->starts_at_ms) == unix_seconds(a->starts_at_ms) && b->ends_at_ms >= now_ms;
    case SILENCE_PENDING: return b->starts_at_ms >= now_ms;
    case SILENCE_EXPIRED: return 0;
    }
    return 0;
}

/* silences_set with the write lock held. */
static int set_locked(silences *s, const silence *in, int64_t now_ms, char id_out[37], errbuf *err) {
    long idx = -1;
    if (in->id[0]) {
        idx = rec_find(s, in->id);
        if (idx < 0) {
            errf(err, "silence not found");
            return SILENCES_NOT_FOUND;
        }
    }
    sil_rec *prev = idx >= 0 ? s->v[idx] : NULL;
    silence next = *in;
    next.updated_at_ms = now_ms;
    next.storage_ = NULL;
    int in_place = prev && can_update(&prev->s, in, now_ms);
    if (!in_place) {
        if (new_id(s, next.id, err)) return SILENCES_STORAGE;
        if (next.starts_at_ms < now_ms) next.starts_at_ms = now_ms;
    }
    sil_rec *fresh = NULL, *old_end = NULL;
    if (rec_build_checked(&next, &fresh, err)) return SILENCES_INVALID;
    if (prev && !in_place && silence_state_at(&prev->s, now_ms) != SILENCE_EXPIRED) {
        silence e = prev->s;
        expired_at(&e, now_ms);
        old_end = rec_new(&e, err); /* prev's matchers compiled before: cannot fail */
        if (!old_end) {
            rec_free(fresh);
            return SILENCES_INVALID;
        }
    }
    sil_rec *puts[2];
    size_t nputs = 0;
    if (old_end) puts[nputs++] = old_end;
    puts[nputs++] = fresh;
    if (store_put(s, puts, nputs, err)) {
        rec_free(fresh);
        rec_free(old_end);
        return SILENCES_STORAGE;
    }
    if (in_place) {
        s->v[idx] = fresh;
        rec_free(prev);
    } else {
        if (old_end) {
            s->v[idx] = old_end;
            rec_free(prev);
        }
        rec_insert(s, fresh);
    }
    memcpy(id_out, fresh->s.id, 37);
    atomic_fetch_add(&s->version, 1);
    return 0;
}

int silences_set(silences *s, const silence *in, int64_t now_ms, char id_out[37], errbuf *err) {
    pthread_rwlock_wrlock(&s->lock);
    int rc = set_locked(s, in, now_ms, id_out, err);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* Writes the expired copy first, then swaps it in. */
int silences_expire(silences *s, const char *id, int64_t now_ms, errbuf *err) {
    pthread_rwlock_wrlock(&s->lock);
    int rc = 0;
    long idx = rec_find(s, id);
    if (idx < 0) {
        errf(err, "silence not found");
        rc = SILENCES_NOT_FOUND;
    } else if (silence_state_at(&s->v[idx]->s, now_ms) != SILENCE_EXPIRED) {
        silence e = s->v[idx]->s;
        expired_at(&e, now_ms);
        sil_rec *r = rec_new(&e, err);
        if (!r || store_put(s, &r, 1, err)) {
            rec_free(r);
            rc = SILENCES_STORAGE;
        } else {
            rec_free(s->v[idx]);
            s->v[idx] = r;
            atomic_fetch_add(&s->version, 1);
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int silences_get(silences *s, const char *id, silence *out) {
    pthread_rwlock_rdlock(&s->lock);
    long idx = rec_find(s, id);
    if (idx >= 0) silence_copy(out, &s->v[idx]->s);
    pthread_rwlock_unlock(&s->lock);
    return idx >= 0;
}

/* Alertmanager's CheckSilenceMatchesFilterLabels: every filter matcher
 * equals (name, type, value) one of the silence's matchers. */
static int passes_filter(const sil_rec *r, const am_matchers *filter) {
    for (size_t i = 0; filter && i < filter->n; i++) {
        const am_matcher *f = &filter->v[i];
        int found = 0;
        for (size_t j = 0; j < r->m.n && !found; j++) {
            const am_matcher *m = &r->m.v[j];
            found = m->type == f->type && m->name_len == f->name_len && m->value_len == f->value_len &&
                    memcmp(m->name, f->name, f->name_len) == 0 && memcmp(m->value, f->value, f->value_len) == 0;
        }
        if (!found) return 0;
    }
    return 1;
}

typedef struct {
    silence_state st;
    silence s;
} listed;

/* Alertmanager's SortSilences, made total by the id. */
static int listed_cmp(const void *pa, const void *pb) {
    const listed *a = pa, *b = pb;
    if (a->st != b->st) return a->st < b->st ? -1 : 1;
    int64_t x, y;
    switch (a->st) {
    case SILENCE_ACTIVE: x = a->s.ends_at_ms, y = b->s.ends_at_ms; break;
    case SILENCE_PENDING: x = a->s.starts_at_ms, y = b->s.starts_at_ms; break;
    default: x = b->s.ends_at_ms, y = a->s.ends_at_ms; break;
    }
    if (x != y) return x < y ? -1 : 1;
    return strcmp(a->s.id, b->s.id);
}

/* Copies under the shared lock, sorts after releasing it. */
void silences_list(silences *s, const am_matchers *filter, int64_t now_ms, silence **out, size_t *n) {
    pthread_rwlock_rdlock(&s->lock);
    listed *l = xmalloc((s->n ? s->n : 1) * sizeof *l);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!passes_filter(s->v[i], filter)) continue;
        l[k].st = silence_state_at(&s->v[i]->s, now_ms);
        silence_copy(&l[k].s, &s->v[i]->s);
        k++;
    }
    pthread_rwlock_unlock(&s->lock);
    qsort(l, k, sizeof *l, listed_cmp);
    silence *v = k ? xmalloc(k * sizeof *v) : NULL;
    for (size_t i = 0; i < k; i++) v[i] = l[i].s;
    free(l);
    *out = v;
    *n = k;
}

/* Deletes in one transaction, then drops the same records from memory;
 * when the write fails memory keeps them all. */
long silences_gc(silences *s, int64_t now_ms, errbuf *err) {
    pthread_rwlock_wrlock(&s->lock);
    size_t ndel = 0;
    tsdb_kv_change *ch = xmalloc((s->n ? s->n : 1) * sizeof *ch);
    for (size_t i = 0; i < s->n; i++) {
        const silence *sil = &s->v[i]->s;
        if (sil->ends_at_ms <= now_ms - s->retention_ms)
            ch[ndel++] = (tsdb_kv_change){SILENCES_KV_NAMESPACE, sil->id, strlen(sil->id), NULL, 0};
    }
    long rc = (long)ndel;
    if (ndel && tsdb_kv_write(s->db, ch, ndel, err)) {
        rc = -1;
    } else if (ndel) {
        size_t w = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->s.ends_at_ms <= now_ms - s->retention_ms) rec_free(s->v[i]);
            else s->v[w++] = s->v[i];
        }
        s->n = w;
        atomic_fetch_add(&s->version, 1);
    }
    free(ch);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* One pass: the state first (two comparisons), the matchers only for
 * silences that are not expired; pending ones only bound the cache hint. */
size_t silences_mutes(silences *s, const label *ls, size_t n, int64_t now_ms, silence_ids *out, int64_t *until_ms) {
    int64_t until = INT64_MAX;
    out->n = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        const sil_rec *r = s->v[i];
        silence_state st = silence_state_at(&r->s, now_ms);
        if (st == SILENCE_EXPIRED || !am_matchers_match_with(&r->m, ls, n, &out->scratch_)) continue;
        if (st == SILENCE_PENDING) {
            if (r->s.starts_at_ms < until) until = r->s.starts_at_ms;
            continue;
        }
        if (r->s.ends_at_ms < until) until = r->s.ends_at_ms;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 4;
            out->v = xrealloc(out->v, out->cap * sizeof *out->v);
        }
        memcpy(out->v[out->n++], r->s.id, 37); /* records are sorted by id, so ids come out sorted */
    }
    pthread_rwlock_unlock(&s->lock);
    if (until_ms) *until_ms = until;
    return out->n;
}

void silences_count(silences *s, int64_t now_ms, size_t counts[3]) {
    counts[0] = counts[1] = counts[2] = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) counts[silence_state_at(&s->v[i]->s, now_ms)]++;
    pthread_rwlock_unlock(&s->lock);
}

/* ------------------------------------------------------------ JSON as Go writes it */

/* Length of the valid UTF-8 sequence at p, 0 if there is none. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    size_t l = p[0] < 0x80 ? 1 : p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (l == 0 || (size_t)(end - p) < l || !utf8_valid((const char *)p, l)) return 0;
    return l;
}

/* A JSON string as encoding/json writes it: control characters as \u00XX
 * (except \n \r \t), U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd,
 * and with html set (json.Marshal's default) <, > and & as \u003c ... */
static void go_json_string(buf *b, const char *s, size_t n, int html) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_append(b, "\"", 1);
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && !(html && (c == '<' || c == '>' || c == '&'))) {
                buf_append(b, p, 1);
            } else if (c == '"' || c == '\\') {
                char e[2] = {'\\', (char)c};
                buf_append(b, e, 2);
            } else if (c == '\n') {
                buf_append(b, "\\n", 2);
            } else if (c == '\r') {
                buf_append(b, "\\r", 2);
            } else if (c == '\t') {
                buf_append(b, "\\t", 2);
            } else {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, 6);
            }
            p++;
            continue;
        }
        size_t l = utf8_seq(p, end);
        if (l == 0) {
            buf_append(b, "\\ufffd", 6);
            p++;
        } else if (l == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
            buf_append(b, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
            p += 3;
        } else {
            buf_append(b, p, l);
            p += l;
        }
    }
    buf_append(b, "\"", 1);
}

static void json_str(buf *b, const char *s) { go_json_string(b, s, strlen(s), 1); }

static void json_time(buf *b, int64_t ms) {
    char t[64];
    format_time(ms, t, sizeof t);
    buf_printf(b, "\"%s\"", t);
}

/* Keys in go-swagger's order: GettableSilence's own fields, then the
 * embedded Silence's, each group alphabetical. */
void silence_write_json(const silence *sil, int64_t now_ms, buf *out) {
    buf_append(out, "{\"id\":", 6);
    json_str(out, sil->id);
    buf_printf(out, ",\"status\":{\"state\":\"%s\"},\"updatedAt\":", silence_state_name(silence_state_at(sil, now_ms)));
    json_time(out, sil->updated_at_ms);
    buf_append(out, ",\"comment\":", 11);
    json_str(out, str_or_empty(sil->comment));
    buf_append(out, ",\"createdBy\":", 13);
    json_str(out, str_or_empty(sil->created_by));
    buf_append(out, ",\"endsAt\":", 10);
    json_time(out, sil->ends_at_ms);
    buf_append(out, ",\"matchers\":[", 13);
    for (size_t i = 0; i < sil->nmatchers; i++) {
        const silence_matcher *m = &sil->matchers[i];
        buf_printf(out, "%s{\"isEqual\":%s,\"isRegex\":%s,\"name\":", i ? "," : "", m->is_equal ? "true" : "false",
                   m->is_regex ? "true" : "false");
        json_str(out, str_or_empty(m->name));
        buf_append(out, ",\"value\":", 9);
        json_str(out, str_or_empty(m->value));
        buf_append(out, "}", 1);
    }
    buf_append(out, "],\"startsAt\":", 13);
    json_time(out, sil->starts_at_ms);
    buf_append(out, "}", 1);
}

/* ------------------------------------------------------------ answers */

/* b's text as a C string (a NUL is kept after the end, not counted). */
static const char *buf_cstr(buf *b) {
    buf_append(b, "", 1);
    b->len--;
    return (const char *)b->data;
}

/* go-swagger's error body: {"code":N,"message":"..."}, no newline. */
static unsigned answer_code(buf *out, unsigned status, int code, const char *msg) {
    buf_printf(out, "{\"code\":%d,\"message\":", code);
    go_json_string(out, msg, strlen(msg), 1);
    buf_append(out, "}", 1);
    return status;
}

/* A handler's error payload: a JSON string and a newline. */
static unsigned answer_string(buf *out, unsigned status, const char *msg) {
    go_json_string(out, msg, strlen(msg), 0);
    buf_append(out, "\n", 1);
    return status;
}

static unsigned parse_failure(buf *out, const char *reason) {
    buf m = {0};
    buf_printf(&m, "parsing silence body from \"\" failed, because %s", reason);
    unsigned st = answer_code(out, 400, 400, buf_cstr(&m));
    buf_free(&m);
    return st;
}

/* ------------------------------------------------------------ Go's JSON scanner */

/* encoding/json's quoteChar, for its messages: 'x', '\'', '"', '\x01'. */
static void go_quote_char(char *out, size_t cap, unsigned char c) {
    if (c == '\'') {
        snprintf(out, cap, "'\\''");
    } else if (c == '"') {
        snprintf(out, cap, "'\"'");
    } else if (c == '\\') {
        snprintf(out, cap, "'\\\\'");
    } else if (c >= 0x20 && c < 0x7F) {
        snprintf(out, cap, "'%c'", c);
    } else if (c < 0x80) {
        const char *e = c == '\a' ? "\\a" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\v' ? "\\v" : NULL;
        if (e) snprintf(out, cap, "'%s'", e);
        else snprintf(out, cap, "'\\x%02x'", c);
    } else if (c < 0xA1 || c == 0xAD) {
        snprintf(out, cap, "'\\u%04x'", c); /* a Latin-1 control or space: not printable */
    } else {
        snprintf(out, cap, "'%c%c'", (char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F)));
    }
}

static int json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int scan_fail(errbuf *err, unsigned char c, const char *context) {
    char q[16];
    go_quote_char(q, sizeof q, c);
    return errf(err, "invalid character %s %s", q, context);
}

/* Scans a string at s[*i] (the opening quote). */
static int scan_string(const char *s, size_t n, size_t *i, errbuf *err) {
    size_t k = *i + 1;
    for (;;) {
        if (k >= n) return errf(err, "unexpected EOF");
        unsigned char c = (unsigned char)s[k];
        if (c == '"') break;
        if (c == '\\') {
            if (++k >= n) return errf(err, "unexpected EOF");
            c = (unsigned char)s[k];
            if (c == 'u') {
                for (int j = 0; j < 4; j++) {
                    if (++k >= n) return errf(err, "unexpected EOF");
                    char h = s[k];
                    if (!is_digit(h) && !((h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return scan_fail(err, (unsigned char)h, "in \\u hexadecimal character escape");
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return scan_fail(err, c, "in string escape code");
            }
        } else if (c < 0x20) {
            return scan_fail(err, c, "in string literal");
        }
        k++;
    }
    *i = k + 1;
    return 0;
}

/* Scans a number at s[*i]. */
static int scan_number(const char *s, size_t n, size_t *i, errbuf *err) {
    size_t k = *i;
    if (s[k] == '-') {
        if (++k >= n) return errf(err, "unexpected EOF");
        if (!is_digit(s[k])) return scan_fail(err, (unsigned char)s[k], "in numeric literal");
    }
    if (s[k] == '0') k++;
    else
        while (k < n && is_digit(s[k])) k++;
    if (k < n && s[k] == '.') {
        if (++k >= n) return errf(err, "unexpected EOF");
        if (!is_digit(s[k])) return scan_fail(err, (unsigned char)s[k], "after decimal point in numeric literal");
        while (k < n && is_digit(s[k])) k++;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k >= n) return errf(err, "unexpected EOF");
        if (!is_digit(s[k])) return scan_fail(err, (unsigned char)s[k], "in exponent of numeric literal");
        while (k < n && is_digit(s[k])) k++;
    }
    *i = k;
    return 0;
}

/* Scans true, false or null at s[*i], naming the letter Go expected. */
static int scan_literal(const char *s, size_t n, size_t *i, errbuf *err) {
    const char *word = s[*i] == 't' ? "true" : s[*i] == 'f' ? "false" : "null";
    size_t k = *i + 1;
    for (const char *w = word + 1; *w; w++, k++) {
        if (k >= n) return errf(err, "unexpected EOF");
        if (s[k] != *w) {
            char ctx[48];
            snprintf(ctx, sizeof ctx, "in literal %s (expecting '%c')", word, *w);
            return scan_fail(err, (unsigned char)s[k], ctx);
        }
    }
    *i = k;
    return 0;
}

/* Checks the first JSON value of s[0..n) as encoding/json's Decoder reads
 * it (what follows the value is not looked at).  Returns 0 with *end just
 * past the value, or -1 with Go's message. */
static int go_json_scan(const char *s, size_t n, size_t *end, errbuf *err) {
    enum { VALUE, OBJ_FIRST, OBJ_KEY, COLON, ARR_FIRST, AFTER } st = VALUE;
    char *stack = NULL;
    size_t depth = 0, cap = 0, i = 0;
    int rc = -1;
    for (;;) {
        if (st == AFTER && depth == 0) {
            *end = i;
            rc = 0;
            break;
        }
        while (i < n && json_ws(s[i])) i++;
        if (i >= n) {
            errf(err, "unexpected EOF");
            break;
        }
        char c = s[i];
        if (st == OBJ_FIRST || st == ARR_FIRST) {
            if (c == (st == OBJ_FIRST ? '}' : ']')) {
                depth--;
                i++;
                st = AFTER;
                continue;
            }
            st = st == OBJ_FIRST ? OBJ_KEY : VALUE;
        }
        if (st == VALUE) {
            if (c == '{' || c == '[') {
                if (depth >= GO_JSON_MAX_DEPTH) {
                    scan_fail(err, (unsigned char)c, "exceeded max depth");
                    break;
                }
                if (depth == cap) {
                    cap = cap ? cap * 2 : 16;
                    stack = xrealloc(stack, cap);
                }
                stack[depth++] = c;
                i++;
                st = c == '{' ? OBJ_FIRST : ARR_FIRST;
                continue;
            }
            int r;
            if (c == '"') r = scan_string(s, n, &i, err);
            else if (c == '-' || is_digit(c)) r = scan_number(s, n, &i, err);
            else if (c == 't' || c == 'f' || c == 'n') r = scan_literal(s, n, &i, err);
            else r = scan_fail(err, (unsigned char)c, "looking for beginning of value");
            if (r) break;
            st = AFTER;
        } else if (st == OBJ_KEY) {
            if (c != '"') {
                scan_fail(err, (unsigned char)c, "looking for beginning of object key string");
                break;
            }
            if (scan_string(s, n, &i, err)) break;
            st = COLON;
        } else if (st == COLON) {
            if (c != ':') {
                scan_fail(err, (unsigned char)c, "after object key");
                break;
            }
            i++;
            st = VALUE;
        } else { /* AFTER, inside a container */
            int obj = stack[depth - 1] == '{';
            if (c == ',') {
                st = obj ? OBJ_KEY : VALUE;
                i++;
            } else if (c == (obj ? '}' : ']')) {
                depth--;
                i++;
            } else {
                scan_fail(err, (unsigned char)c, obj ? "after object key:value pair" : "after array element");
                break;
            }
        }
    }
    free(stack);
    return rc;
}

/* Rewrites a JSON value that go_json_scan accepted into text jansson reads
 * the way encoding/json decodes it: bytes that are not UTF-8 and \u escapes
 * of lone surrogates become U+FFFD (Go replaces them, jansson refuses
 * them), and every number becomes 0 (no field here takes a number, only
 * its kind matters for messages, and jansson refuses numbers beyond double
 * or int64 range that Go would skip). */
static char *json_normalise(const char *s, size_t n, size_t *out_len) {
    buf b = {0};
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            buf_append(&b, "\"", 1);
            i++;
            while (s[i] != '"') {
                if (s[i] == '\\' && s[i + 1] == 'u') {
                    unsigned cp = (unsigned)strtoul((char[5]){s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0}, NULL, 16);
                    size_t take = 6;
                    if (cp >= 0xD800 && cp <= 0xDBFF && i + 11 < n && s[i + 6] == '\\' && s[i + 7] == 'u') {
                        unsigned lo =
                            (unsigned)strtoul((char[5]){s[i + 8], s[i + 9], s[i + 10], s[i + 11], 0}, NULL, 16);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) take = 12;
                    }
                    if (take == 6 && cp >= 0xD800 && cp <= 0xDFFF) buf_append(&b, "\\ufffd", 6);
                    else buf_append(&b, s + i, take);
                    i += take;
                } else if (s[i] == '\\') {
                    buf_append(&b, s + i, 2);
                    i += 2;
                } else {
                    size_t l = utf8_seq((const unsigned char *)s + i, (const unsigned char *)s + n);
                    if (l) buf_append(&b, s + i, l);
                    else buf_append(&b, "\xEF\xBF\xBD", 3);
                    i += l ? l : 1;
                }
            }
            buf_append(&b, "\"", 1);
            i++;
        } else if (c == '-' || is_digit(c)) {
            while (i < n && (is_digit(s[i]) || strchr("+-.eE", s[i]))) i++;
            buf_append(&b, "0", 1);
        } else {
            buf_append(&b, &c, 1);
            i++;
        }
    }
    *out_len = b.len;
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* ------------------------------------------------------------ times as strfmt reads them */

static int days_in_month(long y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

/* Reads exactly n decimal digits at p (stops at the NUL of a short string). */
static int digits_at(const char *p, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) return 0;
        *v = *v * 10 + (p[i] - '0');
    }
    return 1;
}

/* Go's time.quote, used in time parse errors: non-ASCII bytes as \x.. */
static void time_quote(buf *b, const char *s) {
    buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || *p < 0x20) buf_printf(b, "\\x%02x", *p);
        else if (*p == '"' || *p == '\\') buf_printf(b, "\\%c", *p);
        else buf_append(b, p, 1);
    }
    buf_append(b, "\"", 1);
}

/* The error Go's time.Parse gives for s with layout "2006-01-02 15:04:05",
 * the last layout strfmt.ParseDateTime tries (so the one it reports). */
static void go_time_error(const char *s, buf *msg) {
    static const char layout[] = "2006-01-02 15:04:05";
    const char *v = s;
    int year = 0, month = 0, day = 0, x;
    const char *elem = NULL, *range = NULL;
    /* element by element: 2006 - 01 - 02 ' ' 15 : 04 : 05 */
    if (strlen(v) < 4 || !digits_at(v, 4, &year)) {
        elem = "2006";
        goto bad;
    }
    v += 4;
    if (*v != '-') { elem = "-"; goto bad; }
    v++;
    if (!digits_at(v, 2, &month)) { elem = "01"; goto bad; }
    v += 2;
    if (month < 1 || month > 12) { range = "month"; goto out_of_range; }
    if (*v != '-') { elem = "-"; goto bad; }
    v++;
    if (!digits_at(v, 2, &day)) { elem = "02"; goto bad; }
    v += 2;
    /* a space in a layout matches any run of spaces, even none at the end */
    if (*v && *v != ' ') { elem = " "; goto bad; }
    while (*v == ' ') v++;
    if (!is_digit(v[0])) { elem = "15"; goto bad; }
    x = v[0] - '0';
    v++;
    if (is_digit(v[0])) x = x * 10 + (*v++ - '0');
    if (x >= 24) { range = "hour"; goto out_of_range; }
    if (*v != ':') { elem = ":"; goto bad; }
    v++;
    if (!digits_at(v, 2, &x)) { elem = "04"; goto bad; }
    v += 2;
    if (x >= 60) { range = "minute"; goto out_of_range; }
    if (*v != ':') { elem = ":"; goto bad; }
    v++;
    if (!digits_at(v, 2, &x)) { elem = "05"; goto bad; }
    v += 2;
    if (x >= 60) { range = "second"; goto out_of_range; }
    if ((v[0] == '.' || v[0] == ',') && is_digit(v[1]))
        for (v++; is_digit(*v); v++) {}
    buf_append(msg, "parsing time ", 13);
    time_quote(msg, s);
    if (*v) {
        buf_append(msg, ": extra text: ", 14);
        time_quote(msg, v);
    } else if (day < 1 || day > days_in_month(year, month)) {
        buf_append(msg, ": day out of range", 18);
    } else {
        buf_append(msg, ": cannot parse", 14); /* accepted by this layout: not reached */
    }
    return;
out_of_range:
    buf_append(msg, "parsing time ", 13);
    time_quote(msg, s);
    buf_printf(msg, ": %s out of range", range);
    return;
bad:
    buf_append(msg, "parsing time ", 13);
    time_quote(msg, s);
    buf_append(msg, " as ", 4);
    time_quote(msg, layout);
    buf_append(msg, ": cannot parse ", 15);
    time_quote(msg, v);
    buf_append(msg, " as ", 4);
    time_quote(msg, elem);
}

/* Parses a time as go-openapi's strfmt.DateTime accepts it: RFC 3339 with
 * or without a fraction, with "Z", "+07:00" or "+0700", or without a zone
 * (UTC); "2006-01-02T15:04" with or without "Z"; "2006-01-02 15:04:05";
 * and "" for Go's zero time.  Returns 0, or -1 with Go's message in msg. */
static int go_parse_datetime(const char *s, int64_t *ms, buf *msg) {
    if (!*s) {
        *ms = GO_ZERO_TIME_MS;
        return 0;
    }
    const char *p = s;
    int y, mo, d, h, mi, se = 0;
    char canon[128], frac[16] = "";
    char zone[32] = "Z";
    if (!digits_at(p, 4, &y) || p[4] != '-' || !digits_at(p + 5, 2, &mo) || p[7] != '-' || !digits_at(p + 8, 2, &d))
        goto bad;
    char sep = p[10];
    p += 11;
    if (sep == ' ')
        while (*p == ' ') p++;
    /* the hour may have one digit ("15" in a Go layout), the rest two */
    if ((sep != 'T' && sep != ' ') || !is_digit(*p)) goto bad;
    h = *p++ - '0';
    if (is_digit(*p)) h = h * 10 + (*p++ - '0');
    if (*p != ':' || !digits_at(p + 1, 2, &mi)) goto bad;
    p += 3;
    int have_seconds = 0;
    if (*p == ':') {
        if (!digits_at(p + 1, 2, &se)) goto bad;
        p += 3;
        have_seconds = 1;
        if ((*p == '.' || *p == ',') && is_digit(p[1])) {
            size_t k = 0;
            for (p++; is_digit(*p); p++)
                if (k < 9) frac[k++] = *p;
            frac[k] = 0;
        }
    }
    if (sep == ' ' && (!have_seconds || *p)) goto bad;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && have_seconds) {
        int zh, zm;
        const char *z = p + 1;
        if (!digits_at(z, 2, &zh)) goto bad;
        z += 2;
        if (*z == ':') z++;
        if (!digits_at(z, 2, &zm) || zh > 23 || zm > 59) goto bad;
        snprintf(zone, sizeof zone, "%c%02d:%02d", *p, zh, zm);
        p = z + 2;
    }
    if (*p) goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59) goto bad;
    snprintf(canon, sizeof canon, "%04d-%02d-%02dT%02d:%02d:%02d%s%s%s", y, mo, d, h, mi, se, frac[0] ? "." : "", frac,
             zone);
    if (parse_time(canon, ms)) goto bad;
    return 0;
bad:
    go_time_error(s, msg);
    return -1;
}

/* ------------------------------------------------------------ PostableSilence */

typedef struct {
    const char *id;          /* NULL: absent */
    const char *comment;     /* NULL: absent */
    const char *created_by;  /* NULL: absent */
    int has_starts, has_ends;
    int64_t starts, ends;
    const json_t *matchers;  /* NULL: absent, else an array */
} postable;

/* Go's name for what a JSON value is, in unmarshal errors. */
static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_NULL: return "null";
    default: return "number";
    }
}

/* Records the first type error, as encoding/json keeps the first one and
 * goes on decoding. */
static void type_error(buf *saved, const json_t *v, const char *field, const char *gotype) {
    if (saved->len) return;
    buf_printf(saved, "json: cannot unmarshal %s into Go struct field %s of type %s", json_kind(v), field, gotype);
}

/* The value of the last member whose name matches field case-insensitively
 * (encoding/json's rule), or NULL. */
static const json_t *fold_get(const json_t *obj, const char *field) {
    const char *k;
    json_t *v, *found = NULL;
    json_object_foreach((json_t *)obj, k, v)
        if (strcasecmp(k, field) == 0) found = v;
    return found;
}

/* Whether a decoded string holds U+0000, which C strings cannot carry. */
static int has_nul(const json_t *v) { return json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v); }

/* Refuses a body whose strings promlite would store truncated.  Go keeps
 * U+0000 in strings; promlite's records are C strings, so it says so
 * instead of storing something else. */
static unsigned check_nul(const json_t *doc, buf *out) {
    static const char *const fields[] = {"id", "comment", "createdBy", "startsAt", "endsAt"};
    int bad = 0;
    for (size_t i = 0; i < 5 && !bad; i++) bad = has_nul(fold_get(doc, fields[i]));
    const json_t *ms = fold_get(doc, "matchers");
    for (size_t i = 0; json_is_array(ms) && i < json_array_size(ms) && !bad; i++) {
        const json_t *e = json_array_get(ms, i);
        bad = json_is_object(e) && (has_nul(fold_get(e, "name")) || has_nul(fold_get(e, "value")));
    }
    return bad ? parse_failure(out, "a string holds the character U+0000, which promlite does not store") : 0;
}

/* Decodes body into p as Alertmanager's generated server code does,
 * checking types (not yet required fields).  Returns 0, or the HTTP status
 * with the answer in out.  *root holds the parsed document on return. */
static unsigned decode_postable(const char *body, size_t len, json_t **root, postable *p, buf *out) {
    memset(p, 0, sizeof *p);
    *root = NULL;
    size_t k = 0;
    while (k < len && json_ws(body[k])) k++;
    if (k == len) return answer_code(out, 422, 602, "silence in body is required");
    errbuf err;
    size_t end;
    if (go_json_scan(body, len, &end, &err)) return parse_failure(out, err.msg);
    json_error_t je;
    size_t clean_len;
    char *clean = json_normalise(body, end, &clean_len);
    json_t *doc = json_loadb(clean, clean_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    free(clean);
    if (!doc) return parse_failure(out, je.text); /* deeper than jansson goes */
    *root = doc;
    if (json_is_null(doc)) return 0;
    if (json_is_object(doc)) {
        unsigned st = check_nul(doc, out);
        if (st) return st;
    }
    if (!json_is_object(doc)) {
        /* the generated code decodes the id into an anonymous struct first */
        buf m = {0};
        buf_printf(&m, "json: cannot unmarshal %s into Go value of type struct { ID string \"json:\\\"id,omitempty\\\"\" }",
                   json_kind(doc));
        unsigned st = parse_failure(out, buf_cstr(&m));
        buf_free(&m);
        return st;
    }
    const char *key;
    json_t *v;
    buf saved = {0};
    unsigned st = 0;
    /* PostableSilence reads its id first, on its own. */
    json_object_foreach(doc, key, v) {
        if (strcasecmp(key, "id")) continue;
        if (json_is_string(v)) p->id = json_string_value(v);
        else if (!json_is_null(v)) type_error(&saved, v, ".id", "string");
    }
    if (saved.len) goto saved_error;
    json_object_foreach(doc, key, v) {
        if (!strcasecmp(key, "comment") || !strcasecmp(key, "createdBy")) {
            const char **dst = !strcasecmp(key, "comment") ? &p->comment : &p->created_by;
            if (json_is_string(v)) *dst = json_string_value(v);
            else if (json_is_null(v)) *dst = NULL;
            else type_error(&saved, v, !strcasecmp(key, "comment") ? "Silence.comment" : "Silence.createdBy", "string");
        } else if (!strcasecmp(key, "startsAt") || !strcasecmp(key, "endsAt")) {
            int starts = !strcasecmp(key, "startsAt");
            if (json_is_null(v)) {
                *(starts ? &p->has_starts : &p->has_ends) = 0;
            } else if (!json_is_string(v)) {
                /* strfmt.DateTime's own decoder stops the whole decoding */
                buf m = {0};
                buf_printf(&m, "json: cannot unmarshal %s into Go struct field Silence.%s of type string",
                           json_kind(v), starts ? "startsAt" : "endsAt");
                st = parse_failure(out, buf_cstr(&m));
                buf_free(&m);
                goto done;
            } else {
                buf m = {0};
                int64_t t;
                if (go_parse_datetime(json_string_value(v), &t, &m)) {
                    st = parse_failure(out, buf_cstr(&m));
                    buf_free(&m);
                    goto done;
                }
                buf_free(&m);
                *(starts ? &p->starts : &p->ends) = t;
                *(starts ? &p->has_starts : &p->has_ends) = 1;
            }
        } else if (!strcasecmp(key, "matchers")) {
            if (json_is_null(v)) {
                p->matchers = NULL;
            } else if (!json_is_array(v)) {
                type_error(&saved, v, "Silence.matchers", "models.Matchers");
            } else {
                p->matchers = v;
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) {
                    if (json_is_null(e)) continue;
                    if (!json_is_object(e)) {
                        type_error(&saved, e, "Silence.matchers", "models.Matcher");
                        continue;
                    }
                    const char *mk;
                    json_t *mv;
                    json_object_foreach(e, mk, mv) {
                        if (json_is_null(mv)) continue;
                        if (!strcasecmp(mk, "name") && !json_is_string(mv))
                            type_error(&saved, mv, "Matcher.matchers.name", "string");
                        else if (!strcasecmp(mk, "value") && !json_is_string(mv))
                            type_error(&saved, mv, "Matcher.matchers.value", "string");
                        else if (!strcasecmp(mk, "isRegex") && !json_is_boolean(mv))
                            type_error(&saved, mv, "Matcher.matchers.isRegex", "bool");
                        else if (!strcasecmp(mk, "isEqual") && !json_is_boolean(mv))
                            type_error(&saved, mv, "Matcher.matchers.isEqual", "bool");
                    }
                }
            }
        }
    }
saved_error:
    if (saved.len) st = parse_failure(out, buf_cstr(&saved));
done:
    buf_free(&saved);
    return st;
}

/* go-swagger's schema checks on a decoded PostableSilence, in its order;
 * only the first failure is reported, with status 422. */
static unsigned check_postable(const postable *p, buf *out) {
    if (!p->comment) return answer_code(out, 422, 602, "comment in body is required");
    if (!p->created_by) return answer_code(out, 422, 602, "createdBy in body is required");
    if (!p->has_ends) return answer_code(out, 422, 602, "endsAt in body is required");
    if (!p->matchers) return answer_code(out, 422, 602, "matchers in body is required");
    if (json_array_size(p->matchers) == 0)
        return answer_code(out, 422, 612, "matchers in body should have at least 1 items");
    for (size_t i = 0; i < json_array_size(p->matchers); i++) {
        const json_t *e = json_array_get(p->matchers, i);
        static const char *const required[] = {"isRegex", "name", "value"};
        for (size_t r = 0; r < 3; r++) {
            const json_t *v = json_is_object(e) ? fold_get(e, required[r]) : NULL;
            if (!v || json_is_null(v)) {
                char m[96];
                snprintf(m, sizeof m, "matchers.%zu.%s in body is required", i, required[r]);
                return answer_code(out, 422, 602, m);
            }
        }
    }
    if (!p->has_starts) return answer_code(out, 422, 602, "startsAt in body is required");
    return 0;
}

/* ------------------------------------------------------------ handlers */

/* go-openapi's uuid format: 8-4-4-4-12 hex digits, each dash optional. */
static int uuid_format(const char *s) {
    static const int groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        if (g > 0 && *s == '-') s++;
        for (int i = 0; i < groups[g]; i++, s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F'))) return 0;
    }
    return *s == 0;
}

/* GET silences: each ?filter= is one ParseMatcher text, as in Alertmanager. */
static unsigned handle_list(silences *s, const silences_request *q, int64_t now_ms, buf *out) {
    am_matchers filter = {0};
    for (size_t i = 0; i < q->nfilter; i++) {
        errbuf err;
        if (am_matcher_parse(&filter, q->filter[i], &err)) {
            am_matchers_free(&filter);
            return answer_string(out, 400, err.msg);
        }
    }
    silence *v;
    size_t n;
    silences_list(s, &filter, now_ms, &v, &n);
    am_matchers_free(&filter);
    buf_append(out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(out, ",", 1);
        silence_write_json(&v[i], now_ms, out);
    }
    buf_append(out, "]\n", 2);
    silences_list_free(v, n);
    return 200;
}

/* POST silences: decode, schema checks, the handler's two time checks,
 * then the store's Set, in Alertmanager's order. */
static unsigned handle_post(silences *s, const silences_request *q, int64_t now_ms, buf *out) {
    json_t *root;
    postable p;
    unsigned st = decode_postable(q->body ? q->body : "", q->body ? q->body_len : 0, &root, &p, out);
    if (!st) st = check_postable(&p, out);
    if (st) {
        json_decref(root);
        return st;
    }
    size_t nm = json_array_size(p.matchers);
    silence_matcher *ms = xcalloc(nm, sizeof *ms);
    for (size_t i = 0; i < nm; i++) {
        const json_t *e = json_array_get(p.matchers, i);
        const json_t *eq = fold_get(e, "isEqual");
        ms[i].name = json_string_value(fold_get(e, "name"));
        ms[i].value = json_string_value(fold_get(e, "value"));
        ms[i].is_regex = json_is_true(fold_get(e, "isRegex"));
        ms[i].is_equal = !eq || json_is_null(eq) || json_is_true(eq);
    }
    silence in = {.matchers = ms, .nmatchers = nm, .starts_at_ms = p.starts, .ends_at_ms = p.ends,
                  .created_by = p.created_by, .comment = p.comment};
    if (p.starts >= p.ends) {
        st = answer_string(out, 400, "Failed to create silence: start time must be before end time");
    } else if (p.ends < now_ms) {
        st = answer_string(out, 400, "Failed to create silence: end time can't be in the past");
    } else if (p.id && strlen(p.id) > 36) {
        st = answer_string(out, 404, "silence not found");
    } else {
        if (p.id) memcpy(in.id, p.id, strlen(p.id) + 1);
        char id[37];
        errbuf err;
        int rc = silences_set(s, &in, now_ms, id, &err);
        if (rc == 0) {
            buf_printf(out, "{\"silenceID\":\"%s\"}\n", id);
            st = 200;
        } else {
            st = answer_string(out, rc == SILENCES_NOT_FOUND ? 404 : rc == SILENCES_INVALID ? 400 : 500, err.msg);
        }
    }
    free(ms);
    json_decref(root);
    return st;
}

/* GET and DELETE silence/{id}; go-swagger checks the id's format first. */
static unsigned handle_one(silences *s, const char *method, const char *id, int64_t now_ms, buf *out) {
    if (!uuid_format(id)) {
        buf q = {0};
        buf_append(&q, "silenceID in path must be of type uuid: ", 40);
        am_go_quote(&q, id, strlen(id));
        unsigned st = answer_code(out, 422, 601, buf_cstr(&q));
        buf_free(&q);
        return st;
    }
    if (!strcmp(method, "GET")) {
        silence sil;
        if (strlen(id) > 36 || !silences_get(s, id, &sil)) return 404;
        silence_write_json(&sil, now_ms, out);
        buf_append(out, "\n", 1);
        silence_free(&sil);
        return 200;
    }
    errbuf err;
    int rc = silences_expire(s, id, now_ms, &err);
    if (rc == 0) return 200;
    return answer_string(out, 500, err.msg);
}

/* Routes as go-swagger's router: the path first (a trailing '/' is
 * ignored), then the method. */
unsigned silences_handle(silences *s, const silences_request *q, int64_t now_ms, buf *out) {
    const char *method = q->method ? q->method : "GET";
    size_t pl = strlen(q->path);
    char *path = xstrndup(q->path, pl);
    if (pl > 0 && path[pl - 1] == '/') path[--pl] = 0;
    unsigned st;
    int head = !strcmp(method, "HEAD");
    const char *allowed = NULL;
    if (!strcmp(path, "silences")) {
        if (!strcmp(method, "GET")) st = handle_list(s, q, now_ms, out);
        else if (!strcmp(method, "POST")) st = handle_post(s, q, now_ms, out);
        else allowed = "GET,POST";
    } else if (!strncmp(path, "silence/", 8) && path[8] && !strchr(path + 8, '/')) {
        if (!strcmp(method, "GET") || !strcmp(method, "DELETE")) st = handle_one(s, method, path + 8, now_ms, out);
        else allowed = "DELETE,GET";
    } else {
        buf m = {0};
        buf_printf(&m, "path /api/v2/%s was not found", q->path);
        st = head ? 404 : answer_code(out, 404, 404, buf_cstr(&m));
        buf_free(&m);
    }
    if (allowed) {
        buf m = {0};
        buf_printf(&m, "method %s is not allowed, but [%s] are", method, allowed);
        st = head ? 405 : answer_code(out, 405, 405, buf_cstr(&m));
        buf_free(&m);
    }
    free(path);
    return st;
}
