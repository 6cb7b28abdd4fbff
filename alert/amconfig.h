/*
 * amconfig.h - the `alerting:` section of promlite's configuration:
 * Prometheus's `alertmanagers` (forwarding to external Alertmanagers) and
 * Alertmanager's own configuration (`global`, `route`, `receivers`,
 * `inhibit_rules`) for the notifier built into promlite.
 *
 *     alerting:
 *       alertmanagers:                 # optional: also send to these
 *         - static_configs: [{targets: ['am.example:9093']}]
 *       global: {resolve_timeout: 5m}  # Alertmanager's global section
 *       route:                         # Alertmanager's routing tree
 *         receiver: team
 *         group_by: [alertname]
 *       receivers:
 *         - name: team
 *           webhook_configs: [{url: 'http://hooks.example/alert'}]
 *       inhibit_rules:
 *         - source_matchers: [severity="critical"]
 *           target_matchers: [severity="warning"]
 *           equal: [instance]
 *
 * Keys, defaults, inheritance and checks are Alertmanager 0.25's and
 * Prometheus 2.42's, with their messages, as "FILE:LINE:COL: reason".
 * Keys those programs have and promlite does not implement (templates,
 * time_intervals, mute_time_intervals, alert_relabel_configs, service
 * discovery for alertmanagers, ...) are refused by name.
 *
 * Ownership: amconfig_decode() returns a configuration that owns all it
 * points to (it copies the section out of the configuration file's tree),
 * with one reference; amconfig_retain() adds one and amconfig_free() drops
 * one, releasing everything with the last.
 * Threads: decoding touches no shared state; a decoded configuration is
 * read-only and may be read by any thread; references may be taken and
 * dropped from any thread.
 */
#ifndef PROMLITE_ALERT_AMCONFIG_H
#define PROMLITE_ALERT_AMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "alert/matchers.h"
#include "alert/receivers.h"
#include "common/yamltree.h"

/* One node of the routing tree, with every inherited value filled in. */
typedef struct am_route {
    struct am_route *parent;
    am_matchers matchers;           /* matchers, match and match_re, sorted as Alertmanager sorts them */
    const char *receiver_name;
    const receiver *receiver;
    const char **group_by;          /* sorted; NULL with group_by_all */
    size_t ngroup_by;
    int group_by_all;               /* group_by: ['...'] */
    int continue_matching;          /* `continue` */
    int64_t group_wait_ms, group_interval_ms, repeat_interval_ms;
    struct am_route **routes;
    size_t nroutes;
    const char *key;                /* Alertmanager's Route.Key(): {}/{severity="page"} */
    int line;
} am_route;

typedef struct am_inhibit_rule {
    am_matchers source, target;
    const char **equal;
    size_t nequal;
    int line;
} am_inhibit_rule;

/* One alertmanagers entry (Prometheus's AlertmanagerConfig). */
typedef struct am_forward {
    const char *scheme;             /* "http" (default) or "https" */
    const char *path_prefix;        /* "" by default; no trailing '/' */
    int64_t timeout_ms;             /* default 10s */
    const char **targets;           /* host:port */
    size_t ntargets;
    receiver_http http;
    int line;
} am_forward;

typedef struct am_config {
    /* Forwarding (Prometheus's alerting.alertmanagers). */
    am_forward *forwards;
    size_t nforwards;
    /* The built-in notifier; route is NULL when none is configured (alerts
     * are then only shown and forwarded). */
    int64_t resolve_timeout_ms;     /* global.resolve_timeout, default 5m */
    receiver_set *receivers;
    am_route *route;
    am_inhibit_rule *inhibit_rules;
    size_t ninhibit_rules;
    uint64_t source_hash;           /* of the whole section: equal hashes, equal behaviour */
    void *priv;                     /* the allocation context (private) */
} am_config;

/* Takes another reference (the notifier and the forwarder each hold one);
 * amconfig_free() drops one and frees with the last. */
am_config *amconfig_retain(am_config *c);

/* Decodes the alerting section (NULL: nothing configured, which yields an
 * empty configuration).  name names the file in messages and dir resolves
 * relative file names.  Returns 0 with *out set, or -1 with err set. */
int amconfig_decode(const yt_node *alerting, const char *name, const char *dir, am_config **out, errbuf *err);

void amconfig_free(am_config *c);

/* The routes an alert's labels match, as Alertmanager's Route.Match: the
 * deepest matching routes, following `continue`.  Fills out[0..cap) and
 * returns how many matched (at least 1 when the root matches, which it
 * always does). */
size_t am_route_match(const am_route *root, const label *ls, size_t n, const am_route **out, size_t cap);

#endif
