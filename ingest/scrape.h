/*
 * scrape.h - the scrape manager: scrapes every target of the configuration
 * at its interval and stores what it scraped, as Prometheus's scrape loop
 * does.
 *
 * One scrape thread drives all targets, plain-http ones with httpget
 * (ingest/httpget.h) and the rest (HTTPS, proxy_url, redirects) with
 * libcurl's multi interface, both on the thread's epoll set; it is the
 * database's writer thread (tsdb.h): every scrape becomes one
 * appender batch, and it also runs the storage's periodic retention.
 * Targets come from static_configs and file_sd_configs, relabeled with
 * relabel_configs; samples go through metric_relabel_configs; each target
 * gets up, scrape_duration_seconds, scrape_samples_scraped,
 * scrape_samples_post_metric_relabeling and scrape_series_added; series
 * that vanish, and all series of a target that goes away, get staleness
 * markers.
 *
 * Ownership: scrape_start() and scrape_apply_config() take ownership of the
 * configuration passed (it is freed once no target uses it any more).
 * scrape_stop() stops the thread, waits for it and frees the manager.
 * Threads: scrape_start/scrape_stop from the main thread;
 * scrape_apply_config from any thread (it hands the configuration over
 * under the manager's lock; callers serialise their calls, since the last
 * one wins); scrape_targets_json and scrape_metrics from any thread (HTTP
 * handlers); they take a short lock to copy target state.
 */
#ifndef PROMLITE_SCRAPE_H
#define PROMLITE_SCRAPE_H

#include "common/util.h"
#include "ingest/config.h"
#include "tsdb/tsdb.h"

typedef struct scrape_manager scrape_manager;

typedef struct {
    /* How often the scrape thread applies retention (0 = 1 hour). */
    double retention_every_s;
    /* Identity promlite scrapes with (User-Agent). */
    const char *user_agent;
    /* How often file_sd files are checked for changes (mtime, size, glob
     * matches), in seconds (0 = 1s); they are re-read unconditionally
     * every refresh_interval.  Added by the scrape module. */
    double file_sd_poll_s;
} scrape_options;

/* Starts the scrape thread with cfg (taking ownership; it is freed on
 * failure too).  libcurl's curl_global_init() is called here once per
 * process (pthread_once), so the caller need not call it; it must not call
 * curl_global_cleanup() while a manager runs.  Returns 0, or -1 with err
 * set (the thread could not start). */
int scrape_start(tsdb *db, promlite_config *cfg, const scrape_options *o, scrape_manager **out, errbuf *err);

/* Applies a new configuration (taking ownership): targets whose job is
 * unchanged (config_scrape_equal) keep scraping without a gap and keep
 * their state; removed targets get staleness markers for their series and
 * stop; new ones start at their stable offset.  Returns 0, or -1 with err. */
int scrape_apply_config(scrape_manager *m, promlite_config *cfg, errbuf *err);

/* Appends the "data" object of /api/v1/targets, Prometheus's shape:
 * {"activeTargets":[{"discoveredLabels":{...},"labels":{...},
 * "scrapePool":"job","scrapeUrl":"http://...","globalUrl":"...",
 * "lastError":"","lastScrape":"RFC3339","lastScrapeDuration":0.01,
 * "health":"up|down|unknown","scrapeInterval":"15s","scrapeTimeout":"10s"}],
 * "droppedTargets":[{"discoveredLabels":{...}}]}.  state is "active",
 * "dropped", "any" or NULL (any). */
void scrape_targets_json(scrape_manager *m, buf *out, const char *state);

/* Appends the "data" object of /api/v1/metadata: metric name -> list of
 * distinct {"type","help","unit"} as the targets' last scrapes declared
 * them.  metric (NULL or "" for all) picks one name; limit > 0 caps the
 * number of names. */
void scrape_metadata_json(scrape_manager *m, buf *out, const char *metric, long limit);

/* Appends the manager's own metrics in the text exposition format
 * (promlite_scrape_* counters and histograms, target counts by job). */
void scrape_metrics(scrape_manager *m, buf *out);

/* Stops scraping, waits for the thread, frees everything. */
void scrape_stop(scrape_manager *m);

#endif
