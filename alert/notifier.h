/*
 * notifier.h - Alertmanager's role inside promlite: alerts in, grouped
 * notifications out, with Alertmanager 0.25's semantics.
 *
 * Alerts arrive from the rules (alert/ruler.h) or over Alertmanager's API
 * (POST /api/v2/alerts).  Each goes down the routing tree
 * (alert/amconfig.h) into an aggregation group per matching route and
 * group_by values.  A new group waits group_wait, then flushes every
 * group_interval: the group's alerts that are not silenced
 * (alert/silences.h) nor inhibited are compared with the notification log
 * and each integration of the route's receiver is notified when something
 * changed (a new firing alert; a resolution, with send_resolved; all
 * resolved) or when repeat_interval has passed since it was last told.
 *
 * Durability.  The alerts and the notification log are records in the
 * tsdb (namespaces "alert.alerts" and "alert.nflog"), written before they
 * are relied on, so after a restart (even SIGKILL) promlite knows what
 * each receiver was last told: a notification that was delivered is not
 * sent again before repeat_interval, and one that was not delivered (a
 * resolution due while promlite was down, a delivery cut short) is sent.
 * A firing alert whose source stops refreshing it resolves when its end
 * time passes, as in Alertmanager.
 *
 * Delivery runs on worker threads: each notification is retried with
 * exponential backoff (1 s doubling to 1 min, or what the endpoint asks
 * with Retry-After) until it succeeds, is not worth retrying, or the next
 * flush of its group would supersede it; each attempt has a timeout (the
 * webhook's `timeout`, else 10 s).  A newer notification for the same
 * group and integration replaces a queued older one.
 *
 * Ownership: notifier_open() returns a notifier freed by notifier_close().
 * notifier_apply() takes the configuration (freed once the last delivery
 * using it ends).  The silences are the caller's and must outlive the
 * notifier.  Arguments are copied.
 * Threads: every function may be called from any thread (one lock guards
 * the state); deliveries run on the notifier's own threads.  With manual
 * set no thread runs: notifier_tick() does the work of a moment on the
 * caller's thread, deliveries included (tests, with a chosen clock).
 */
#ifndef PROMLITE_ALERT_NOTIFIER_H
#define PROMLITE_ALERT_NOTIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "alert/amconfig.h"
#include "alert/ruler.h"
#include "alert/silences.h"
#include "tsdb/tsdb.h"

typedef struct notifier notifier;

typedef struct notifier_options {
    tsdb *db;                   /* where alerts and the notification log are kept */
    silences *silences;         /* may be NULL: nothing is silenced */
    const char *external_url;   /* shown in messages (externalURL); copied */
    const char *user_agent;     /* copied; NULL: "promlite" */
    unsigned workers;           /* delivery threads; 0 = 2 */
    int64_t attempt_timeout_ms; /* per attempt when the integration sets none; 0 = 10 s */
    int64_t max_backoff_ms;     /* 0 = 60 s */
    int manual;                 /* no threads: notifier_tick() drives (tests) */
} notifier_options;

/* Opens the notifier and loads the alerts and notification log kept from
 * the last run.  Returns 0, or -1 with err set (storage unreadable). */
int notifier_open(const notifier_options *o, notifier **out, errbuf *err);

/* Switches to a configuration (taking it; NULL or one without a route:
 * alerts are kept and listed but nobody is notified).  Groups are formed
 * anew, as Alertmanager does on reload; the notification log keeps
 * repeats from happening. */
void notifier_apply(notifier *n, am_config *cfg);

/* Alerts from the rules (the ruler's notify callback), at time now (ms). */
void notifier_put(notifier *n, const ruler_alert *a, size_t count, int64_t now);

/* POST /api/v2/alerts: a JSON array of Alertmanager's postable alerts.
 * Returns the HTTP status (200, or 400 with out holding the message as a
 * JSON string, as Alertmanager answers). */
unsigned notifier_post_json(notifier *n, const char *body, size_t len, int64_t now, buf *out);

/* GET /api/v2/alerts: Alertmanager's gettable alerts, with its query
 * parameters (filter matchers, active, silenced, inhibited, unprocessed,
 * receiver regex); params are name, value pairs.  Returns the HTTP status
 * (400 with a message for a bad filter). */
unsigned notifier_alerts_json(notifier *n, const char *const *params, size_t nparams, int64_t now, buf *out);

/* GET /api/v2/status: the configuration and version, as amtool reads it. */
void notifier_status_json(notifier *n, int64_t now, buf *out);

/* Appends the notification metrics (per receiver and integration). */
void notifier_metrics(notifier *n, buf *out);

/* Manual mode: flushes the groups due at now and performs the deliveries
 * due then, synchronously. */
void notifier_tick(notifier *n, int64_t now);

/* Stops the threads (a delivery in progress finishes its attempt) and
 * frees everything.  What was not delivered stays owed in the log. */
void notifier_close(notifier *n);

#endif
