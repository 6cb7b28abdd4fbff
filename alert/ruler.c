/*
 * ruler.c - the rule manager: group threads, rule evaluation, the alert
 * state machine, restoring `for` state, reloads and the rules API (see
 * ruler.h).
 *
 * Design.  A group is a group_rt with one rule_rt per rule.  Its thread
 * sleeps until the next slot (base + offset + k * interval), evaluates
 * every rule at the slot's time and goes back to sleep; slots missed while
 * an evaluation ran too long are skipped and counted, as Prometheus does.
 * Only the group's thread changes its state; the API reads it under the
 * group's `lock`, which the thread takes only to publish changes, never
 * while a query runs.  A second lock, `eval_lock`, is held for a whole
 * evaluation so that a reload can swap the definitions a group reads
 * between two evaluations.
 *
 * The alert state machine follows Prometheus 2.42's AlertingRule.Eval line
 * by line (see alerting_eval), because users rely on its exact timing: a
 * pending alert fires at the first evaluation at least `for` after it
 * became active; an alert that stops matching while firing keeps firing
 * for `keep_firing_for`, then resolves and is kept 15 minutes to be
 * reported as resolved; a pending alert that stops matching is dropped.
 *
 * Staleness: each rule keeps the refs of the series it wrote at its last
 * successful evaluation (sorted), and writes a staleness marker for each
 * ref missing from the new set, as Prometheus does with
 * seriesInPreviousEval.
 *
 * Memory: each evaluation of a rule gets a pq_arena for its query and
 * scratch labels, freed at the end of the rule.  Alerts own their labels
 * and annotations in one allocation each (lset).
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "alert/ruler.h"
#include "alert/template.h"
#include "common/timeutil.h"
#include "web/json.h"

#define RESOLVED_RETENTION_MS (15 * 60 * 1000)
#define DEFAULT_INTERVAL_MS 60000
#define DEFAULT_RESEND_DELAY_MS 60000
#define DEFAULT_GRACE_PERIOD_MS (10 * 60 * 1000)
#define DEFAULT_OUTAGE_TOLERANCE_MS (60 * 60 * 1000)

/* ------------------------------------------------------------ label sets */

/* A label set that owns its bytes (labels_dup: one allocation), so an
 * alert is freed with one call per set. */
typedef struct {
    label *v;
    size_t n;
} lset;

static lset lset_copy(const label *l, size_t n) { return (lset){labels_dup(l, n), n}; }

static void lset_free(lset *s) {
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* A label set under construction, in a query arena: Prometheus's
 * labels.Builder (Set with an empty value deletes). */
typedef struct {
    label *v;
    size_t n, cap;
    pq_arena *a;
} lbuilder;

static void lb_init(lbuilder *b, pq_arena *a, const label *from, size_t n, size_t extra) {
    b->a = a;
    b->cap = n + extra + 1;
    b->v = pq_alloc(a, b->cap * sizeof *b->v);
    b->n = 0;
    for (size_t i = 0; i < n; i++) b->v[b->n++] = from[i];
}

static void lb_del(lbuilder *b, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) {
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof *b->v);
            b->n--;
            return;
        }
}

/* Sets name to value (both copied into the arena); an empty value
 * deletes the label. */
static void lb_set(lbuilder *b, const char *name, const char *value, size_t vlen) {
    lb_del(b, name);
    if (!vlen) return;
    if (b->n == b->cap) {
        label *nv = pq_alloc(b->a, b->cap * 2 * sizeof *nv);
        memcpy(nv, b->v, b->n * sizeof *nv);
        b->v = nv;
        b->cap *= 2;
    }
    size_t nlen = strlen(name);
    b->v[b->n++] = (label){pq_strndup(b->a, name, nlen), (uint32_t)nlen, pq_strndup(b->a, value, vlen),
                           (uint32_t)vlen};
}

static void lb_finish(lbuilder *b) { labels_sort(b->v, b->n); }

/* ------------------------------------------------------------ state */

typedef enum { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING } alert_state;
static const char *const alert_state_names[] = {"inactive", "pending", "firing"};

/* One alert of an alerting rule (Prometheus's rules.Alert).  Times are ms
 * since the epoch; 0 means "not set", as Go's zero time. */
typedef struct active_alert {
    uint64_t hash;
    lset labels, annotations;
    alert_state state;
    double value;
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
} active_alert;

typedef enum { HEALTH_UNKNOWN, HEALTH_OK, HEALTH_ERR } rule_health;
static const char *const health_names[] = {"unknown", "ok", "err"};

typedef struct {
    tsdb_ref *v;
    size_t n, cap;
} ref_set;

typedef struct rule_rt {
    const rule_def *def;
    active_alert **active;      /* sorted by hash */
    size_t nactive, capactive;
    int restored;
    ref_set prev;               /* series written by the last evaluation */
    rule_health health;
    char last_error[512];
    int64_t last_eval_ms;       /* wall clock at the rule's start */
    double eval_seconds;
} rule_rt;

typedef struct group_rt {
    ruler *r;
    const rule_group_def *def;
    rule_rt *rules;
    size_t nrules;
    int64_t interval_ms;
    pthread_mutex_t lock;       /* state the API reads */
    pthread_mutex_t eval_lock;  /* held for a whole evaluation */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    int stop;
    int mark_stale;             /* when stopping: a removed group */
    pthread_t thread;
    int has_thread;
    uint64_t evaluations, failures, missed;
    int should_restore;
    ref_set orphans;            /* series of rules a reload removed: stale at the next evaluation */
    int64_t last_eval_ms;
    double eval_seconds;
} group_rt;

struct ruler {
    ruler_options o;
    int64_t default_interval_ms;
    pthread_rwlock_t external_lock; /* external: read by evaluations, swapped by ruler_apply */
    lset external;
    char *external_url;
    pthread_mutex_t lock;       /* the groups array */
    group_rt **groups;
    size_t ngroups;
    rule_set *set;
    int loaded;                 /* the first ruler_apply is done */
};

/* ------------------------------------------------------------ helpers */

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_ref(const void *a, const void *b) {
    tsdb_ref x = *(const tsdb_ref *)a, y = *(const tsdb_ref *)b;
    return x < y ? -1 : x > y;
}

static void refs_add(ref_set *s, tsdb_ref r) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = r;
}

/* Sorts and removes duplicates (a ref written twice in one evaluation is
 * one series). */
static void refs_finish(ref_set *s) {
    if (!s->n) return;
    qsort(s->v, s->n, sizeof *s->v, cmp_ref);
    size_t o = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[o - 1]) s->v[o++] = s->v[i];
    s->n = o;
}

