/*
 * ruler.h - evaluates recording and alerting rules (alert/rules.h) as
 * Prometheus 2.42's rule manager does, and hands alerts to a notifier.
 *
 * Each group runs on a thread of its own at its interval, at a fixed offset
 * within the interval (a hash of file and name, so groups spread out and a
 * group keeps its phase across restarts).  Rules of a group run in order,
 * each at the group's evaluation time, and each rule's output is committed
 * before the next rule runs, so a recording rule's result is visible to
 * the rules after it in the same evaluation.  Series a rule wrote last time
 * and not this time get a staleness marker.
 *
 * Alerting rules move alerts inactive -> pending -> firing -> inactive
 * (resolved) with `for` and `keep_firing_for` exactly as Prometheus does;
 * resolved alerts are kept 15 minutes so the notifier learns of the
 * resolution.  The ALERTS and ALERTS_FOR_STATE series are written.  After
 * a restart, the second evaluation of each group restores the activeAt of
 * alerts that are active again from ALERTS_FOR_STATE (Prometheus's
 * RestoreForState, with --rules.alert.for-outage-tolerance and
 * --rules.alert.for-grace-period), so a `for` already served before the
 * restart is not served again.
 *
 * Alerts are sent to the notify callback as Prometheus sends them to
 * Alertmanager: firing alerts again every resend delay, resolved alerts
 * with their end time; endsAt of a firing alert is 4 intervals ahead, so a
 * notifier that stops hearing of an alert resolves it.
 *
 * A reload (ruler_apply) keeps groups whose definition did not change,
 * with their thread, schedule and state; a changed group starts afresh but
 * keeps the state of rules that kept their name; a removed group marks its
 * series stale.
 *
 * Ownership: ruler_apply() takes the rule_set and frees it when it is no
 * longer used.  Strings in callback arguments are valid during the call.
 * Threads: ruler_new, ruler_apply and ruler_free on one controlling thread
 * (the server's main thread); ruler_rules_json/ruler_alerts_json on any
 * thread; the notify callback runs on group threads, possibly several at
 * once.  With manual set, no threads run and ruler_eval_group() drives
 * evaluation from the caller's thread (tests).
 */
#ifndef PROMLITE_ALERT_RULER_H
#define PROMLITE_ALERT_RULER_H

#include <stddef.h>
#include <stdint.h>

#include "alert/rules.h"
#include "common/labels.h"
#include "common/util.h"
#include "query/engine.h"
#include "tsdb/tsdb.h"

/* One alert as sent to a notifier (Alertmanager's model). */
typedef struct ruler_alert {
    const label *labels;        /* sorted; alertname included */
    size_t nlabels;
    const label *annotations;   /* sorted */
    size_t nannotations;
    int64_t starts_at_ms;       /* when it fired */
    int64_t ends_at_ms;         /* resolved: when; firing: valid until */
    int resolved;
    const char *generator_url;
} ruler_alert;

typedef void (*ruler_notify_fn)(void *ctx, const ruler_alert *alerts, size_t n);

typedef struct ruler_options {
    tsdb *db;
    pq_options query;                   /* engine limits for rule queries */
    const char *external_url;           /* e.g. "http://host:9090"; copied */
    int64_t resend_delay_ms;            /* --rules.alert.resend-delay; 0 = 1m */
    int64_t for_grace_period_ms;        /* --rules.alert.for-grace-period; 0 = 10m, <0 = none */
    int64_t outage_tolerance_ms;        /* --rules.alert.for-outage-tolerance; 0 = 1h */
    ruler_notify_fn notify;             /* may be NULL */
    void *notify_ctx;
    int manual;                         /* no threads (tests) */
} ruler_options;

typedef struct ruler ruler;

ruler *ruler_new(const ruler_options *o);

/* What a configuration gives the rules besides the rule files. */
typedef struct ruler_context {
    int64_t default_interval_ms;        /* global.evaluation_interval; 0 = 1m */
    const label *external_labels;       /* global.external_labels, sorted; copied */
    size_t nexternal_labels;
} ruler_context;

/* Switches to the groups of rs (taking it) and the context c, keeping the
 * state of groups and rules that carry over.  Never fails: what could fail
 * was checked when rs was loaded. */
void ruler_apply(ruler *r, rule_set *rs, const ruler_context *c);

/* Stops every group and frees everything.  Series are not marked stale
 * (as Prometheus on shutdown: the next start continues them). */
void ruler_free(ruler *r);

/* Manual mode: evaluates group i (in rule_set order) at time t (ms).  The
 * first call for a group at or after its second evaluation restores alert
 * state as a restarted server would.  Returns 0, or -1 when i is out of
 * range. */
int ruler_eval_group(ruler *r, size_t i, int64_t t);
size_t ruler_group_count(ruler *r);

/* The "data" of /api/v1/rules: {"groups":[...]} as Prometheus 2.42 writes
 * it.  type is NULL, "alert" or "record". */
void ruler_rules_json(ruler *r, buf *out, const char *type);

/* The "data" of /api/v1/alerts: {"alerts":[...]}, pending and firing. */
void ruler_alerts_json(ruler *r, buf *out);

/* Appends promlite's rule metrics in exposition format. */
void ruler_metrics(ruler *r, buf *out);

#endif
