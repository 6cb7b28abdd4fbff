/*
 * notifier.c - the built-in Alertmanager: alert store, dispatcher,
 * aggregation groups, muting, the notification log and delivery (see
 * notifier.h).
 *
 * Design.  One lock guards all state: the alert store (sorted by
 * fingerprint), the aggregation groups, the notification log (sorted by
 * key) and the delivery queue.  Everything under the lock is in-memory
 * work bounded by the number of alerts; the network is touched only by
 * delivery workers, outside the lock.  The dispatcher thread sleeps until
 * the next group flush (or until alerts arrive) and flushes; a flush
 * decides per integration, from the notification log, whether to notify
 * (Alertmanager's DedupStage.needsUpdate), builds the request at once
 * (alert/receivers.c) and queues it.  A worker that delivers it records
 * the notification in the log and in storage before counting it done.
 *
 * Muting is computed at flush time, as Alertmanager's MuteStage does:
 * silences (alert/silences.h) and inhibition rules over the alerts firing
 * at that moment.
 *
 * Groups are rebuilt from the alert store whenever the configuration
 * changes, as Alertmanager restarts its dispatcher on reload.  A resolved
 * alert leaves its groups at a flush once every integration's log shows
 * it is not firing for that integration; it leaves the store 15 minutes
 * after it resolved and once no group holds it.
 *
 * Configurations are reference-counted: queued deliveries keep theirs
 * alive across a reload, since a request points at its integration's
 * HTTP settings.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "alert/notifier.h"
#include "common/timeutil.h"
#include "web/json.h"

#define NS_ALERTS "alert.alerts"
#define NS_NFLOG "alert.nflog"
#define RESOLVED_KEEP_MS (15 * 60000)
#define NFLOG_RETENTION_MS (120LL * 3600000)
#define MIN_FLUSH_TIMEOUT_MS 10000
#define DEFAULT_ATTEMPT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BACKOFF_MS 60000
#define MAX_ROUTES_PER_ALERT 64
#define MAX_RESPONSE_BYTES (64u << 10)

/* ------------------------------------------------------------ state */

/* An alert as the store holds it (Alertmanager's types.Alert). */
typedef struct nalert {
    uint64_t fp;
    label *labels;
    size_t nlabels;
    label *annotations;
    size_t nannotations;
    int64_t starts_at, ends_at, updated_at;
    int timeout;                /* ends_at came from resolve_timeout */
    char *generator_url;
} nalert;

/* One aggregation group. */
typedef struct agroup {
    const am_route *route;
    label *group_labels;
    size_t ngroup_labels;
    char *key;                  /* ROUTEKEY:{a="b", c="d"} */
    uint64_t *fps;              /* its alerts */
    size_t n, cap;
    int64_t next_flush;
    int has_flushed;
} agroup;

/* One notification log entry: what an integration was last told. */
typedef struct nflog_entry {
    char *key;                  /* GROUPKEY:RECEIVER/INTEGRATION/INDEX */
    int64_t ts;
    uint64_t *firing, *resolved; /* sorted */
    size_t nfiring, nresolved;
} nflog_entry;

typedef struct cfg_ref {
    am_config *cfg;
    unsigned refs;
} cfg_ref;

/* A notification waiting for delivery (or being delivered). */
typedef struct delivery {
    struct delivery *next;
    cfg_ref *cfg;
    const receiver_integration *ri;
    receiver_request req;
    int nothing_to_send;        /* receiver_build said 1: only log it */
    char *nflog_key;
    int64_t flushed_at;
    uint64_t *firing, *resolved;
    size_t nfiring, nresolved;
    int64_t deadline, next_attempt;
    unsigned attempts;
    int in_flight;
    int superseded;             /* a newer one for the same key was queued */
} delivery;

/* Counters of one integration. */
typedef struct integration_stats {
    char *receiver;
    const char *integration;
    uint64_t total, failed;
    uint64_t buckets[6];        /* le 1, 5, 10, 15, 20, +Inf */
    double latency_sum;
} integration_stats;

static const double latency_bounds[5] = {1, 5, 10, 15, 20};

struct notifier {
    notifier_options o;
    char *external_url;
    char *user_agent;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* dispatcher: alerts arrived, config changed, stop */
    pthread_cond_t work;        /* workers: a delivery is due */
    int stop;
    cfg_ref *cfg;
    nalert **alerts;
    size_t nalerts, capalerts;
    agroup **groups;
    size_t ngroups, capgroups;
    nflog_entry **log;
    size_t nlog, caplog;
    delivery *queue;
    integration_stats *stats;
    size_t nstats;
    int regroup;                /* groups must be rebuilt */
    pthread_t dispatcher;
    int has_dispatcher;
    pthread_t *workers;
    unsigned nworkers;
    int64_t last_gc;
    silence_ids silenced;       /* scratch of silenced_by */
    int64_t started_at;
    atomic_int unsaved;         /* some alert records failed to be written */
    pthread_mutex_t persist_mu; /* orders writes done after the lock is let go; taken under mu */
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int u64_in(const uint64_t *v, size_t n, uint64_t x) { return n && bsearch(&x, v, n, sizeof *v, cmp_u64); }

static void cfg_release(cfg_ref *r) {
    if (r && --r->refs == 0) {
        amconfig_free(r->cfg);
        free(r);
    }
}

/* ------------------------------------------------------------ alert store */

static void nalert_free(nalert *a) {
    if (!a) return;
    free(a->labels);
    free(a->annotations);
    free(a->generator_url);
    free(a);
}

static size_t alert_pos(const notifier *n, uint64_t fp, int *found) {
    size_t lo = 0, hi = n->nalerts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (n->alerts[mid]->fp < fp) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < n->nalerts && n->alerts[lo]->fp == fp;
    return lo;
}

static nalert *alert_get(const notifier *n, uint64_t fp) {
    int found;
    size_t at = alert_pos(n, fp, &found);
    return found ? n->alerts[at] : NULL;
}

static int resolved_at(const nalert *a, int64_t now) { return a->ends_at && a->ends_at <= now; }

/* The record of an alert, as JSON. */
static char *alert_record(const nalert *a) {
    json_t *o = json_object(), *l = json_object(), *an = json_object();
    for (size_t i = 0; i < a->nlabels; i++) json_object_set_new(l, a->labels[i].name, json_string(a->labels[i].value));
    for (size_t i = 0; i < a->nannotations; i++)
        json_object_set_new(an, a->annotations[i].name, json_string(a->annotations[i].value));
    json_object_set_new(o, "labels", l);
    json_object_set_new(o, "annotations", an);
    json_object_set_new(o, "startsAt", json_integer(a->starts_at));
    json_object_set_new(o, "endsAt", json_integer(a->ends_at));
    json_object_set_new(o, "updatedAt", json_integer(a->updated_at));
    json_object_set_new(o, "timeout", json_boolean(a->timeout));
    json_object_set_new(o, "generatorURL", json_string(a->generator_url ? a->generator_url : ""));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* A label set from a JSON object of strings, sorted; NULL when it is not
 * one or a name or value is invalid (why in err). */
static label *labels_from_json(json_t *o, size_t *n, int annotations, errbuf *err) {
    *n = 0;
    if (!json_is_object(o)) return errf(err, "labels must be an object of strings"), NULL;
    size_t cnt = json_object_size(o);
    label *tmp = xcalloc(cnt ? cnt : 1, sizeof *tmp);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!json_is_string(v)) {
            free(tmp);
            return errf(err, "value of %s must be a string", k), NULL;
        }
        const char *s = json_string_value(v);
        size_t kl = strlen(k), sl = json_string_length(v);
        if (!annotations && sl == 0) continue; /* Alertmanager's removeEmptyLabels */
        if (!annotations && !label_name_valid(k, kl)) {
            free(tmp);
            return errf(err, "invalid label set: invalid name \"%s\"", k), NULL;
        }
        if (!utf8_valid(s, sl) || strlen(s) != sl) {
            free(tmp);
            return errf(err, "invalid label set: invalid value \"%s\"", s), NULL;
        }
        tmp[(*n)++] = (label){k, (uint32_t)kl, s, (uint32_t)sl};
    }
    labels_sort(tmp, *n);
    label *out = labels_dup(tmp, *n);
    free(tmp);
    return out;
}