static int refs_has(const ref_set *s, tsdb_ref r) {
    return s->n && bsearch(&r, s->v, s->n, sizeof *s->v, cmp_ref) != NULL;
}

static void alert_free(active_alert *a) {
    lset_free(&a->labels);
    lset_free(&a->annotations);
    free(a);
}

static void rule_rt_clear(rule_rt *rr) {
    for (size_t i = 0; i < rr->nactive; i++) alert_free(rr->active[i]);
    free(rr->active);
    rr->active = NULL;
    rr->nactive = rr->capactive = 0;
    free(rr->prev.v);
    rr->prev = (ref_set){0};
}

/* The index of the alert with this hash, or where it would go. */
static size_t alert_find(const rule_rt *rr, uint64_t hash, int *found) {
    size_t lo = 0, hi = rr->nactive;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rr->active[mid]->hash < hash) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < rr->nactive && rr->active[lo]->hash == hash;
    return lo;
}

static void alert_insert(rule_rt *rr, size_t at, active_alert *a) {
    if (rr->nactive == rr->capactive) {
        rr->capactive = rr->capactive ? rr->capactive * 2 : 8;
        rr->active = xrealloc(rr->active, rr->capactive * sizeof *rr->active);
    }
    memmove(&rr->active[at + 1], &rr->active[at], (rr->nactive - at) * sizeof *rr->active);
    rr->active[at] = a;
    rr->nactive++;
}

/* Formats v as Go's strconv.FormatFloat(v, 'e', -1, 64): the shortest
 * mantissa that reads back to v ("1e+00", "1.5e+00", "2.5e-07"), which is
 * how the rules and alerts APIs write an alert's value. */
static void format_float_e(double v, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 0; prec < 17; prec++) {
        snprintf(out, cap, "%.*e", prec, v);
        if (strtod(out, NULL) == v) return;
    }
    snprintf(out, cap, "%.16e", v);
}

/* Go's url.QueryEscape: unreserved bytes stay, space becomes '+', the
 * rest %XX. */
static void query_escape(buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~')
            buf_append(b, p, 1);
        else if (*p == ' ')
            buf_append(b, "+", 1);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

/* ------------------------------------------------------------ queries */

typedef struct {
    const label *l;
    size_t n;
    double v;
} vsample;

/* Prometheus's EngineQueryFunc: the expression as an instant query at t;
 * a scalar becomes one sample without labels. */
static int run_query(ruler *r, const rule_def *d, pq_arena *a, int64_t t, vsample **out, size_t *n, errbuf *err) {
    pq_result res;
    *out = NULL;
    *n = 0;
    if (pq_eval_tree(r->o.db, &r->o.query, a, d->tree, t, t, 1, 1, &res, err)) return -1;
    if (res.type == PQ_TYPE_SCALAR) {
        *out = pq_alloc(a, sizeof **out);
        (*out)[0] = (vsample){NULL, 0, res.scalar};
        *n = 1;
        return 0;
    }
    if (res.type != PQ_TYPE_VECTOR) return errf(err, "rule result is not a vector or scalar");
    *out = pq_alloc(a, (res.nseries ? res.nseries : 1) * sizeof **out);
    for (size_t i = 0; i < res.nseries; i++)
        if (res.series[i].n) (*out)[(*n)++] = (vsample){res.series[i].labels, res.series[i].nlabels, res.series[i].v[0]};
    return 0;
}

/* ------------------------------------------------------------ templates */

/* Expands one label or annotation template of an alerting rule for one
 * sample, with Prometheus's data (.Labels, .ExternalLabels, .ExternalURL,
 * .Value).  A failure becomes the text "<error expanding template: ...>",
 * as Prometheus does, so an alert is never dropped for its template. */
typedef struct {
    ruler *r;
    int64_t ts;
} template_query_ctx;

/* The templates' query function: an instant query at the evaluation's
 * time, a scalar becoming one sample without labels (as the rules'
 * own queries). */
static int template_query(void *ctx, const char *q, size_t len, tmpl_data *d, const tmpl_value **out, errbuf *err) {
    template_query_ctx *c = ctx;
    pq_arena *a = pq_arena_new();
    pq_result res;
    if (pq_query_instant(c->r->o.db, &c->r->o.query, a, q, len, c->ts, &res, err)) {
        pq_arena_free(a);
        return -1;
    }
    int rc = 0;
    tmpl_value *list = tmpl_list(d, TMPL_LIST_SAMPLES, res.nseries ? res.nseries : 1);
    if (res.type == PQ_TYPE_SCALAR) {
        tmpl_list_push(d, list, tmpl_sample(d, NULL, 0, res.scalar));
    } else if (res.type == PQ_TYPE_VECTOR) {
        for (size_t i = 0; i < res.nseries; i++) {
            const pq_series *s = &res.series[i];
            const label *l = tmpl_data_copy_labels(d, s->labels, s->nlabels);
            tmpl_list_push(d, list, tmpl_sample(d, l, s->nlabels, s->v[0]));
        }
    } else {
        rc = errf(err, "rule result is not a vector or scalar");
    }
    pq_arena_free(a);
    *out = list;
    return rc;
}

static void expand_template(ruler *r, const char *alert, const tmpl *t, const label *labels, size_t n, double value,
                            int64_t ts, buf *out) {
    tmpl_data *d = tmpl_data_new();
    template_query_ctx qc = {r, ts};
    tmpl_exec_options o = {.query = template_query, .query_ctx = &qc, .external_url = r->external_url};
    errbuf err;
    pthread_rwlock_rdlock(&r->external_lock);
    const tmpl_value *dot = tmpl_alert_data(d, labels, n, r->external.v, r->external.n, r->external_url, value);
    if (tmpl_execute(t, dot, &o, out, &err))
        buf_printf(out, "<error expanding template: error executing template __alert_%s: %s>", alert, err.msg);
    pthread_rwlock_unlock(&r->external_lock);
    tmpl_data_free(d);
}

/* ------------------------------------------------------------ output */

typedef struct {
    label *l;
    size_t n;
    double v;
} out_sample;

typedef struct {
    out_sample *v;
    size_t n, cap;
    pq_arena *a;
} out_vec;

static void out_add(out_vec *o, label *l, size_t n, double v) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        out_sample *nv = pq_alloc(o->a, cap * sizeof *nv);
        if (o->n) memcpy(nv, o->v, o->n * sizeof *nv);
        o->v = nv;
        o->cap = cap;
    }
    o->v[o->n++] = (out_sample){l, n, v};
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether two samples of a vector have the same label set. */
static int has_duplicate_labelsets(const out_vec *o) {
    if (o->n < 2) return 0;
    uint64_t *h = pq_alloc(o->a, o->n * sizeof *h);
    for (size_t i = 0; i < o->n; i++) h[i] = labels_hash(o->v[i].l, o->v[i].n);
    qsort(h, o->n, sizeof *h, cmp_u64);
    for (size_t i = 1; i < o->n; i++)
        if (h[i] == h[i - 1]) return 1;
    return 0;
}

