/*
 * forward.h - sends alerts to external Alertmanagers
 * (alerting.alertmanagers), as Prometheus 2.42's notifier does, for sites
 * that run one already.
 *
 * Alerts from the rules are queued (at most `capacity`; when full the
 * oldest are dropped and counted, as Prometheus drops them) and a thread
 * posts them in batches of up to 64 to POST /api/v2/alerts of every
 * target of every alertmanagers entry, to all targets at once (a thread
 * per target and batch), each request with the entry's timeout and HTTP
 * settings.  Failed sends are counted and logged, not
 * retried: the rules send every firing alert again each resend delay, so
 * the next batch carries them.
 *
 * Metrics follow Prometheus's names: prometheus_notifications_sent_total,
 * _errors_total (per Alertmanager URL), _dropped_total, _queue_length,
 * _queue_capacity and prometheus_notifications_alertmanagers_discovered.
 *
 * Ownership: forwarder_apply() takes a reference to the configuration
 * (amconfig_free drops it).  Alerts passed in are copied.
 * Threads: every function may be called from any thread; sending runs on
 * the forwarder's own thread.
 */
#ifndef PROMLITE_ALERT_FORWARD_H
#define PROMLITE_ALERT_FORWARD_H

#include <stddef.h>

#include "alert/amconfig.h"
#include "alert/ruler.h"

typedef struct forwarder forwarder;

/* capacity 0 means Prometheus's default, 10000. */
forwarder *forwarder_new(const char *user_agent, size_t capacity);

/* Switches to the alertmanagers of cfg (taking the reference; NULL: none). */
void forwarder_apply(forwarder *f, am_config *cfg);

/* Queues alerts for every configured Alertmanager (nothing when none). */
void forwarder_send(forwarder *f, const ruler_alert *a, size_t n);

void forwarder_metrics(forwarder *f, buf *out);

/* Sends one more batch of what is queued (at most one timeout per
 * Alertmanager), stops and frees. */
void forwarder_free(forwarder *f);

#endif