static int64_t json_ms(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Records to write: encoded under the notifier's lock, written after it
 * is let go (see put_alerts' callers), so that a slow disk does not hold
 * up the dispatcher or the rules that send alerts. */
typedef struct {
    tsdb_kv_change *ch;
    char (*keys)[17];
    char **vals;
    size_t n, nvals;
} alert_writes;

/* Encodes the changed alerts and the deletions as one batch. */
static alert_writes encode_alerts(nalert **changed, size_t nchanged, const uint64_t *deleted, size_t ndeleted) {
    alert_writes w = {0};
    if (!nchanged && !ndeleted) return w;
    w.ch = xcalloc(nchanged + ndeleted, sizeof *w.ch);
    w.keys = xcalloc(nchanged + ndeleted, sizeof *w.keys);
    w.vals = xcalloc(nchanged ? nchanged : 1, sizeof *w.vals);
    for (size_t i = 0; i < nchanged; i++) {
        snprintf(w.keys[i], 17, "%016" PRIx64, changed[i]->fp);
        w.vals[i] = alert_record(changed[i]);
        w.ch[i] = (tsdb_kv_change){NS_ALERTS, w.keys[i], 16, w.vals[i], strlen(w.vals[i])};
    }
    for (size_t i = 0; i < ndeleted; i++) {
        snprintf(w.keys[nchanged + i], 17, "%016" PRIx64, deleted[i]);
        w.ch[nchanged + i] = (tsdb_kv_change){NS_ALERTS, w.keys[nchanged + i], 16, NULL, 0};
    }
    w.n = nchanged + ndeleted;
    w.nvals = nchanged;
    return w;
}

/* Writes a batch in one transaction and frees it.  A storage failure is
 * logged and remembered: the next garbage collection writes every alert
 * again (the state in memory goes on meanwhile). */
static void write_alerts(notifier *n, alert_writes *w) {
    if (w->n) {
        errbuf err;
        if (tsdb_kv_write(n->o.db, w->ch, w->n, &err)) {
            fprintf(stderr, "promlite: notifier: cannot store alerts (tried again within a minute): %s\n", err.msg);
            atomic_store(&n->unsaved, 1);
        }
    }
    for (size_t i = 0; i < w->nvals; i++) free(w->vals[i]);
    free(w->vals);
    free(w->keys);
    free(w->ch);
    *w = (alert_writes){0};
}

/* Writes the changed alerts and deletes the removed ones, in one
 * transaction (under the lock: for garbage collection, which is rare). */
static void persist_alerts(notifier *n, nalert **changed, size_t nchanged, const uint64_t *deleted, size_t ndeleted) {
    alert_writes w = encode_alerts(changed, nchanged, deleted, ndeleted);
    write_alerts(n, &w);
}

/* Adds or updates one alert (Alertmanager's provider Put: an alert that
 * overlaps the stored one in time is merged with it, otherwise it
 * replaces it).  Takes a. Returns the stored alert, and whether it
 * changed. */
static nalert *store_put(notifier *n, nalert *a, int *changed) {
    int found;
    size_t at = alert_pos(n, a->fp, &found);
    *changed = 1;
    if (!found) {
        if (n->nalerts == n->capalerts) {
            n->capalerts = n->capalerts ? n->capalerts * 2 : 64;
            n->alerts = xrealloc(n->alerts, n->capalerts * sizeof *n->alerts);
        }
        memmove(&n->alerts[at + 1], &n->alerts[at], (n->nalerts - at) * sizeof *n->alerts);
        n->alerts[at] = a;
        n->nalerts++;
        return a;
    }
    nalert *old = n->alerts[at];
    if ((a->ends_at > old->starts_at && a->ends_at < old->ends_at) ||
        (a->starts_at > old->starts_at && a->starts_at < old->ends_at)) {
        /* Merge: the younger alert wins, the earliest start stays, and a
         * later explicit end wins. */
        nalert *younger = a->updated_at >= old->updated_at ? a : old, *older = younger == a ? old : a;
        if (older->starts_at < younger->starts_at) younger->starts_at = older->starts_at;
        int64_t now_like = younger->updated_at;
        if (resolved_at(younger, now_like)) {
            if (resolved_at(older, now_like) && older->ends_at > younger->ends_at) younger->ends_at = older->ends_at;
        } else if (older->ends_at > younger->ends_at && !older->timeout) {
            younger->ends_at = older->ends_at;
        }
        if (younger == old) {
            nalert_free(a);
            *changed = 0;
            return old;
        }
    }
    *changed = old->starts_at != a->starts_at || old->ends_at != a->ends_at || old->nannotations != a->nannotations ||
               strcmp(old->generator_url ? old->generator_url : "", a->generator_url ? a->generator_url : "");
    for (size_t i = 0; !*changed && i < a->nannotations; i++)
        *changed = strcmp(old->annotations[i].name, a->annotations[i].name) ||
                   strcmp(old->annotations[i].value, a->annotations[i].value);
    n->alerts[at] = a;
    nalert_free(old);
    return a;
}

/* ------------------------------------------------------------ notification log */

static size_t log_pos(const notifier *n, const char *key, int *found) {
    size_t lo = 0, hi = n->nlog;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(n->log[mid]->key, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < n->nlog && !strcmp(n->log[lo]->key, key);
    return lo;
}

static nflog_entry *log_get(const notifier *n, const char *key) {
    int found;
    size_t at = log_pos(n, key, &found);
    return found ? n->log[at] : NULL;
}

static void log_entry_free(nflog_entry *e) {
    if (!e) return;
    free(e->key);
    free(e->firing);
    free(e->resolved);
    free(e);
}

static json_t *fps_json(const uint64_t *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char h[17];
        snprintf(h, sizeof h, "%016" PRIx64, v[i]);
        json_array_append_new(a, json_string(h));
    }
    return a;
}

static uint64_t *fps_from_json(json_t *a, size_t *n) {
    *n = 0;
    size_t cnt = json_is_array(a) ? json_array_size(a) : 0;
    uint64_t *v = xcalloc(cnt ? cnt : 1, sizeof *v);
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s) v[(*n)++] = strtoull(s, NULL, 16);
    }
    qsort(v, *n, sizeof *v, cmp_u64);
    return v;
}

/* The record key of a log entry: group keys hold whole label sets and may
 * be longer than a record key may be, so records are keyed by a 128-bit
 * hash of the log key, which the record holds in full. */
static void log_record_key(const char *key, char out[33]) {
    XXH128_hash_t h = XXH3_128bits(key, strlen(key));
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
}

/* Records what an integration was told, in memory, and returns the
 * storage record (its key in rk, the value to free) for the caller to
 * write once the notifier's lock is let go. */
static char *log_record(notifier *n, const char *key, int64_t ts, const uint64_t *firing, size_t nfiring,
                        const uint64_t *resolved, size_t nresolved, char rk[33]) {
    int found;
    size_t at = log_pos(n, key, &found);
    nflog_entry *e;
    if (found) {
        e = n->log[at];
        free(e->firing);
        free(e->resolved);
    } else {
        e = xcalloc(1, sizeof *e);
        e->key = xstrndup(key, strlen(key));
        if (n->nlog == n->caplog) {
            n->caplog = n->caplog ? n->caplog * 2 : 64;
            n->log = xrealloc(n->log, n->caplog * sizeof *n->log);
        }
        memmove(&n->log[at + 1], &n->log[at], (n->nlog - at) * sizeof *n->log);
        n->log[at] = e;
        n->nlog++;
    }
    e->ts = ts;
    e->firing = xmalloc((nfiring ? nfiring : 1) * sizeof *e->firing);
    if (nfiring) memcpy(e->firing, firing, nfiring * sizeof *firing);
    e->nfiring = nfiring;
    e->resolved = xmalloc((nresolved ? nresolved : 1) * sizeof *e->resolved);
    if (nresolved) memcpy(e->resolved, resolved, nresolved * sizeof *resolved);
    e->nresolved = nresolved;
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "ts", json_integer(ts));
    json_object_set_new(o, "firing", fps_json(firing, nfiring));
    json_object_set_new(o, "resolved", fps_json(resolved, nresolved));
    char *v = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    log_record_key(key, rk);
    return v;
}