/* Prometheus's RecordingRule.Eval: the name and the rule's labels set on
 * each sample; a repeated label set or too many series is an error. */
static int recording_eval(group_rt *g, rule_rt *rr, const vsample *in, size_t n, out_vec *out, errbuf *err) {
    const rule_def *d = rr->def;
    for (size_t i = 0; i < n; i++) {
        lbuilder b;
        lb_init(&b, out->a, in[i].l, in[i].n, d->nlabels + 1);
        lb_set(&b, METRIC_NAME_LABEL, d->name, strlen(d->name));
        for (size_t k = 0; k < d->nlabels; k++) lb_set(&b, d->labels[k].name, d->labels[k].value, d->labels[k].value_len);
        lb_finish(&b);
        out_add(out, b.v, b.n, in[i].v);
    }
    if (has_duplicate_labelsets(out))
        return errf(err, "vector contains metrics with the same labelset after applying rule labels");
    if (g->def->limit && out->n > g->def->limit)
        return errf(err, "exceeded limit of %" PRIu64 " with %zu series", g->def->limit, out->n);
    return 0;
}

/* The ALERTS sample of an alert: its labels, __name__="ALERTS" and
 * alertstate. */
static void alert_series(out_vec *out, const active_alert *a, const char *metric, const char *state, double v) {
    lbuilder b;
    lb_init(&b, out->a, a->labels.v, a->labels.n, 2);
    lb_set(&b, METRIC_NAME_LABEL, metric, strlen(metric));
    if (state) lb_set(&b, "alertstate", state, strlen(state));
    lb_finish(&b);
    out_add(out, b.v, b.n, v);
}

/* Prometheus 2.42's AlertingRule.Eval: builds the alerts of this
 * evaluation from the query result, merges them into the active set and
 * advances each alert's state at time ts; the ALERTS and ALERTS_FOR_STATE
 * samples go to out (once the rule's state has been restored). */
