/*
 * registry.h - jobs and targets managed at run time: the target management
 * API (/api/v1/admin/jobs, /api/v1/admin/targets, /api/v1/admin/register;
 * docs/target-management.md).
 *
 * Small sites add hosts all the time, and editing prometheus.yml for each
 * is the chore this removes.  A job is a name, a note and scrape settings
 * (the keys of a scrape_configs entry); a target is an address, labels, a
 * note and the job it belongs to (a managed job or one of the configuration
 * file's).  Each record is a JSON object stored in the data folder
 * (tsdb_kv, namespaces "admin.jobs" and "admin.targets"), so the set
 * survives restarts; the set is kept in memory as well.
 *
 * The records become scraping the same way the file does: registry_render()
 * adds the managed jobs as scrape configs and every target as a
 * static_configs group of its job (config_add_scrape_configs /
 * config_add_targets), so they are checked by the same code and
 * with the same words as the file, and the scrape manager's reload logic
 * applies them (a target that did not change keeps scraping without a
 * gap; a deleted one gets staleness markers and stops at once).  Targets
 * carry __meta_promlite_target_id and __meta_promlite_hostname for
 * relabel_configs.
 *
 * A change runs in this order under the registry's lock: the candidate
 * set is built into a full configuration by the caller's build hook (so a
 * change that would not load is refused with 400 and nothing changes),
 * the record is stored durably (a storage failure answers 500 and nothing
 * changes), then the configuration is applied and the in-memory set
 * replaced.  Reloads of the configuration file take the same lock
 * (registry_with_state), so the newest set and file always win.
 *
 * Ownership: registry_open() returns a registry freed by registry_close().
 * Answers are appended to the caller's buffer.  registry_state pointers are
 * valid only during the call they are passed to.
 * Threads: registry_handle and registry_with_state from any thread (HTTP
 * request threads, the main thread's reload); they serialise on one lock.
 * The hooks run with that lock held and must not call back into the
 * registry.
 */
#ifndef PROMLITE_REGISTRY_H
#define PROMLITE_REGISTRY_H

#include <stddef.h>

#include "common/util.h"
#include "ingest/config.h"
#include "tsdb/tsdb.h"

typedef struct registry registry;
typedef struct registry_state registry_state; /* a set of jobs and targets */

typedef struct {
    tsdb *db;                /* where the records are stored */
    void *ctx;               /* passed back to the hooks */
    /* Builds the configuration to run with state s: the running file's
     * configuration plus registry_render(s); with s NULL the file's alone.
     * Returns 0 with *out set, or -1 with err set. */
    int (*build)(void *ctx, const registry_state *s, promlite_config **out, errbuf *err);
    /* Hands a built configuration to scraping (taking ownership). */
    void (*apply)(void *ctx, promlite_config *cfg);
} registry_options;

/* Reads the stored records.  Returns 0 with *out set, or -1 with err set
 * (a storage error, or a record that is not valid JSON: named by its key). */
int registry_open(const registry_options *o, registry **out, errbuf *err);
void registry_close(registry *r);

/* Adds the jobs and targets of s to cfg.  A managed job whose name the
 * file also uses is an error; targets whose job exists nowhere are kept in
 * the registry but not scraped, and counted in *orphans (may be NULL).
 * Returns 0, or -1 with err set (cfg may then hold part of s: free it). */
int registry_render(const registry_state *s, promlite_config *cfg, size_t *orphans, errbuf *err);

/* Calls fn with the current set while holding the registry's lock, so that
 * no change runs meanwhile; returns what fn returns. */
int registry_with_state(registry *r, int (*fn)(void *ctx, const registry_state *s, errbuf *err), void *ctx,
                        errbuf *err);

/* Counts, for /metrics. */
void registry_counts(registry *r, size_t *jobs, size_t *targets);

/* One request to the API.  path is what follows "/api/v1/admin/":
 * "jobs", "jobs/NAME", "targets", "targets/ID" or "register". */
typedef struct {
    const char *method;       /* GET, HEAD, POST, PUT, DELETE */
    const char *path;
    const char *body;         /* JSON; may be NULL for GET and DELETE */
    size_t body_len;
    const char *job;          /* ?job= filter of GET targets; NULL = all */
    int cascade;              /* ?cascade=true of DELETE jobs/NAME */
} registry_request;

/* Handles a request: appends Prometheus's envelope ({"status":"success",
 * "data":...} or {"status":"error","errorType":...,"error":...}) to out and
 * returns the HTTP status (200, 201 created, 400 bad input, 404 unknown
 * record or path, 405 method, 409 conflict, 413 body too large, 500 storage
 * failure). */
unsigned registry_handle(registry *r, const registry_request *q, buf *out);

#endif