/* Whether every element of sub is in set (both sorted). */
static int subset(const uint64_t *sub, size_t nsub, const uint64_t *set, size_t nset) {
    for (size_t i = 0; i < nsub; i++)
        if (!u64_in(set, nset, sub[i])) return 0;
    return 1;
}

/* Alertmanager's DedupStage.needsUpdate. */
static int needs_update(const nflog_entry *e, const uint64_t *firing, size_t nfiring, const uint64_t *resolved,
                        size_t nresolved, int send_resolved, int64_t repeat_ms, int64_t now) {
    if (!e) return nfiring > 0;
    if (!subset(firing, nfiring, e->firing, e->nfiring)) return 1;
    if (nfiring == 0) return e->nfiring > 0;
    if (send_resolved && !subset(resolved, nresolved, e->resolved, e->nresolved)) return 1;
    return e->ts < now - repeat_ms;
}

/* ------------------------------------------------------------ muting */

/* Appends to ids the silences that mute the labels now (JSON strings,
 * comma-separated); returns how many. */
static size_t silenced_by(notifier *n, const label *ls, size_t nl, int64_t now, buf *ids) {
    if (!n->o.silences) return 0;
    size_t k = silences_mutes(n->o.silences, ls, nl, now, &n->silenced, NULL);
    for (size_t i = 0; i < k; i++) buf_printf(ids, "%s\"%s\"", i ? "," : "", n->silenced.v[i]);
    return k;
}

/* The firing alerts matching each inhibit rule's source side, gathered
 * once per dispatch pass (Alertmanager's per-rule source cache), so that
 * checking an alert costs the sources of its rules, not the whole
 * store. */
typedef struct {
    const nalert ***sources;    /* per rule */
    size_t *nsources;
    size_t nrules;
} inhibit_cache;

static void inhibit_cache_build(notifier *n, const am_config *cfg, int64_t now, inhibit_cache *c) {
    c->nrules = cfg ? cfg->ninhibit_rules : 0;
    c->sources = xcalloc(c->nrules ? c->nrules : 1, sizeof *c->sources);
    c->nsources = xcalloc(c->nrules ? c->nrules : 1, sizeof *c->nsources);
    for (size_t r = 0; r < c->nrules; r++) {
        const am_inhibit_rule *rule = &cfg->inhibit_rules[r];
        c->sources[r] = xcalloc(n->nalerts ? n->nalerts : 1, sizeof **c->sources);
        for (size_t i = 0; i < n->nalerts; i++) {
            const nalert *s = n->alerts[i];
            if (!resolved_at(s, now) && am_matchers_match(&rule->source, s->labels, s->nlabels))
                c->sources[r][c->nsources[r]++] = s;
        }
    }
}

static void inhibit_cache_free(inhibit_cache *c) {
    for (size_t r = 0; r < c->nrules; r++) free(c->sources[r]);
    free(c->sources);
    free(c->nsources);
}

/* Alertmanager's inhibitor: the fingerprint of a firing alert that
 * inhibits a (0 when none).  A source alert must match the rule's source
 * matchers, be firing, share the `equal` labels, and not itself match the
 * target side when a matches both sides. */