static int alerting_eval(group_rt *g, rule_rt *rr, const vsample *in, size_t n, int64_t ts, out_vec *out,
                         errbuf *err) {
    ruler *r = g->r;
    const rule_def *d = rr->def;
    pq_arena *a = out->a;
    active_alert **fresh = pq_alloc(a, (n ? n : 1) * sizeof *fresh);
    uint64_t *hashes = pq_alloc(a, (n ? n : 1) * sizeof *hashes);
    buf text = {0};
    int rc = 0;
    size_t nfresh = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        lbuilder b;
        lb_init(&b, a, in[i].l, in[i].n, d->nlabels + 1);
        lb_del(&b, METRIC_NAME_LABEL);
        for (size_t k = 0; k < d->nlabels; k++) {
            buf_reset(&text);
            expand_template(r, d->name, d->label_templates[k], in[i].l, in[i].n, in[i].v, ts, &text);
            lb_set(&b, d->labels[k].name, (const char *)text.data, text.len);
        }
        lb_set(&b, "alertname", d->name, strlen(d->name));
        lb_finish(&b);
        label *ann = pq_alloc(a, (d->nannotations ? d->nannotations : 1) * sizeof *ann);
        for (size_t k = 0; k < d->nannotations; k++) {
            buf_reset(&text);
            expand_template(r, d->name, d->annotation_templates[k], in[i].l, in[i].n, in[i].v, ts, &text);
            ann[k] = (label){d->annotations[k].name, d->annotations[k].name_len,
                             pq_strndup(a, text.data ? (const char *)text.data : "", text.len), (uint32_t)text.len};
        }
        uint64_t h = labels_hash(b.v, b.n);
        for (size_t j = 0; j < nfresh; j++)
            if (hashes[j] == h) rc = errf(err, "vector contains metrics with the same labelset after applying alert labels");
        if (rc) break;
        active_alert *al = xcalloc(1, sizeof *al);
        al->hash = h;
        al->labels = lset_copy(b.v, b.n);
        al->annotations = lset_copy(ann, d->nannotations);
        al->state = ALERT_PENDING;
        al->value = in[i].v;
        al->active_at = ts;
        hashes[nfresh] = h;
        fresh[nfresh++] = al;
    }
    buf_free(&text);
    if (rc) {
        for (size_t j = 0; j < nfresh; j++) alert_free(fresh[j]);
        return rc;
    }
    qsort(hashes, nfresh, sizeof *hashes, cmp_u64);

    pthread_mutex_lock(&g->lock);
    /* Update the value and annotations of alerts already active; add the
     * others as pending. */
    for (size_t j = 0; j < nfresh; j++) {
        int found;
        size_t at = alert_find(rr, fresh[j]->hash, &found);
        if (found && rr->active[at]->state != ALERT_INACTIVE) {
            active_alert *cur = rr->active[at];
            cur->value = fresh[j]->value;
            lset_free(&cur->annotations);
            cur->annotations = fresh[j]->annotations;
            fresh[j]->annotations = (lset){0};
            alert_free(fresh[j]);
            continue;
        }
        if (found) {
            alert_free(rr->active[at]);
            rr->active[at] = fresh[j];
        } else {
            alert_insert(rr, at, fresh[j]);
        }
    }
    /* Advance every alert; drop pending alerts that stopped matching and
     * resolved alerts past their retention. */
    size_t active_pending = 0, keep = 0;
    for (size_t j = 0; j < rr->nactive; j++) {
        active_alert *al = rr->active[j];
        uint64_t h = al->hash;
        int in_result = nfresh && bsearch(&h, hashes, nfresh, sizeof *hashes, cmp_u64) != NULL;
        if (!in_result) {
            int keep_firing = 0;
            if (al->state == ALERT_FIRING && d->keep_firing_for_ms > 0) {
                if (!al->keep_firing_since) al->keep_firing_since = ts;
                if (ts - al->keep_firing_since < d->keep_firing_for_ms) keep_firing = 1;
            }
            if (!keep_firing) {
                if (al->state == ALERT_PENDING || (al->resolved_at && ts - al->resolved_at > RESOLVED_RETENTION_MS)) {
                    alert_free(al);
                    continue;
                }
                if (al->state != ALERT_INACTIVE) {
                    al->state = ALERT_INACTIVE;
                    al->resolved_at = ts;
                }
                rr->active[keep++] = al;
                continue;
            }
        } else {
            al->keep_firing_since = 0;
        }
        active_pending++;
        if (al->state == ALERT_PENDING && ts - al->active_at >= d->for_ms) {
            al->state = ALERT_FIRING;
            al->fired_at = ts;
        }
        if (rr->restored) {
            alert_series(out, al, "ALERTS", alert_state_names[al->state], 1);
            alert_series(out, al, "ALERTS_FOR_STATE", NULL, (double)(al->active_at / 1000));
        }
        rr->active[keep++] = al;
    }
    rr->nactive = keep;
    if (g->def->limit && active_pending > g->def->limit) {
        for (size_t j = 0; j < rr->nactive; j++) alert_free(rr->active[j]);
        rr->nactive = 0;
        out->n = 0;
        rc = errf(err, "exceeded limit of %" PRIu64 " with %zu alerts", g->def->limit, active_pending);
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

/* Prometheus's sendAlerts: alerts that need sending (firing ones every
 * resend delay, resolved ones once) go to the notifier, with the
 * external labels added (as Prometheus's notifier adds them) and the
 * generator URL of the rule's expression. */
static void send_alerts(group_rt *g, rule_rt *rr, int64_t ts) {
    ruler *r = g->r;
    if (!r->o.notify) return;
    int64_t delay = r->o.resend_delay_ms, delta = g->interval_ms > delay ? g->interval_ms : delay;
    buf url = {0};
    buf_printf(&url, "%s/graph?g0.expr=", r->external_url);
    query_escape(&url, rr->def->query);
    buf_append(&url, "&g0.tab=1", 10);
    pq_arena *a = pq_arena_new();
    ruler_alert *out = NULL;
    size_t n = 0;
    pthread_mutex_lock(&g->lock);
    out = pq_alloc(a, (rr->nactive ? rr->nactive : 1) * sizeof *out);
    for (size_t j = 0; j < rr->nactive; j++) {
        active_alert *al = rr->active[j];
        if (al->state == ALERT_PENDING) continue;
        int needs = al->resolved_at > al->last_sent_at || al->last_sent_at + delay < ts;
        if (!needs) continue;
        al->last_sent_at = ts;
        al->valid_until = ts + 4 * delta;
        lbuilder b;
        pthread_rwlock_rdlock(&r->external_lock);
        lb_init(&b, a, al->labels.v, al->labels.n, r->external.n);
        for (size_t k = 0; k < r->external.n; k++)
            if (!labels_get(b.v, b.n, r->external.v[k].name, r->external.v[k].name_len))
                lb_set(&b, r->external.v[k].name, r->external.v[k].value, r->external.v[k].value_len);
        pthread_rwlock_unlock(&r->external_lock);
        lb_finish(&b);
        lset ann = al->annotations;
        label *annc = pq_alloc(a, (ann.n ? ann.n : 1) * sizeof *annc);
        for (size_t k = 0; k < ann.n; k++)
            annc[k] = (label){pq_strndup(a, ann.v[k].name, ann.v[k].name_len), ann.v[k].name_len,
                              pq_strndup(a, ann.v[k].value, ann.v[k].value_len), ann.v[k].value_len};
        out[n++] = (ruler_alert){b.v,
                                 b.n,
                                 annc,
                                 ann.n,
                                 al->fired_at,
                                 al->resolved_at ? al->resolved_at : al->valid_until,
                                 al->resolved_at != 0,
                                 (const char *)url.data};
    }
    pthread_mutex_unlock(&g->lock);
    if (n) r->o.notify(r->o.notify_ctx, out, n);
    pq_arena_free(a);
    buf_free(&url);
}

/* Writes the samples of one rule's evaluation and the staleness markers of
 * series it no longer writes, then commits.  On success the rule's series
 * set becomes this evaluation's. */
static int write_output(group_rt *g, rule_rt *rr, tsdb_appender *app, const out_vec *out, int64_t ts, errbuf *err) {
    ref_set now = {0};
    int rc = 0;
    errbuf e;
    for (size_t i = 0; i < out->n; i++) {
        tsdb_ref ref;
        if (tsdb_appender_ref(app, out->v[i].l, out->v[i].n, &ref, &e)) {
            if (!rc) rc = errf(err, "%s", e.msg);
            continue;
        }
        tsdb_appender_add(app, ref, ts, out->v[i].v);
        refs_add(&now, ref);
    }
    refs_finish(&now);
    union {
        uint64_t u;
        double d;
    } stale = {STALE_NAN_BITS};
    for (size_t i = 0; i < rr->prev.n; i++)
        if (!refs_has(&now, rr->prev.v[i])) tsdb_appender_add(app, rr->prev.v[i], ts, stale.d);
    tsdb_append_stats st;
    if (tsdb_appender_commit(app, &st, &e)) {
        free(now.v);
        return errf(err, "%s", e.msg);
    }
    free(rr->prev.v);
    rr->prev = now;
    (void)g;
    return rc;
}

/* Evaluates one rule at ts: query, state, notification, storage. */
static void eval_rule(group_rt *g, rule_rt *rr, tsdb_appender *app, int64_t ts) {
    ruler *r = g->r;
    int64_t started = wall_ms();
    double t0 = mono_seconds();
    pq_arena *a = pq_arena_new();
    errbuf err;
    vsample *in;
    size_t n;
    out_vec out = {.a = a};
    int rc = run_query(r, rr->def, a, ts, &in, &n, &err);
    if (!rc)
        rc = rr->def->kind == RULE_RECORDING ? recording_eval(g, rr, in, n, &out, &err)
                                             : alerting_eval(g, rr, in, n, ts, &out, &err);
    if (!rc && rr->def->kind == RULE_ALERTING) send_alerts(g, rr, ts);
    if (!rc) rc = write_output(g, rr, app, &out, ts, &err);
    pq_arena_free(a);
    pthread_mutex_lock(&g->lock);
    rr->health = rc ? HEALTH_ERR : HEALTH_OK;
    if (rc) snprintf(rr->last_error, sizeof rr->last_error, "%s", err.msg);
    else rr->last_error[0] = 0;
    rr->last_eval_ms = started;
    rr->eval_seconds = mono_seconds() - t0;
    if (rc) g->failures++;
    pthread_mutex_unlock(&g->lock);
}

/* Prometheus's Group.RestoreForState: for each alerting rule with a `for`
 * of at least the grace period, the alerts active now get the activeAt
 * their ALERTS_FOR_STATE series held before the restart, moved forward
 * by the downtime or to leave at least the grace period, so an alert
 * neither starts its `for` over nor fires the instant the server is
 * back. */
static void restore_for_state(group_rt *g, int64_t ts) {
    ruler *r = g->r;
    int64_t mint = ts - r->o.outage_tolerance_ms;
    tsdb_reader *rd = NULL;
    errbuf err;
    if (tsdb_reader_open(r->o.db, &rd, &err)) {
        fprintf(stderr, "promlite: rules: group %s: cannot restore alert state: %s\n", g->def->name, err.msg);
        rd = NULL;
    }
    /* Only this group's thread changes its alerts, so they are read here
     * without the lock, which is taken only to publish changes: the API
     * is not held up by storage reads. */
    for (size_t i = 0; i < g->nrules; i++) {
        rule_rt *rr = &g->rules[i];
        if (rr->def->kind != RULE_ALERTING) continue;
        int64_t hold = rr->def->for_ms;
        if (hold < r->o.for_grace_period_ms || !rd) {
            pthread_mutex_lock(&g->lock);
            rr->restored = 1;
            pthread_mutex_unlock(&g->lock);
            continue;
        }
        for (size_t j = 0; j < rr->nactive; j++) {
            active_alert *al = rr->active[j];
            if (al->state == ALERT_INACTIVE) continue;
            /* The alert's ALERTS_FOR_STATE series: its labels and the name. */
            size_t nm = al->labels.n + 1;
            matcher *m = xcalloc(nm, sizeof *m);
            int ok = 1;
            for (size_t k = 0; k < al->labels.n && ok; k++)
                ok = !matcher_init(&m[k], MATCH_EQ, al->labels.v[k].name, al->labels.v[k].name_len,
                                   al->labels.v[k].value, al->labels.v[k].value_len, &err);
            ok = ok && !matcher_init(&m[al->labels.n], MATCH_EQ, METRIC_NAME_LABEL, 8, "ALERTS_FOR_STATE", 16, &err);
            const tsdb_series *ss;
            size_t ns = 0;
            if (ok && tsdb_select(rd, m, nm, mint, ts, &ss, &ns, &err)) ok = 0;
            int64_t t = 0;
            double v = 0;
            int have = 0;
            for (size_t s = 0; ok && s < ns && !have; s++) {
                if (ss[s].nlabels != nm) continue; /* a superset of the alert's labels */
                have = tsdb_read_last(rd, ss[s].ref, mint, ts, &t, &v, &err) == 1;
            }
            matchers_free(m, nm);
            union {
                double d;
                uint64_t u;
            } bits = {v};
            if (!have || bits.u == STALE_NAN_BITS || isnan(v)) continue;
            int64_t down_at = t / 1000 * 1000, active_at = (int64_t)v * 1000;
            int64_t remaining = hold - (down_at - active_at);
            if (remaining <= 0) {
                /* It was firing: it fires again at the next evaluation. */
            } else if (remaining < r->o.for_grace_period_ms) {
                active_at = ts + r->o.for_grace_period_ms - hold;
            } else {
                active_at += ts - down_at;
            }
            pthread_mutex_lock(&g->lock);
            al->active_at = active_at;
            pthread_mutex_unlock(&g->lock);
        }
        pthread_mutex_lock(&g->lock);
        rr->restored = 1;
        pthread_mutex_unlock(&g->lock);
    }
    if (rd) tsdb_reader_close(rd);
}

/* Staleness markers for the series of rules a reload removed (Prometheus's
 * staleSeries), except those a rule of this group wrote just now (a rule
 * renamed into another's series). */
static void write_orphans_stale(group_rt *g, tsdb_appender *app, int64_t ts) {
    union {
        uint64_t u;
        double d;
    } stale = {STALE_NAN_BITS};
    refs_finish(&g->orphans);
    for (size_t i = 0; i < g->orphans.n; i++) {
        int written = 0;
        for (size_t k = 0; k < g->nrules && !written; k++) written = refs_has(&g->rules[k].prev, g->orphans.v[i]);
        if (!written) tsdb_appender_add(app, g->orphans.v[i], ts, stale.d);
    }
    errbuf err;
    if (tsdb_appender_commit(app, NULL, &err))
        fprintf(stderr, "promlite: rules: group %s: cannot mark removed rules' series stale: %s\n", g->def->name,
                err.msg);
    free(g->orphans.v);
    g->orphans = (ref_set){0};
}

/* One evaluation of the whole group at ts (the slot's time). */
static void eval_group(group_rt *g, int64_t ts) {
    pthread_mutex_lock(&g->eval_lock);
    int64_t started = wall_ms();
    double t0 = mono_seconds();
    tsdb_appender *app = tsdb_appender_new(g->r->o.db);
    for (size_t i = 0; i < g->nrules; i++) eval_rule(g, &g->rules[i], app, ts);
    if (g->orphans.n) write_orphans_stale(g, app, ts);
    tsdb_appender_free(app);
    pthread_mutex_lock(&g->lock);
    g->evaluations++;
    g->last_eval_ms = started;
    g->eval_seconds = mono_seconds() - t0;
    pthread_mutex_unlock(&g->lock);
    /* Prometheus restores after the second evaluation, when recording
     * rules the alerts depend on have had a chance to run. */
    if (g->should_restore && g->evaluations >= 2) {
        restore_for_state(g, g->r->o.manual ? ts : wall_ms());
        g->should_restore = 0;
    }
    pthread_mutex_unlock(&g->eval_lock);
}

/* Writes staleness markers for every series the group wrote last (a
 * removed group). */
static void mark_group_stale(group_rt *g, int64_t ts) {
    tsdb_appender *app = tsdb_appender_new(g->r->o.db);
    union {
        uint64_t u;
        double d;
    } stale = {STALE_NAN_BITS};
    for (size_t i = 0; i < g->nrules; i++)
        for (size_t j = 0; j < g->rules[i].prev.n; j++) tsdb_appender_add(app, g->rules[i].prev.v[j], ts, stale.d);
    errbuf err;
    if (tsdb_appender_commit(app, NULL, &err))
        fprintf(stderr, "promlite: rules: group %s: cannot mark its series stale: %s\n", g->def->name, err.msg);
    tsdb_appender_free(app);
}

/* ------------------------------------------------------------ threads */

/* The group's phase within its interval: spreads groups out and keeps
 * each at the same phase across restarts. */
static int64_t group_offset(const group_rt *g) {
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, g->def->file, strlen(g->def->file) + 1);
    XXH3_64bits_update(h, g->def->name, strlen(g->def->name) + 1);
    uint64_t v = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return (int64_t)(v % (uint64_t)g->interval_ms);
}