static uint64_t inhibited_by(const am_config *cfg, const inhibit_cache *c, const nalert *a) {
    for (size_t r = 0; r < c->nrules; r++) {
        const am_inhibit_rule *rule = &cfg->inhibit_rules[r];
        if (!c->nsources[r] || !am_matchers_match(&rule->target, a->labels, a->nlabels)) continue;
        int two_sided = am_matchers_match(&rule->source, a->labels, a->nlabels);
        for (size_t i = 0; i < c->nsources[r]; i++) {
            const nalert *s = c->sources[r][i];
            int eq = 1;
            for (size_t k = 0; k < rule->nequal && eq; k++) {
                size_t ln = strlen(rule->equal[k]);
                const label *x = labels_get(s->labels, s->nlabels, rule->equal[k], ln);
                const label *y = labels_get(a->labels, a->nlabels, rule->equal[k], ln);
                eq = (!x && !y) || (x && y && !strcmp(x->value, y->value)) ||
                     (!x && y && !*y->value) || (x && !y && !*x->value);
            }
            if (!eq) continue;
            if (two_sided && am_matchers_match(&rule->target, s->labels, s->nlabels)) continue;
            return s->fp;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ groups */

static void group_free(agroup *g) {
    free(g->group_labels);
    free(g->key);
    free(g->fps);
    free(g);
}

/* Alertmanager's LabelSet.String(): {a="b", c="d"}, Go-quoted values. */
static void labelset_string(buf *b, const label *l, size_t n) {
    buf_append(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(b, ", ", 2);
        buf_append(b, l[i].name, l[i].name_len);
        buf_append(b, "=\"", 2);
        for (uint32_t k = 0; k < l[i].value_len; k++) {
            unsigned char c = (unsigned char)l[i].value[k];
            if (c == '"' || c == '\\') buf_printf(b, "\\%c", c);
            else if (c == '\n') buf_append(b, "\\n", 2);
            else if (c == '\t') buf_append(b, "\\t", 2);
            else if (c < 0x20 || c == 0x7f) buf_printf(b, "\\x%02x", c);
            else buf_append(b, &c, 1);
        }
        buf_append(b, "\"", 1);
    }
    buf_append(b, "}", 1);
}

/* Puts alert a into the group of route r it belongs to, creating the
 * group (first flush after group_wait, or at once for an alert older than
 * that, as Alertmanager does). */
static void group_insert(notifier *n, const am_route *r, const nalert *a, int64_t now) {
    label *gl = xcalloc(a->nlabels ? a->nlabels : 1, sizeof *gl);
    size_t ngl = 0;
    for (size_t i = 0; i < a->nlabels; i++) {
        int take = r->group_by_all;
        for (size_t k = 0; k < r->ngroup_by && !take; k++) take = !strcmp(r->group_by[k], a->labels[i].name);
        if (take) gl[ngl++] = a->labels[i];
    }
    buf key = {0};
    buf_printf(&key, "%s:", r->key);
    labelset_string(&key, gl, ngl);
    buf_append(&key, "", 1);
    agroup *g = NULL;
    for (size_t i = 0; i < n->ngroups && !g; i++)
        if (n->groups[i]->route == r && !strcmp(n->groups[i]->key, (const char *)key.data)) g = n->groups[i];
    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->route = r;
        g->group_labels = labels_dup(gl, ngl);
        g->ngroup_labels = ngl;
        g->key = (char *)key.data;
        key = (buf){0};
        g->next_flush = now + r->group_wait_ms;
        if (n->ngroups == n->capgroups) {
            n->capgroups = n->capgroups ? n->capgroups * 2 : 16;
            n->groups = xrealloc(n->groups, n->capgroups * sizeof *n->groups);
        }
        n->groups[n->ngroups++] = g;
    }
    buf_free(&key);
    free(gl);
    if (!g->has_flushed && a->starts_at + r->group_wait_ms < now) g->next_flush = now;
    for (size_t i = 0; i < g->n; i++)
        if (g->fps[i] == a->fp) return;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->fps = xrealloc(g->fps, g->cap * sizeof *g->fps);
    }
    g->fps[g->n++] = a->fp;
}

/* Routes one alert into its groups. */
static void dispatch(notifier *n, const nalert *a, int64_t now) {
    if (!n->cfg || !n->cfg->cfg->route) return;
    const am_route *routes[MAX_ROUTES_PER_ALERT];
    size_t k = am_route_match(n->cfg->cfg->route, a->labels, a->nlabels, routes, MAX_ROUTES_PER_ALERT);
    for (size_t i = 0; i < k; i++) group_insert(n, routes[i], a, now);
}

/* Forms the groups anew from the store (a new configuration). */
static void regroup(notifier *n, int64_t now) {
    for (size_t i = 0; i < n->ngroups; i++) group_free(n->groups[i]);
    n->ngroups = 0;
    for (size_t i = 0; i < n->nalerts; i++) dispatch(n, n->alerts[i], now);
    n->regroup = 0;
}

/* Alertmanager's AlertSlice order: by job, then instance, then the whole
 * label set. */
static int cmp_alerts(const void *pa, const void *pb) {
    const nalert *a = *(nalert *const *)pa, *b = *(nalert *const *)pb;
    static const char *const keys[] = {"job", "instance"};
    for (int k = 0; k < 2; k++) {
        const label *x = labels_get(a->labels, a->nlabels, keys[k], strlen(keys[k]));
        const label *y = labels_get(b->labels, b->nlabels, keys[k], strlen(keys[k]));
        if (!x && !y) continue;
        if (!x) return 1;
        if (!y) return -1;
        int c = strcmp(x->value, y->value);
        if (c) return c;
    }
    return labels_compare(a->labels, a->nlabels, b->labels, b->nlabels);
}

/* The key of an integration in the log: GROUPKEY:RECEIVER/TYPE/INDEX, as
 * Alertmanager's stateKey. */
static char *log_key(const agroup *g, const receiver_integration *ri) {
    buf b = {0};
    buf_printf(&b, "%s:%s/%s/%zu", g->key, ri->receiver, receiver_type_name(ri->type), ri->index);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* Queues a delivery, replacing a queued (not yet running) one for the
 * same integration and group. */
static void enqueue(notifier *n, delivery *d) {
    for (delivery *q = n->queue; q; q = q->next)
        if (!q->superseded && !strcmp(q->nflog_key, d->nflog_key)) q->superseded = 1;
    d->next = n->queue;
    n->queue = d;
    pthread_cond_signal(&n->work);
}

static void delivery_free(delivery *d) {
    receiver_request_free(&d->req);
    cfg_release(d->cfg);
    free(d->nflog_key);
    free(d->firing);
    free(d->resolved);
    free(d);
}

/* Flushes one group at now: the alerts not muted go to every integration
 * of the route's receiver whose log says it needs telling. */
static void flush(notifier *n, agroup *g, const inhibit_cache *inhibit, int64_t now) {
    const am_config *cfg = n->cfg->cfg;
    const receiver *rcv = g->route->receiver;
    /* A resolved alert leaves the group once no integration's log still
     * has it firing: the receivers know it is over (Alertmanager deletes
     * resolved alerts from a group after a successful flush). */
    size_t keep = 0;
    for (size_t i = 0; i < g->n; i++) {
        nalert *a = alert_get(n, g->fps[i]);
        int drop = !a;
        if (a && resolved_at(a, now)) {
            drop = 1;
            for (size_t k = 0; k < rcv->nintegrations && drop; k++) {
                char *key = log_key(g, &rcv->integrations[k]);
                const nflog_entry *e = log_get(n, key);
                if (e && u64_in(e->firing, e->nfiring, a->fp)) drop = 0;
                free(key);
            }
        }
        if (!drop) g->fps[keep++] = g->fps[i];
    }
    g->n = keep;
    nalert **sel = xcalloc(g->n ? g->n : 1, sizeof *sel);
    size_t nsel = 0;
    buf ids = {0};
    for (size_t i = 0; i < g->n; i++) {
        nalert *a = alert_get(n, g->fps[i]);
        if (!a) continue;
        buf_reset(&ids);
        if (silenced_by(n, a->labels, a->nlabels, now, &ids)) continue;
        if (inhibited_by(cfg, inhibit, a)) continue;
        sel[nsel++] = a;
    }
    buf_free(&ids);
    if (!nsel) {
        /* Everything is muted: Alertmanager's pipeline stops here, and the
         * log keeps what each receiver was last told, so lifting the mute
         * does not page again before repeat_interval. */
        g->has_flushed = 1;
        g->next_flush = now + g->route->group_interval_ms;
        free(sel);
        return;
    }
    qsort(sel, nsel, sizeof *sel, cmp_alerts);
    uint64_t *firing = xcalloc(nsel ? nsel : 1, sizeof *firing), *resolved = xcalloc(nsel ? nsel : 1, sizeof *resolved);
    size_t nf = 0, nr = 0;
    for (size_t i = 0; i < nsel; i++) {
        if (resolved_at(sel[i], now)) resolved[nr++] = sel[i]->fp;
        else firing[nf++] = sel[i]->fp;
    }
    qsort(firing, nf, sizeof *firing, cmp_u64);
    qsort(resolved, nr, sizeof *resolved, cmp_u64);
    am_alert *msg_alerts = xcalloc(nsel ? nsel : 1, sizeof *msg_alerts);
    for (size_t i = 0; i < nsel; i++) {
        nalert *a = sel[i];
        msg_alerts[i] = (am_alert){a->labels, a->nlabels, a->annotations, a->nannotations, a->starts_at,
                                   resolved_at(a, now) ? a->ends_at : 0, a->generator_url, resolved_at(a, now)};
    }
    am_message m = {rcv->name, msg_alerts, nsel, g->group_labels, g->ngroup_labels, n->external_url, g->key, now};
    int64_t timeout = g->route->group_interval_ms > MIN_FLUSH_TIMEOUT_MS ? g->route->group_interval_ms
                                                                          : MIN_FLUSH_TIMEOUT_MS;
    for (size_t k = 0; k < rcv->nintegrations; k++) {
        const receiver_integration *ri = &rcv->integrations[k];
        char *key = log_key(g, ri);
        const nflog_entry *e = log_get(n, key);
        if (!needs_update(e, firing, nf, resolved, nr, ri->send_resolved, g->route->repeat_interval_ms, now)) {
            free(key);
            continue;
        }
        delivery *d = xcalloc(1, sizeof *d);
        errbuf err;
        int rc = receiver_build(ri, &m, &d->req, &err);
        if (rc < 0) {
            fprintf(stderr, "promlite: notifier: receiver \"%s\" %s[%zu]: %s\n", ri->receiver,
                    receiver_type_name(ri->type), ri->index, err.msg);
            free(d);
            free(key);
            continue;
        }
        d->nothing_to_send = rc == 1;
        d->cfg = n->cfg;
        n->cfg->refs++;
        d->ri = ri;
        d->nflog_key = key;
        d->flushed_at = now;
        d->firing = xmalloc((nf ? nf : 1) * sizeof *d->firing);
        if (nf) memcpy(d->firing, firing, nf * sizeof *firing);
        d->nfiring = nf;
        d->resolved = xmalloc((nr ? nr : 1) * sizeof *d->resolved);
        if (nr) memcpy(d->resolved, resolved, nr * sizeof *resolved);
        d->nresolved = nr;
        d->deadline = now + timeout;
        d->next_attempt = now;
        enqueue(n, d);
    }
    g->has_flushed = 1;
    g->next_flush = now + g->route->group_interval_ms;
    free(msg_alerts);
    free(firing);
    free(resolved);
    free(sel);
}

/* Drops resolved alerts no group holds any more (15 minutes after they
 * resolved) and log entries past their retention. */
static void gc(notifier *n, int64_t now) {
    uint64_t *deleted = xcalloc(n->nalerts ? n->nalerts : 1, sizeof *deleted);
    size_t ndel = 0, keep = 0, nheld = 0;
    for (size_t g = 0; g < n->ngroups; g++) nheld += n->groups[g]->n;
    uint64_t *held_fps = xcalloc(nheld ? nheld : 1, sizeof *held_fps);
    nheld = 0;
    for (size_t g = 0; g < n->ngroups; g++)
        for (size_t k = 0; k < n->groups[g]->n; k++) held_fps[nheld++] = n->groups[g]->fps[k];
    qsort(held_fps, nheld, sizeof *held_fps, cmp_u64);
    for (size_t i = 0; i < n->nalerts; i++) {
        nalert *a = n->alerts[i];
        int held = u64_in(held_fps, nheld, a->fp);
        if (!held && resolved_at(a, now) && now - a->ends_at > RESOLVED_KEEP_MS) {
            deleted[ndel++] = a->fp;
            nalert_free(a);
            continue;
        }
        n->alerts[keep++] = a;
    }
    n->nalerts = keep;
    free(held_fps);
    /* After any batch still being written (persist_mu), so the newer
     * state written here is not overwritten by an older one. */
    pthread_mutex_lock(&n->persist_mu);
    if (atomic_exchange(&n->unsaved, 0)) {
        /* A write failed: write every alert again (and the deletions). */
        persist_alerts(n, n->alerts, n->nalerts, deleted, ndel);
    } else {
        persist_alerts(n, NULL, 0, deleted, ndel);
    }
    free(deleted);
    /* Log entries past their retention go in one transaction. */
    keep = 0;
    size_t nexpired = 0;
    char (*rks)[33] = xcalloc(n->nlog ? n->nlog : 1, sizeof *rks);
    for (size_t i = 0; i < n->nlog; i++) {
        nflog_entry *e = n->log[i];
        if (now - e->ts > NFLOG_RETENTION_MS) {
            log_record_key(e->key, rks[nexpired++]);
            log_entry_free(e);
            continue;
        }
        n->log[keep++] = e;
    }
    n->nlog = keep;
    if (nexpired) {
        tsdb_kv_change *ch = xcalloc(nexpired, sizeof *ch);
        for (size_t i = 0; i < nexpired; i++) ch[i] = (tsdb_kv_change){NS_NFLOG, rks[i], 32, NULL, 0};
        errbuf err;
        if (tsdb_kv_write(n->o.db, ch, nexpired, &err))
            fprintf(stderr, "promlite: notifier: cannot remove old notification log records: %s\n", err.msg);
        free(ch);
    }
    pthread_mutex_unlock(&n->persist_mu);
    free(rks);
    n->last_gc = now;
}

/* The dispatcher's work at now: regroup if asked, flush what is due,
 * drop empty groups, collect garbage now and then.  Returns when the next
 * flush is due (INT64_MAX: none). */
static int64_t dispatch_due(notifier *n, int64_t now) {
    if (n->regroup) regroup(n, now);
    int64_t next = INT64_MAX;
    size_t keep = 0;
    inhibit_cache inhibit = {0};
    int built = 0;
    for (size_t i = 0; i < n->ngroups; i++) {
        agroup *g = n->groups[i];
        if (g->next_flush <= now) {
            if (!built) inhibit_cache_build(n, n->cfg->cfg, now, &inhibit), built = 1;
            flush(n, g, &inhibit, now);
        }
        if (!g->n) {
            group_free(g);
            continue;
        }
        if (g->next_flush < next) next = g->next_flush;
        n->groups[keep++] = g;
    }
    n->ngroups = keep;
    if (built) inhibit_cache_free(&inhibit);
    if (now - n->last_gc > 60000) gc(n, now);
    return next;
}

/* ------------------------------------------------------------ delivery */

typedef struct {
    buf body;
    char retry_after[64];
    char content_type[128];
} http_answer;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx) {
    http_answer *a = ctx;
    size_t n = size * nmemb;
    if (a->body.len + n > MAX_RESPONSE_BYTES) n = a->body.len < MAX_RESPONSE_BYTES ? MAX_RESPONSE_BYTES - a->body.len : 0;
    buf_append(&a->body, p, n);
    return size * nmemb;
}

/* Keeps the two headers classification reads. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx) {
    http_answer *a = ctx;
    size_t n = size * nmemb;
    static const struct { const char *name; size_t off; } want[] = {
        {"retry-after:", offsetof(http_answer, retry_after)},
        {"content-type:", offsetof(http_answer, content_type)},
    };
    for (size_t i = 0; i < 2; i++) {
        size_t wl = strlen(want[i].name);
        if (n > wl && !strncasecmp(p, want[i].name, wl)) {
            const char *v = p + wl;
            size_t vl = n - wl;
            while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
            char *dst = (char *)a + want[i].off;
            size_t cap = i == 0 ? sizeof a->retry_after : sizeof a->content_type;
            snprintf(dst, cap, "%.*s", (int)vl, v);
        }
    }
    return n;
}

/* One attempt: sends the request with the integration's client settings
 * and classifies the answer. */
static void attempt(notifier *n, delivery *d, receiver_outcome *out, double *seconds) {
    const receiver_request *rq = &d->req;
    const receiver_http *h = rq->http;
    CURL *c = curl_easy_init();
    http_answer ans = {0};
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < rq->nheaders; i++) {
        buf line = {0};
        buf_printf(&line, "%s: %s", rq->headers[i].name, rq->headers[i].value);
        buf_append(&line, "", 1);
        hdrs = curl_slist_append(hdrs, (const char *)line.data);
        buf_free(&line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    int64_t timeout = d->ri->timeout_ms > 0 ? d->ri->timeout_ms : n->o.attempt_timeout_ms;
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, n->user_agent);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ans);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, h->follow_redirects ? 1L : 0L);
        if (h->proxy_url) curl_easy_setopt(c, CURLOPT_PROXY, h->proxy_url);
        if (h->tls.ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, h->tls.ca_file);
        if (h->tls.cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, h->tls.cert_file);
        if (h->tls.key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, h->tls.key_file);
        if (h->tls.insecure_skip_verify) {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    double t0 = mono_seconds();
    CURLcode rc = curl_easy_perform(c);
    *seconds = mono_seconds() - t0;
    if (rc != CURLE_OK) {
        memset(out, 0, sizeof *out);
        out->retry = 1;
        out->retry_after_ms = -1;
        snprintf(out->msg, sizeof out->msg, "receiver \"%s\" %s[%zu]: %s: %s", d->ri->receiver,
                 receiver_type_name(d->ri->type), d->ri->index, rq->url, curl_easy_strerror(rc));
    } else {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        receiver_response resp = {status,
                                  ans.content_type[0] ? ans.content_type : NULL,
                                  ans.retry_after[0] ? ans.retry_after : NULL,
                                  ans.body.data ? (const char *)ans.body.data : "",
                                  ans.body.len,
                                  wall_ms()};
        receiver_classify(d->ri, &resp, out);
    }
    buf_free(&ans.body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

static integration_stats *stats_for(notifier *n, const receiver_integration *ri) {
    const char *type = receiver_type_name(ri->type);
    for (size_t i = 0; i < n->nstats; i++)
        if (!strcmp(n->stats[i].receiver, ri->receiver) && !strcmp(n->stats[i].integration, type)) return &n->stats[i];
    n->stats = xrealloc(n->stats, (n->nstats + 1) * sizeof *n->stats);
    integration_stats *s = &n->stats[n->nstats++];
    memset(s, 0, sizeof *s);
    s->receiver = xstrndup(ri->receiver, strlen(ri->receiver));
    s->integration = type;
    return s;
}

/* Takes the due delivery with the earliest attempt time off the queue
 * (marking it in flight); drops superseded and expired ones.  Under the
 * lock.  *next_due gets the time of the next waiting one. */
static delivery *take_due(notifier *n, int64_t now, int64_t *next_due) {
    *next_due = INT64_MAX;
    delivery *best = NULL;
    for (delivery **pp = &n->queue; *pp;) {
        delivery *d = *pp;
        if (!d->in_flight && (d->superseded || (d->attempts && now > d->deadline))) {
            if (!d->superseded)
                fprintf(stderr, "promlite: notifier: giving up on %s after %u attempts\n", d->nflog_key, d->attempts);
            *pp = d->next;
            delivery_free(d);
            continue;
        }
        if (!d->in_flight) {
            if (d->next_attempt <= now && (!best || d->next_attempt < best->next_attempt)) best = d;
            else if (d->next_attempt > now && d->next_attempt < *next_due) *next_due = d->next_attempt;
        }
        pp = &d->next;
    }
    if (best) best->in_flight = 1;
    return best;
}

static void unlink_delivery(notifier *n, delivery *d) {
    for (delivery **pp = &n->queue; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            return;
        }
}

/* Runs one attempt of d (taken by take_due), outside the lock, and
 * settles it: logged on success, rescheduled with backoff on a failure
 * worth retrying, dropped otherwise. */
static void run_delivery(notifier *n, delivery *d, int64_t now) {
    receiver_outcome out = {.ok = 1};
    double seconds = 0;
    if (!d->nothing_to_send) attempt(n, d, &out, &seconds);
    /* The backoff counts from the end of the attempt (which may have
     * taken its whole timeout); manual mode keeps the caller's clock. */
    if (!n->o.manual) now = wall_ms();
    pthread_mutex_lock(&n->mu);
    d->attempts++;
    d->in_flight = 0;
    if (!d->nothing_to_send) {
        integration_stats *s = stats_for(n, d->ri);
        s->total++;
        if (!out.ok) s->failed++;
        size_t b = 0;
        while (b < 5 && seconds > latency_bounds[b]) b++;
        s->buckets[b]++;
        s->latency_sum += seconds;
    }
    char *record = NULL, rk[33];
    if (out.ok) {
        if (!d->superseded || !log_get(n, d->nflog_key) || log_get(n, d->nflog_key)->ts <= d->flushed_at)
            record = log_record(n, d->nflog_key, d->flushed_at, d->firing, d->nfiring, d->resolved, d->nresolved, rk);
        unlink_delivery(n, d);
        delivery_free(d);
    } else if (out.retry && !d->superseded) {
        int64_t backoff = 1000;
        for (unsigned i = 1; i < d->attempts && backoff < n->o.max_backoff_ms; i++) backoff *= 2;
        if (backoff > n->o.max_backoff_ms) backoff = n->o.max_backoff_ms;
        if (out.retry_after_ms > backoff) backoff = out.retry_after_ms;
        d->next_attempt = now + backoff;
        fprintf(stderr, "promlite: notifier: %s (attempt %u, retrying in %" PRId64 " ms)\n", out.msg, d->attempts,
                backoff);
        if (d->next_attempt > d->deadline) {
            fprintf(stderr, "promlite: notifier: giving up on %s: the next flush supersedes it\n", d->nflog_key);
            unlink_delivery(n, d);
            delivery_free(d);
        }
    } else {
        fprintf(stderr, "promlite: notifier: %s (not retried)\n", out.msg);
        unlink_delivery(n, d);
        delivery_free(d);
    }
    pthread_cond_signal(&n->work);
    if (!record) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    /* The log record is written after the lock is let go (in order, under
     * persist_mu); a storage failure is logged: the notification happened
     * either way. */
    pthread_mutex_lock(&n->persist_mu);
    pthread_mutex_unlock(&n->mu);
    errbuf err;
    if (tsdb_kv_put(n->o.db, NS_NFLOG, rk, 32, record, strlen(record), &err))
        fprintf(stderr, "promlite: notifier: cannot store the notification log: %s\n", err.msg);
    pthread_mutex_unlock(&n->persist_mu);
    free(record);
}

/* How long a thread sleeps before looking again: until next, at most a
 * second (so a stop request or a clock jump is noticed), at least 1 ms. */
static int64_t wait_ms(int64_t now, int64_t next) {
    int64_t wait = next == INT64_MAX ? 1000 : next - now;
    return wait > 1000 ? 1000 : wait < 1 ? 1 : wait;
}

static void *worker_thread(void *arg) {
    notifier *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int64_t now = wall_ms(), next;
        delivery *d = take_due(n, now, &next);
        if (d) {
            pthread_mutex_unlock(&n->mu);
            run_delivery(n, d, now);
            pthread_mutex_lock(&n->mu);
            continue;
        }
        struct timespec ts;
        deadline_after_ms(&ts, wait_ms(now, next));
        pthread_cond_timedwait(&n->work, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

static void *dispatcher_thread(void *arg) {
    notifier *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int64_t now = wall_ms();
        int64_t next = dispatch_due(n, now);
        struct timespec ts;
        deadline_after_ms(&ts, wait_ms(now, next));
        pthread_cond_timedwait(&n->wake, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

void notifier_tick(notifier *n, int64_t now) {
    pthread_mutex_lock(&n->mu);
    dispatch_due(n, now);
    for (;;) {
        int64_t next;
        delivery *d = take_due(n, now, &next);
        if (!d) break;
        pthread_mutex_unlock(&n->mu);
        run_delivery(n, d, now);
        pthread_mutex_lock(&n->mu);
    }
    pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------ input */

/* Stores alerts (taking them) and routes them; returns the records of
 * what changed, for the caller to write with write_after_unlock(). */
static alert_writes put_alerts(notifier *n, nalert **in, size_t count, int64_t now) {
    if (n->regroup) regroup(n, now); /* groups of a new configuration start now */
    nalert **changed = xcalloc(count ? count : 1, sizeof *changed);
    size_t nchanged = 0;
    for (size_t i = 0; i < count; i++) {
        int ch;
        nalert *a = store_put(n, in[i], &ch);
        if (ch) changed[nchanged++] = a;
        dispatch(n, a, now);
    }
    alert_writes w = encode_alerts(changed, nchanged, NULL, 0);
    free(changed);
    pthread_cond_signal(&n->wake);
    return w;
}

/* Lets go of the notifier's lock, then writes w.  persist_mu is taken
 * before the lock is let go, so batches reach storage in the order their
 * changes were made. */
static void write_after_unlock(notifier *n, alert_writes *w) {
    pthread_mutex_lock(&n->persist_mu);
    pthread_mutex_unlock(&n->mu);
    write_alerts(n, w);
    pthread_mutex_unlock(&n->persist_mu);
}

void notifier_put(notifier *n, const ruler_alert *a, size_t count, int64_t now) {
    nalert **in = xcalloc(count ? count : 1, sizeof *in);
    for (size_t i = 0; i < count; i++) {
        nalert *x = xcalloc(1, sizeof *x);
        x->labels = labels_dup(a[i].labels, a[i].nlabels);
        x->nlabels = a[i].nlabels;
        x->annotations = labels_dup(a[i].annotations, a[i].nannotations);
        x->nannotations = a[i].nannotations;
        x->fp = am_fingerprint(x->labels, x->nlabels);
        x->starts_at = a[i].starts_at_ms;
        x->ends_at = a[i].ends_at_ms;
        x->updated_at = now;
        x->generator_url = a[i].generator_url ? xstrndup(a[i].generator_url, strlen(a[i].generator_url)) : NULL;
        in[i] = x;
    }
    pthread_mutex_lock(&n->mu);
    alert_writes w = put_alerts(n, in, count, now);
    write_after_unlock(n, &w);
    free(in);
}

/* Writes msg as the JSON string body of an error answer. */
static unsigned json_error(buf *out, unsigned status, const char *msg) {
    jw_cstring(out, msg);
    return status;
}

/* One postable alert, checked as Alertmanager's Alert.Validate, with its
 * defaults (startsAt now, endsAt resolve_timeout ahead as a timeout).
 * NULL with err set when it is not valid. */
static nalert *decode_postable(json_t *o, int64_t now, int64_t resolve_timeout, errbuf *err) {
    if (!json_is_object(o)) return errf(err, "each alert must be a JSON object"), NULL;
    nalert *x = xcalloc(1, sizeof *x);
    json_t *an = json_object_get(o, "annotations");
    const char *times[2] = {json_string_value(json_object_get(o, "startsAt")),
                            json_string_value(json_object_get(o, "endsAt"))};
    int64_t *dst[2] = {&x->starts_at, &x->ends_at};
    json_t *l = json_object_get(o, "labels");
    if (json_is_null(l)) l = NULL;
    if (l && !(x->labels = labels_from_json(l, &x->nlabels, 0, err))) goto bad;
    if (!x->nlabels) {
        errf(err, "at least one label pair required");
        goto bad;
    }
    if (an && !json_is_null(an)) {
        if (!(x->annotations = labels_from_json(an, &x->nannotations, 1, err))) goto bad;
    } else {
        x->annotations = labels_dup(NULL, 0);
    }
    for (int k = 0; k < 2; k++)
        if (times[k] && *times[k] && strncmp(times[k], "0001-01-01T00:00:00", 19) && parse_time(times[k], dst[k])) {
            errf(err, "invalid %s: %s", k ? "endsAt" : "startsAt", times[k]);
            goto bad;
        }
    if (!x->starts_at) x->starts_at = x->ends_at ? x->ends_at : now;
    if (x->ends_at && x->ends_at < x->starts_at) {
        errf(err, "start time must be before end time");
        goto bad;
    }
    if (!x->ends_at) {
        x->timeout = 1;
        x->ends_at = now + resolve_timeout;
    }
    const char *gu = json_string_value(json_object_get(o, "generatorURL"));
    x->generator_url = gu ? xstrndup(gu, strlen(gu)) : NULL;
    x->updated_at = now;
    x->fp = am_fingerprint(x->labels, x->nlabels);
    return x;
bad:
    nalert_free(x);
    return NULL;
}

unsigned notifier_post_json(notifier *n, const char *body, size_t len, int64_t now, buf *out) {
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root || !json_is_array(root)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", root ? "the body must be a JSON array of alerts" : je.text);
        json_decref(root);
        return json_error(out, 400, msg);
    }
    size_t count = json_array_size(root);
    nalert **in = xcalloc(count ? count : 1, sizeof *in);
    pthread_mutex_lock(&n->mu);
    int64_t resolve_timeout = n->cfg ? n->cfg->cfg->resolve_timeout_ms : 5 * 60000;
    pthread_mutex_unlock(&n->mu);
    /* Alertmanager stores the valid alerts of a batch and answers 400
     * listing the others' problems, joined with "; ". */
    buf problems = {0};
    size_t nvalid = 0;
    for (size_t i = 0; i < count; i++) {
        errbuf err;
        nalert *x = decode_postable(json_array_get(root, i), now, resolve_timeout, &err);
        if (!x) {
            if (problems.len) buf_append(&problems, "; ", 2);
            buf_append(&problems, err.msg, strlen(err.msg));
            continue;
        }
        in[nvalid++] = x;
    }
    json_decref(root);
    pthread_mutex_lock(&n->mu);
    alert_writes w = {0};
    if (nvalid) w = put_alerts(n, in, nvalid, now);
    write_after_unlock(n, &w);
    free(in);
    if (problems.len) {
        buf_append(&problems, "", 1);
        json_error(out, 400, (const char *)problems.data);
        buf_free(&problems);
        return 400;
    }
    return 200;
}

/* ------------------------------------------------------------ API */

/* Alertmanager's API writes times as go-openapi's strfmt.DateTime:
 * RFC 3339 with milliseconds, always three digits. */
static void json_time(buf *b, int64_t ms) {
    char t[64];
    if (!ms) {
        buf_printf(b, "\"0001-01-01T00:00:00.000Z\"");
        return;
    }
    format_time(ms, t, sizeof t);
    buf_printf(b, "\"%s\"", t);
}

static const char *param(const char *const *p, size_t n, const char *name, const char *def) {
    for (size_t i = 0; i + 1 < 2 * n; i += 2)
        if (!strcmp(p[i], name)) return p[i + 1];
    return def;
}

static int param_bool(const char *v) { return !v || !strcmp(v, "true") || !strcmp(v, "1"); }

unsigned notifier_alerts_json(notifier *n, const char *const *params, size_t nparams, int64_t now, buf *out) {
    am_matchers filter = {0};
    errbuf err;
    for (size_t i = 0; i + 1 < 2 * nparams; i += 2)
        if (!strcmp(params[i], "filter") && am_matcher_parse(&filter, params[i + 1], &err)) {
            am_matchers_free(&filter);
            return json_error(out, 400, err.msg);
        }
    int want_active = param_bool(param(params, nparams, "active", NULL));
    int want_silenced = param_bool(param(params, nparams, "silenced", NULL));
    int want_inhibited = param_bool(param(params, nparams, "inhibited", NULL));
    int want_unprocessed = param_bool(param(params, nparams, "unprocessed", NULL));
    const char *receiver_re = param(params, nparams, "receiver", NULL);
    am_matchers rfilter = {0};
    if (receiver_re && *receiver_re && am_matcher_add(&rfilter, AM_MATCH_RE, "receiver", receiver_re, &err)) {
        am_matchers_free(&filter);
        char msg[600];
        snprintf(msg, sizeof msg, "failed to parse receiver param: %s", err.msg);
        return json_error(out, 400, msg);
    }
    pthread_mutex_lock(&n->mu);
    inhibit_cache inhibit;
    inhibit_cache_build(n, n->cfg ? n->cfg->cfg : NULL, now, &inhibit);
    buf_append(out, "[", 1);
    int first = 1;
    buf ids = {0};
    for (size_t i = 0; i < n->nalerts; i++) {
        const nalert *a = n->alerts[i];
        if (resolved_at(a, now)) continue;
        if (filter.n && !am_matchers_match(&filter, a->labels, a->nlabels)) continue;
        const am_route *routes[MAX_ROUTES_PER_ALERT];
        size_t nr = n->cfg && n->cfg->cfg->route
                        ? am_route_match(n->cfg->cfg->route, a->labels, a->nlabels, routes, MAX_ROUTES_PER_ALERT)
                        : 0;
        if (rfilter.n) {
            int any = 0;
            for (size_t k = 0; k < nr && !any; k++) {
                label rl = {"receiver", 8, routes[k]->receiver_name, (uint32_t)strlen(routes[k]->receiver_name)};
                any = am_matchers_match(&rfilter, &rl, 1);
            }
            if (!any) continue;
        }
        buf_reset(&ids);
        size_t nsil = silenced_by(n, a->labels, a->nlabels, now, &ids);
        uint64_t inh = n->cfg ? inhibited_by(n->cfg->cfg, &inhibit, a) : 0;
        const char *state = nsil || inh ? "suppressed" : "active";
        if (!nr && !nsil && !inh && n->cfg && n->cfg->cfg->route) state = "unprocessed";
        if (!strcmp(state, "active") && !want_active) continue;
        if (!strcmp(state, "unprocessed") && !want_unprocessed) continue;
        if (nsil && !want_silenced) continue;
        if (inh && !want_inhibited) continue;
        if (!first) buf_append(out, ",", 1);
        first = 0;
        buf_printf(out, "{\"annotations\":");
        jw_labels(out, a->annotations, a->nannotations);
        buf_printf(out, ",\"endsAt\":");
        json_time(out, a->ends_at);
        buf_printf(out, ",\"fingerprint\":\"%016" PRIx64 "\",\"receivers\":[", a->fp);
        for (size_t k = 0; k < nr; k++) {
            int dup = 0;
            for (size_t j = 0; j < k && !dup; j++) dup = !strcmp(routes[j]->receiver_name, routes[k]->receiver_name);
            if (dup) continue;
            buf_printf(out, "%s{\"name\":", k ? "," : "");
            jw_cstring(out, routes[k]->receiver_name);
            buf_append(out, "}", 1);
        }
        buf_printf(out, "],\"startsAt\":");
        json_time(out, a->starts_at);
        buf_printf(out, ",\"status\":{\"inhibitedBy\":[");
        if (inh) buf_printf(out, "\"%016" PRIx64 "\"", inh);
        buf_printf(out, "],\"silencedBy\":[%.*s],\"state\":\"%s\"},\"updatedAt\":", (int)ids.len,
                   ids.data ? (const char *)ids.data : "", state);
        json_time(out, a->updated_at);
        if (a->generator_url && *a->generator_url) {
            buf_printf(out, ",\"generatorURL\":");
            jw_cstring(out, a->generator_url);
        }
        buf_printf(out, ",\"labels\":");
        jw_labels(out, a->labels, a->nlabels);
        buf_append(out, "}", 1);
    }
    buf_append(out, "]", 1);
    buf_free(&ids);
    inhibit_cache_free(&inhibit);
    pthread_mutex_unlock(&n->mu);
    am_matchers_free(&filter);
    am_matchers_free(&rfilter);
    return 200;
}

void notifier_status_json(notifier *n, int64_t now, buf *out) {
    (void)now;
    pthread_mutex_lock(&n->mu);
    int routed = n->cfg && n->cfg->cfg->route;
    pthread_mutex_unlock(&n->mu);
    buf_printf(out,
               "{\"cluster\":{\"peers\":[],\"status\":\"disabled\"},\"config\":{\"original\":\"%s\"},"
               "\"uptime\":",
               routed ? "# the alerting section of promlite's configuration" : "");
    json_time(out, n->started_at);
    /* amtool compares the version with its own and warns unless it is
     * 0.25.0: promlite answers as the Alertmanager it follows. */
    buf_printf(out, ",\"versionInfo\":{\"branch\":\"promlite\",\"buildDate\":\"\",\"buildUser\":\"\","
                    "\"goVersion\":\"\",\"revision\":\"\",\"version\":\"0.25.0\"}}");
}

void notifier_metrics(notifier *n, buf *out) {
    pthread_mutex_lock(&n->mu);
    buf_printf(out, "# HELP promlite_notifications_total Notification attempts, per receiver and integration.\n"
                    "# TYPE promlite_notifications_total counter\n");
    for (size_t i = 0; i < n->nstats; i++)
        buf_printf(out, "promlite_notifications_total{integration=\"%s\",receiver=\"%s\"} %" PRIu64 "\n",
                   n->stats[i].integration, n->stats[i].receiver, n->stats[i].total);
    buf_printf(out, "# HELP promlite_notifications_failed_total Failed notification attempts.\n"
                    "# TYPE promlite_notifications_failed_total counter\n");
    for (size_t i = 0; i < n->nstats; i++)
        buf_printf(out, "promlite_notifications_failed_total{integration=\"%s\",receiver=\"%s\"} %" PRIu64 "\n",
                   n->stats[i].integration, n->stats[i].receiver, n->stats[i].failed);
    buf_printf(out, "# HELP promlite_notification_latency_seconds Duration of notification attempts.\n"
                    "# TYPE promlite_notification_latency_seconds histogram\n");
    for (size_t i = 0; i < n->nstats; i++) {
        const integration_stats *s = &n->stats[i];
        uint64_t cum = 0;
        for (size_t b = 0; b < 6; b++) {
            cum += s->buckets[b];
            char le[16];
            if (b < 5) snprintf(le, sizeof le, "%g", latency_bounds[b]);
            else snprintf(le, sizeof le, "+Inf");
            buf_printf(out, "promlite_notification_latency_seconds_bucket{integration=\"%s\",receiver=\"%s\",le=\"%s\"} %" PRIu64 "\n",
                       s->integration, s->receiver, le, cum);
        }
        char f[FLOAT_TEXT_MAX];
        buf_printf(out, "promlite_notification_latency_seconds_sum{integration=\"%s\",receiver=\"%s\"} %s\n",
                   s->integration, s->receiver, format_float(s->latency_sum, f));
        buf_printf(out, "promlite_notification_latency_seconds_count{integration=\"%s\",receiver=\"%s\"} %" PRIu64 "\n",
                   s->integration, s->receiver, cum);
    }
    buf_printf(out, "# HELP promlite_alerts Alerts held by the notifier, by state.\n# TYPE promlite_alerts gauge\n");
    size_t firing = 0, resolved = 0;
    int64_t now = wall_ms();
    for (size_t i = 0; i < n->nalerts; i++) resolved_at(n->alerts[i], now) ? resolved++ : firing++;
    buf_printf(out, "promlite_alerts{state=\"active\"} %zu\npromlite_alerts{state=\"resolved\"} %zu\n", firing, resolved);
    buf_printf(out, "# HELP promlite_notification_queue_length Notifications waiting for delivery.\n"
                    "# TYPE promlite_notification_queue_length gauge\n");
    size_t q = 0;
    for (delivery *d = n->queue; d; d = d->next) q++;
    buf_printf(out, "promlite_notification_queue_length %zu\n", q);
    pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------ lifecycle */

static int load_alert(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    notifier *n = ctx;
    (void)key;
    (void)klen;
    json_error_t je;
    json_t *o = json_loadb(val, vlen, 0, &je);
    errbuf err;
    nalert *a = xcalloc(1, sizeof *a);
    if (!o || !(a->labels = labels_from_json(json_object_get(o, "labels"), &a->nlabels, 0, &err)) ||
        !(a->annotations = labels_from_json(json_object_get(o, "annotations"), &a->nannotations, 1, &err))) {
        fprintf(stderr, "promlite: notifier: skipping a damaged alert record\n");
        json_decref(o);
        nalert_free(a);
        return 0;
    }
    a->starts_at = json_ms(o, "startsAt");
    a->ends_at = json_ms(o, "endsAt");
    a->updated_at = json_ms(o, "updatedAt");
    a->timeout = json_is_true(json_object_get(o, "timeout"));
    const char *gu = json_string_value(json_object_get(o, "generatorURL"));
    a->generator_url = gu && *gu ? xstrndup(gu, strlen(gu)) : NULL;
    a->fp = am_fingerprint(a->labels, a->nlabels);
    json_decref(o);
    int changed;
    store_put(n, a, &changed);
    return 0;
}

static int cmp_log_entries(const void *a, const void *b) {
    return strcmp((*(nflog_entry *const *)a)->key, (*(nflog_entry *const *)b)->key);
}

static int load_log(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    notifier *n = ctx;
    (void)key;
    (void)klen;
    json_error_t je;
    json_t *o = json_loadb(val, vlen, 0, &je);
    const char *full = json_string_value(json_object_get(o, "key"));
    if (!o || !full) {
        fprintf(stderr, "promlite: notifier: skipping a damaged notification log record\n");
        json_decref(o);
        return 0;
    }
    nflog_entry *e = xcalloc(1, sizeof *e);
    e->key = xstrndup(full, strlen(full));
    e->ts = json_ms(o, "ts");
    e->firing = fps_from_json(json_object_get(o, "firing"), &e->nfiring);
    e->resolved = fps_from_json(json_object_get(o, "resolved"), &e->nresolved);
    json_decref(o);
    if (n->nlog == n->caplog) {
        n->caplog = n->caplog ? n->caplog * 2 : 64;
        n->log = xrealloc(n->log, n->caplog * sizeof *n->log);
    }
    n->log[n->nlog++] = e; /* sorted by key once all are read */
    return 0;
}

int notifier_open(const notifier_options *o, notifier **out, errbuf *err) {
    notifier *n = xcalloc(1, sizeof *n);
    n->o = *o;
    if (!n->o.workers) n->o.workers = 2;
    if (!n->o.attempt_timeout_ms) n->o.attempt_timeout_ms = DEFAULT_ATTEMPT_TIMEOUT_MS;
    if (!n->o.max_backoff_ms) n->o.max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
    const char *u = o->external_url ? o->external_url : "";
    n->external_url = xstrndup(u, strlen(u));
    n->o.external_url = n->external_url;
    const char *ua = o->user_agent ? o->user_agent : "promlite";
    n->user_agent = xstrndup(ua, strlen(ua));
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->persist_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->wake, &ca);
    pthread_cond_init(&n->work, &ca);
    pthread_condattr_destroy(&ca);
    if (tsdb_kv_each(o->db, NS_ALERTS, load_alert, n, err) || tsdb_kv_each(o->db, NS_NFLOG, load_log, n, err)) {
        notifier_close(n);
        return -1;
    }
    if (n->nlog) qsort(n->log, n->nlog, sizeof *n->log, cmp_log_entries);
    n->started_at = wall_ms();
    n->last_gc = o->manual ? 0 : wall_ms();
    if (!o->manual) {
        n->has_dispatcher = pthread_create(&n->dispatcher, NULL, dispatcher_thread, n) == 0;
        n->workers = xcalloc(n->o.workers, sizeof *n->workers);
        for (unsigned i = 0; i < n->o.workers; i++)
            if (pthread_create(&n->workers[i], NULL, worker_thread, n) == 0) n->nworkers++;
    }
    *out = n;
    return 0;
}

void notifier_apply(notifier *n, am_config *cfg) {
    cfg_ref *r = NULL;
    if (cfg) {
        r = xcalloc(1, sizeof *r);
        r->cfg = cfg;
        r->refs = 1;
    }
    pthread_mutex_lock(&n->mu);
    cfg_ref *old = n->cfg;
    n->cfg = r;
    n->regroup = 1;
    /* Groups point into the old configuration's routes: drop them now. */
    for (size_t i = 0; i < n->ngroups; i++) group_free(n->groups[i]);
    n->ngroups = 0;
    cfg_release(old);
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->mu);
}

void notifier_close(notifier *n) {
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_broadcast(&n->wake);
    pthread_cond_broadcast(&n->work);
    pthread_mutex_unlock(&n->mu);
    if (n->has_dispatcher) pthread_join(n->dispatcher, NULL);
    for (unsigned i = 0; i < n->nworkers; i++) pthread_join(n->workers[i], NULL);
    free(n->workers);
    for (delivery *d = n->queue, *next; d; d = next) {
        next = d->next;
        delivery_free(d);
    }
    for (size_t i = 0; i < n->ngroups; i++) group_free(n->groups[i]);
    free(n->groups);
    for (size_t i = 0; i < n->nalerts; i++) nalert_free(n->alerts[i]);
    free(n->alerts);
    for (size_t i = 0; i < n->nlog; i++) log_entry_free(n->log[i]);
    free(n->log);
    for (size_t i = 0; i < n->nstats; i++) free(n->stats[i].receiver);
    free(n->stats);
    cfg_release(n->cfg);
    silence_ids_free(&n->silenced);
    free(n->external_url);
    free(n->user_agent);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->persist_mu);
    pthread_cond_destroy(&n->wake);
    pthread_cond_destroy(&n->work);
    free(n);
}