/* Sleeps until wall-clock time `until` (ms) or a stop request; returns 1
 * when asked to stop.  The waits are on the monotonic clock; should the
 * wall clock step back by more than an interval, the sleep ends early and
 * the caller finds `until` far ahead and resynchronises. */
static int sleep_until(group_rt *g, int64_t until) {
    pthread_mutex_lock(&g->wake_mu);
    while (!g->stop) {
        int64_t now = wall_ms();
        if (now >= until || until - now > g->interval_ms) break;
        struct timespec ts;
        deadline_after_ms(&ts, until - now);
        pthread_cond_timedwait(&g->wake, &g->wake_mu, &ts);
    }
    int stop = g->stop;
    pthread_mutex_unlock(&g->wake_mu);
    return stop;
}

static void *group_thread(void *arg) {
    group_rt *g = arg;
    int64_t iv = g->interval_ms, off = group_offset(g), now = wall_ms();
    int64_t next = now - ((now - off) % iv + iv) % iv + iv; /* the next slot */
    while (!sleep_until(g, next)) {
        int64_t now2 = wall_ms();
        if (next - now2 > iv) {
            /* The wall clock went back: take the slot after the new now. */
            next = now2 - ((now2 - off) % iv + iv) % iv + iv;
            continue;
        }
        eval_group(g, next);
        int64_t after = wall_ms();
        next += iv;
        if (after >= next) {
            int64_t missed = (after - next) / iv + 1;
            pthread_mutex_lock(&g->lock);
            g->missed += (uint64_t)missed;
            pthread_mutex_unlock(&g->lock);
            next += missed * iv;
        }
    }
    return NULL;
}

static group_rt *group_new(ruler *r, const rule_group_def *def) {
    group_rt *g = xcalloc(1, sizeof *g);
    g->r = r;
    g->def = def;
    g->interval_ms = def->interval_ms ? def->interval_ms : r->default_interval_ms;
    g->nrules = def->nrules;
    g->rules = xcalloc(def->nrules ? def->nrules : 1, sizeof *g->rules);
    /* Only the groups of the first load restore `for` state (Prometheus:
     * a group added by a reload starts restored, its ALERTS written at
     * once). */
    for (size_t i = 0; i < def->nrules; i++) {
        g->rules[i].def = &def->rules[i];
        g->rules[i].restored = r->loaded;
    }
    g->should_restore = !r->loaded;
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->eval_lock, NULL);
    pthread_mutex_init(&g->wake_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    return g;
}

static void group_start(group_rt *g) {
    if (g->r->o.manual) return;
    if (pthread_create(&g->thread, NULL, group_thread, g)) {
        fprintf(stderr, "promlite: rules: group %s: cannot start its thread\n", g->def->name);
        return;
    }
    g->has_thread = 1;
}

/* Stops the thread (waiting for a running evaluation to end). */
static void group_signal_stop(group_rt *g) {
    pthread_mutex_lock(&g->wake_mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->wake_mu);
}

static void group_stop(group_rt *g) {
    group_signal_stop(g);
    if (g->has_thread) pthread_join(g->thread, NULL);
    g->has_thread = 0;
}

static void group_free(group_rt *g) {
    for (size_t i = 0; i < g->nrules; i++) rule_rt_clear(&g->rules[i]);
    free(g->orphans.v);
    free(g->rules);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->eval_lock);
    pthread_mutex_destroy(&g->wake_mu);
    pthread_cond_destroy(&g->wake);
    free(g);
}

/* Whether two rules are "the same rule" across a reload, as Prometheus's
 * CopyState decides: same kind, name and labels. */
static int same_rule(const rule_def *a, const rule_def *b) {
    if (a->kind != b->kind || strcmp(a->name, b->name) || a->nlabels != b->nlabels) return 0;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i].name, b->labels[i].name) || strcmp(a->labels[i].value, b->labels[i].value)) return 0;
    return 1;
}

/* Prometheus's Group.CopyState: rules of a changed group take over the
 * state of the old group's rule with the same kind, name and labels (the
 * k-th of equal rules takes the k-th one's), so editing one rule does not
 * reset the alerts of the others.  Series of old rules that nobody took
 * are marked stale at the new group's first evaluation.  The old group is
 * still visible to the API, so its state moves under its lock. */
static void copy_state(group_rt *to, group_rt *from) {
    int *taken = xcalloc(from->nrules ? from->nrules : 1, sizeof *taken);
    pthread_mutex_lock(&from->lock);
    for (size_t i = 0; i < to->nrules; i++) {
        rule_rt *t = &to->rules[i];
        for (size_t j = 0; j < from->nrules; j++) {
            rule_rt *f = &from->rules[j];
            if (taken[j] || !same_rule(f->def, t->def)) continue;
            taken[j] = 1;
            t->active = f->active, t->nactive = f->nactive, t->capactive = f->capactive;
            f->active = NULL, f->nactive = f->capactive = 0;
            t->prev = f->prev;
            f->prev = (ref_set){0};
            t->restored = f->restored;
            t->health = f->health;
            memcpy(t->last_error, f->last_error, sizeof t->last_error);
            t->last_eval_ms = f->last_eval_ms;
            t->eval_seconds = f->eval_seconds;
            break;
        }
    }
    for (size_t j = 0; j < from->nrules; j++)
        if (!taken[j])
            for (size_t k = 0; k < from->rules[j].prev.n; k++) refs_add(&to->orphans, from->rules[j].prev.v[k]);
    pthread_mutex_unlock(&from->lock);
    free(taken);
    to->should_restore = from->should_restore;
    to->evaluations = from->evaluations;
}

/* ------------------------------------------------------------ lifecycle */

ruler *ruler_new(const ruler_options *o) {
    ruler *r = xcalloc(1, sizeof *r);
    r->o = *o;
    r->default_interval_ms = DEFAULT_INTERVAL_MS;
    if (!r->o.resend_delay_ms) r->o.resend_delay_ms = DEFAULT_RESEND_DELAY_MS;
    if (!r->o.for_grace_period_ms) r->o.for_grace_period_ms = DEFAULT_GRACE_PERIOD_MS;
    if (r->o.for_grace_period_ms < 0) r->o.for_grace_period_ms = 0;
    if (!r->o.outage_tolerance_ms) r->o.outage_tolerance_ms = DEFAULT_OUTAGE_TOLERANCE_MS;
    pthread_rwlock_init(&r->external_lock, NULL);
    const char *u = o->external_url ? o->external_url : "";
    size_t ul = strlen(u);
    while (ul && u[ul - 1] == '/') ul--;
    r->external_url = xstrndup(u, ul);
    r->o.external_url = r->external_url;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void ruler_apply(ruler *r, rule_set *rs, const ruler_context *c) {
    pthread_rwlock_wrlock(&r->external_lock);
    lset_free(&r->external);
    r->external = lset_copy(c ? c->external_labels : NULL, c ? c->nexternal_labels : 0);
    pthread_rwlock_unlock(&r->external_lock);
    r->default_interval_ms = c && c->default_interval_ms ? c->default_interval_ms : DEFAULT_INTERVAL_MS;
    group_rt **next = xcalloc(rs->ngroups ? rs->ngroups : 1, sizeof *next);
    int *reused = xcalloc(r->ngroups ? r->ngroups : 1, sizeof *reused);
    for (size_t i = 0; i < rs->ngroups; i++) {
        const rule_group_def *d = &rs->groups[i];
        int64_t iv = d->interval_ms ? d->interval_ms : r->default_interval_ms;
        group_rt *old = NULL;
        size_t oi = 0;
        for (size_t j = 0; j < r->ngroups && !old; j++)
            if (!reused[j] && !strcmp(r->groups[j]->def->file, d->file) && !strcmp(r->groups[j]->def->name, d->name))
                old = r->groups[j], oi = j;
        if (old && old->def->source_hash == d->source_hash && old->interval_ms == iv) {
            /* Unchanged: keep the group, pointing it at the new (equal)
             * definitions between two evaluations. */
            pthread_mutex_lock(&old->eval_lock);
            pthread_mutex_lock(&old->lock);
            old->def = d;
            for (size_t k = 0; k < d->nrules; k++) old->rules[k].def = &d->rules[k];
            pthread_mutex_unlock(&old->lock);
            pthread_mutex_unlock(&old->eval_lock);
            reused[oi] = 1;
            next[i] = old;
            continue;
        }
        group_rt *g = group_new(r, d);
        if (old) {
            group_stop(old);
            copy_state(g, old);
            reused[oi] = 2; /* replaced: freed below without stale markers */
        }
        next[i] = g;
    }
    pthread_mutex_lock(&r->lock);
    group_rt **prev = r->groups;
    size_t nprev = r->ngroups;
    rule_set *prev_set = r->set;
    r->groups = next;
    r->ngroups = rs->ngroups;
    r->set = rs;
    pthread_mutex_unlock(&r->lock);
    for (size_t j = 0; j < nprev; j++) {
        if (reused[j] == 1) continue;
        if (reused[j] == 0) {
            group_stop(prev[j]);
            mark_group_stale(prev[j], wall_ms());
        }
        group_free(prev[j]);
    }
    for (size_t i = 0; i < rs->ngroups; i++)
        if (!next[i]->has_thread && !next[i]->stop) group_start(next[i]);
    free(prev);
    free(reused);
    rule_set_free(prev_set);
    r->loaded = 1;
}

void ruler_free(ruler *r) {
    if (!r) return;
    /* All groups are told first, so shutdown waits for the longest
     * running evaluation, not for the sum of them. */
    for (size_t i = 0; i < r->ngroups; i++) group_signal_stop(r->groups[i]);
    for (size_t i = 0; i < r->ngroups; i++) group_stop(r->groups[i]);
    for (size_t i = 0; i < r->ngroups; i++) group_free(r->groups[i]);
    free(r->groups);
    rule_set_free(r->set);
    lset_free(&r->external);
    pthread_rwlock_destroy(&r->external_lock);
    free(r->external_url);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int ruler_eval_group(ruler *r, size_t i, int64_t t) {
    if (i >= r->ngroups) return -1;
    eval_group(r->groups[i], t);
    return 0;
}

size_t ruler_group_count(ruler *r) { return r->ngroups; }

/* ------------------------------------------------------------ API */

static void json_time(buf *b, int64_t ms) {
    char t[64];
    if (!ms) {
        buf_printf(b, "\"0001-01-01T00:00:00Z\"");
        return;
    }
    format_time_json(ms, t, sizeof t);
    buf_printf(b, "\"%s\"", t);
}

static void json_alert(buf *b, const active_alert *al) {
    char v[64];
    buf_printf(b, "{\"labels\":");
    jw_labels(b, al->labels.v, al->labels.n);
    buf_printf(b, ",\"annotations\":");
    jw_labels(b, al->annotations.v, al->annotations.n);
    buf_printf(b, ",\"state\":\"%s\",\"activeAt\":", alert_state_names[al->state]);
    json_time(b, al->active_at);
    if (al->keep_firing_since) {
        buf_printf(b, ",\"keepFiringSince\":");
        json_time(b, al->keep_firing_since);
    }
    format_float_e(al->value, v, sizeof v);
    buf_printf(b, ",\"value\":\"%s\"}", v);
}

/* The alerts a rule shows: those not inactive. */
static size_t visible_alerts(const rule_rt *rr, alert_state *state) {
    size_t n = 0;
    *state = ALERT_INACTIVE;
    for (size_t j = 0; j < rr->nactive; j++) {
        alert_state s = rr->active[j]->state;
        if (s == ALERT_INACTIVE) continue;
        n++;
        if (s > *state) *state = s;
    }
    return n;
}

static void json_seconds(buf *b, double s) {
    char f[FLOAT_TEXT_MAX];
    buf_printf(b, "%s", format_float(s, f));
}

static void json_rule(buf *b, const rule_rt *rr) {
    const rule_def *d = rr->def;
    if (d->kind == RULE_ALERTING) {
        alert_state st;
        visible_alerts(rr, &st);
        buf_printf(b, "{\"state\":\"%s\",\"name\":", alert_state_names[st]);
        jw_cstring(b, d->name);
        buf_printf(b, ",\"query\":");
        jw_cstring(b, d->query);
        buf_printf(b, ",\"duration\":");
        json_seconds(b, (double)d->for_ms / 1000);
        buf_printf(b, ",\"keepFiringFor\":");
        json_seconds(b, (double)d->keep_firing_for_ms / 1000);
        buf_printf(b, ",\"labels\":");
        jw_labels(b, d->labels, d->nlabels);
        buf_printf(b, ",\"annotations\":");
        jw_labels(b, d->annotations, d->nannotations);
        buf_printf(b, ",\"alerts\":[");
        int first = 1;
        for (size_t j = 0; j < rr->nactive; j++) {
            if (rr->active[j]->state == ALERT_INACTIVE) continue;
            if (!first) buf_append(b, ",", 1);
            first = 0;
            json_alert(b, rr->active[j]);
        }
        buf_printf(b, "]");
    } else {
        buf_printf(b, "{\"name\":");
        jw_cstring(b, d->name);
        buf_printf(b, ",\"query\":");
        jw_cstring(b, d->query);
        if (d->nlabels) {
            buf_printf(b, ",\"labels\":");
            jw_labels(b, d->labels, d->nlabels);
        }
    }
    buf_printf(b, ",\"health\":\"%s\"", health_names[rr->health]);
    if (rr->last_error[0]) {
        buf_printf(b, ",\"lastError\":");
        jw_cstring(b, rr->last_error);
    }
    buf_printf(b, ",\"evaluationTime\":");
    json_seconds(b, rr->eval_seconds);
    buf_printf(b, ",\"lastEvaluation\":");
    json_time(b, rr->last_eval_ms);
    buf_printf(b, ",\"type\":\"%s\"}", d->kind == RULE_ALERTING ? "alerting" : "recording");
}

static int cmp_groups(const void *a, const void *b) {
    const group_rt *x = *(group_rt *const *)a, *y = *(group_rt *const *)b;
    int c = strcmp(x->def->file, y->def->file);
    return c ? c : strcmp(x->def->name, y->def->name);
}

void ruler_rules_json(ruler *r, buf *out, const char *type) {
    int want_alert = !type || !*type || !strcmp(type, "alert");
    int want_record = !type || !*type || !strcmp(type, "record");
    pthread_mutex_lock(&r->lock);
    /* Prometheus lists groups by file, then name. */
    group_rt **sorted = xcalloc(r->ngroups ? r->ngroups : 1, sizeof *sorted);
    if (r->ngroups) memcpy(sorted, r->groups, r->ngroups * sizeof *sorted);
    qsort(sorted, r->ngroups, sizeof *sorted, cmp_groups);
    buf_printf(out, "{\"groups\":[");
    int firstg = 1;
    for (size_t i = 0; i < r->ngroups; i++) {
        group_rt *g = sorted[i];
        pthread_mutex_lock(&g->lock);
        size_t shown = 0;
        for (size_t k = 0; k < g->nrules; k++)
            shown += g->rules[k].def->kind == RULE_ALERTING ? want_alert : want_record;
        /* Prometheus leaves out groups a type filter empties. */
        if (type && *type && !shown) {
            pthread_mutex_unlock(&g->lock);
            continue;
        }
        if (!firstg) buf_append(out, ",", 1);
        firstg = 0;
        buf_printf(out, "{\"name\":");
        jw_cstring(out, g->def->name);
        buf_printf(out, ",\"file\":");
        jw_cstring(out, g->def->file);
        buf_printf(out, ",\"rules\":[");
        int first = 1;
        for (size_t k = 0; k < g->nrules; k++) {
            const rule_rt *rr = &g->rules[k];
            if (!(rr->def->kind == RULE_ALERTING ? want_alert : want_record)) continue;
            if (!first) buf_append(out, ",", 1);
            first = 0;
            json_rule(out, rr);
        }
        buf_printf(out, "],\"interval\":");
        json_seconds(out, (double)g->interval_ms / 1000);
        buf_printf(out, ",\"limit\":%" PRIu64 ",\"evaluationTime\":", g->def->limit);
        json_seconds(out, g->eval_seconds);
        buf_printf(out, ",\"lastEvaluation\":");
        json_time(out, g->last_eval_ms);
        buf_printf(out, "}");
        pthread_mutex_unlock(&g->lock);
    }
    buf_printf(out, "]}");
    pthread_mutex_unlock(&r->lock);
    free(sorted);
}

void ruler_alerts_json(ruler *r, buf *out) {
    pthread_mutex_lock(&r->lock);
    buf_printf(out, "{\"alerts\":[");
    int first = 1;
    for (size_t i = 0; i < r->ngroups; i++) {
        group_rt *g = r->groups[i];
        pthread_mutex_lock(&g->lock);
        for (size_t k = 0; k < g->nrules; k++) {
            const rule_rt *rr = &g->rules[k];
            for (size_t j = 0; j < rr->nactive; j++) {
                if (rr->active[j]->state == ALERT_INACTIVE) continue;
                if (!first) buf_append(out, ",", 1);
                first = 0;
                json_alert(out, rr->active[j]);
            }
        }
        pthread_mutex_unlock(&g->lock);
    }
    buf_printf(out, "]}");
    pthread_mutex_unlock(&r->lock);
}

/* The metric label of a group, as Prometheus writes it: "FILE;NAME". */
static void group_key_label(buf *b, const group_rt *g) {
    buf_printf(b, "rule_group=\"");
    for (const char *s = g->def->file; *s; s++) {
        if (*s == '"' || *s == '\\') buf_append(b, "\\", 1);
        if (*s == '\n') buf_append(b, "\\n", 2);
        else buf_append(b, s, 1);
    }
    buf_append(b, ";", 1);
    for (const char *s = g->def->name; *s; s++) {
        if (*s == '"' || *s == '\\') buf_append(b, "\\", 1);
        if (*s == '\n') buf_append(b, "\\n", 2);
        else buf_append(b, s, 1);
    }
    buf_append(b, "\"", 1);
}

void ruler_metrics(ruler *r, buf *out) {
    static const char *const names[] = {
        "prometheus_rule_evaluations_total", "prometheus_rule_evaluation_failures_total",
        "prometheus_rule_group_iterations_missed_total", "prometheus_rule_group_last_duration_seconds",
        "prometheus_rule_group_rules",
    };
    static const char *const help[] = {
        "The total number of rule evaluations.", "The total number of rule evaluation failures.",
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        "The duration of the last rule group evaluation.", "The number of rules.",
    };
    static const char *const types[] = {"counter", "counter", "counter", "gauge", "gauge"};
    pthread_mutex_lock(&r->lock);
    for (size_t m = 0; m < 5; m++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", names[m], help[m], names[m], types[m]);
        for (size_t i = 0; i < r->ngroups; i++) {
            group_rt *g = r->groups[i];
            pthread_mutex_lock(&g->lock);
            buf_printf(out, "%s{", names[m]);
            group_key_label(out, g);
            char f[FLOAT_TEXT_MAX];
            switch (m) {
            case 0: buf_printf(out, "} %" PRIu64 "\n", g->evaluations * g->nrules); break;
            case 1: buf_printf(out, "} %" PRIu64 "\n", g->failures); break;
            case 2: buf_printf(out, "} %" PRIu64 "\n", g->missed); break;
            case 3: buf_printf(out, "} %s\n", format_float(g->eval_seconds, f)); break;
            default: buf_printf(out, "} %zu\n", g->nrules); break;
            }
            pthread_mutex_unlock(&g->lock);
        }
    }
    pthread_mutex_unlock(&r->lock);
}
