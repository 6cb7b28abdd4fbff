/*
 * silences.h - the silence store: Alertmanager 0.25's silences, kept in
 * the data folder, and its API v2 endpoints for them (/api/v2/silences,
 * /api/v2/silence/{id}), which amtool and Grafana speak.
 *
 * A silence is an id (a random UUID), matchers, a time range [startsAt,
 * endsAt), who made it and why.  Its state follows from the clock: pending
 * before startsAt, active from startsAt until endsAt, expired from endsAt
 * on.  Every function that depends on the state takes `now` (milliseconds
 * since the epoch) from its caller, so tests and the notifier decide what
 * time it is.
 *
 * Changes follow Alertmanager's rules (silence/silence.go, api/v2):
 *   - a silence without an id is new: it gets an id, and a startsAt in the
 *     past becomes now;
 *   - one with an existing id is changed in place when the change leaves
 *     history alone (same matchers, and for an active silence the same
 *     startsAt, to the second, and an endsAt not in the past; for a pending
 *     one a startsAt not in the past); otherwise the old silence is expired
 *     and a new one with a new id is created, in one storage transaction;
 *   - expiring sets endsAt (and for a pending silence startsAt too) to now;
 *     expiring an expired silence changes nothing and is no error (as in
 *     Alertmanager 0.25);
 *   - silences that ended longer than the retention ago (Alertmanager's
 *     --data.retention, 120h by default) are removed by silences_gc, which
 *     the caller runs periodically (Alertmanager does it every 15 minutes).
 * The validation messages are Alertmanager's ("silence invalid: at least
 * one matcher must not match the empty string", ...).  Unlike Alertmanager
 * 0.25, a change that fails validation changes nothing (0.25 expired the
 * old silence of a failed replacement).
 *
 * Storage: each silence is one record in the tsdb's kv store, namespace
 * "alert.silences", keyed by id, with a JSON value (times in integer
 * milliseconds).  The set is loaded at open and kept in memory; every
 * change is written (durably) before it is applied to memory and answered,
 * and a storage failure is returned and changes nothing.
 *
 * Ownership: silences_open returns a store freed by silences_close (which
 * does not close the tsdb).  A `silence` the caller passes in only points
 * at the caller's memory.  Silences handed out (silences_get,
 * silences_list) are copies owning their strings: release them with
 * silence_free / silences_list_free.  Answers are appended to the caller's
 * buf.
 * Threads: every function may be called from any thread at once, except
 * silences_close (the owner's, when no call is running); the store has one
 * readers-writer lock (queries, listings and the mute check share it,
 * changes take it alone) and the version is read without locking.
 */
#ifndef PROMLITE_ALERT_SILENCES_H
#define PROMLITE_ALERT_SILENCES_H

#include <stddef.h>
#include <stdint.h>

#include "alert/matchers.h"
#include "common/labels.h"
#include "common/util.h"
#include "tsdb/tsdb.h"

#define SILENCES_KV_NAMESPACE "alert.silences"
#define SILENCES_DEFAULT_RETENTION_MS (120LL * 3600 * 1000)

/* Results of a change, besides 0. */
#define SILENCES_INVALID (-1)   /* refused: err holds Alertmanager's message */
#define SILENCES_NOT_FOUND (-2) /* no silence has that id: "silence not found" */
#define SILENCES_STORAGE (-3)   /* the record could not be written: nothing changed */

typedef struct silences silences;

typedef enum { SILENCE_ACTIVE, SILENCE_PENDING, SILENCE_EXPIRED } silence_state;

/* One matcher as the API v2 has it: is_regex and is_equal choose among
 * =, !=, =~ and !~. */
typedef struct silence_matcher {
    const char *name;
    const char *value;
    int is_regex;
    int is_equal;
} silence_matcher;

typedef struct silence {
    char id[37];                     /* "" for a new silence */
    const silence_matcher *matchers; /* in the order given */
    size_t nmatchers;
    int64_t starts_at_ms;
    int64_t ends_at_ms;
    int64_t updated_at_ms;           /* set by the store; ignored on input */
    const char *created_by;          /* may be "" */
    const char *comment;             /* may be "" */
    void *storage_;                  /* copies from the store: what silence_free releases */
} silence;

typedef struct silences_options {
    tsdb *db;             /* where the records live */
    int64_t retention_ms; /* how long expired silences are kept; 0 = 120h */
} silences_options;

/* Loads every stored silence.  Returns 0 with *out set, or -1 with err set
 * (a storage error, or a record that cannot be read: named by its key). */
int silences_open(const silences_options *o, silences **out, errbuf *err);
void silences_close(silences *s);

/* "active", "pending", "expired". */
const char *silence_state_name(silence_state st);
/* The state of a silence at now: pending before startsAt, expired from
 * endsAt on, active in between. */
silence_state silence_state_at(const silence *sil, int64_t now_ms);

/* Creates (in->id empty) or updates (in->id names a silence) a silence, with
 * Alertmanager's Set semantics (see the top of this file).  On success
 * writes the id that now holds it (the same one, or a new one when the
 * change had to replace the silence) to id_out and returns 0; otherwise
 * returns SILENCES_INVALID, SILENCES_NOT_FOUND or SILENCES_STORAGE with err
 * set.  The checks of the API layer (end after start, end not in the past)
 * are silences_handle's, as in Alertmanager; this checks what
 * Alertmanager's store checks. */
int silences_set(silences *s, const silence *in, int64_t now_ms, char id_out[37], errbuf *err);

/* Expires a silence now.  Returns 0 (also when it had already expired),
 * SILENCES_NOT_FOUND or SILENCES_STORAGE, with err set on failure. */
int silences_expire(silences *s, const char *id, int64_t now_ms, errbuf *err);

/* Copies the silence with that id into *out (release with silence_free).
 * Returns 1, or 0 when there is none. */
int silences_get(silences *s, const char *id, silence *out);
void silence_free(silence *sil);

/* Copies every silence that passes the filter, in the API's order: active
 * ones by endsAt, then pending ones by startsAt, then expired ones, the
 * most recently ended first (ties by id).  A silence passes when each
 * filter matcher equals one of its matchers (same name, type and value),
 * as Alertmanager's ?filter= does; filter may be NULL.  *out is NULL when
 * *n is 0. */
void silences_list(silences *s, const am_matchers *filter, int64_t now_ms, silence **out, size_t *n);
void silences_list_free(silence *v, size_t n);

/* Removes the silences whose endsAt is at least the retention before now,
 * in one storage transaction.  Returns the number removed, or -1 with err
 * set (nothing removed). */
long silences_gc(silences *s, int64_t now_ms, errbuf *err);

/* The ids of the silences active at now whose matchers all match the label
 * set (ls need not be sorted), sorted, for the notifier.  A pool of ids the
 * caller keeps and reuses; silences_mutes empties it first. */
typedef struct silence_ids {
    char (*v)[37];
    size_t n, cap;
    am_match_scratch scratch_; /* reused match state */
} silence_ids;
void silence_ids_free(silence_ids *ids);

/* Fills out (see above) and returns out->n.  When until_ms is not NULL it
 * receives the next time at which the answer for this label set can
 * change without a change to the store (a matching pending silence
 * starting, a matching active one ending; INT64_MAX when none), so that a
 * caller may cache the answer while silences_version() is unchanged and
 * now < *until_ms.  Cheap: one pass under the shared lock, compiled
 * matchers, no allocation once out has grown (out carries the match
 * state, so each thread uses its own silence_ids). */
size_t silences_mutes(silences *s, const label *ls, size_t n, int64_t now_ms, silence_ids *out, int64_t *until_ms);

/* Changes with every change to the set (create, update, expire, gc). */
uint64_t silences_version(silences *s);

/* How many silences are in each state at now, indexed by silence_state
 * (for the alertmanager_silences{state=...} gauge). */
void silences_count(silences *s, int64_t now_ms, size_t counts[3]);

/* Appends a silence as API v2's GettableSilence, exactly as Alertmanager
 * 0.25 writes it: {"id":..,"status":{"state":..},"updatedAt":..,
 * "comment":..,"createdBy":..,"endsAt":..,"matchers":[{"isEqual":..,
 * "isRegex":..,"name":..,"value":..}],"startsAt":..}, times as
 * "2006-01-02T15:04:05.000Z", strings escaped as Go's encoding/json does
 * (<, >, & as \u003c, \u003e, \u0026). */
void silence_write_json(const silence *sil, int64_t now_ms, buf *out);

/* One request to the silence endpoints of API v2. */
typedef struct silences_request {
    const char *method;         /* "GET", "POST", "DELETE", ... */
    const char *path;           /* what follows "/api/v2/": "silences" or
                                   "silence/ID" (a trailing '/' is allowed) */
    const char *const *filter;  /* the decoded values of every ?filter= */
    size_t nfilter;
    const char *body;           /* POST: the PostableSilence JSON */
    size_t body_len;
} silences_request;

/* Answers a request as Alertmanager 0.25 does and returns the HTTP status;
 * out receives the body (application/json), or nothing when Alertmanager
 * sends none (200 to DELETE, 404 to GET of an unknown id, any HEAD):
 *   GET    silences       200 [GettableSilence...]; 400 "bad matcher format: x"
 *   POST   silences       200 {"silenceID":"..."}; 400 "Failed to create
 *                         silence: ...", "silence invalid: ...", or
 *                         {"code":400,"message":"parsing silence body from
 *                         \"\" failed, because ..."}; 404 "silence not found";
 *                         422 {"code":602,"message":"comment in body is
 *                         required"} and the other schema checks; 500 on a
 *                         storage failure
 *   GET    silence/ID     200 GettableSilence; 404
 *   DELETE silence/ID     200; 500 "silence not found" (sic)
 *   bad ID                422 {"code":601,"message":"silenceID in path must
 *                         be of type uuid: \"x\""}
 *   other methods         405 {"code":405,"message":"method PUT is not
 *                         allowed, but [GET,POST] are"}
 *   other paths           404 {"code":404,"message":"path /api/v2/x was not
 *                         found"}
 * Bodies of 200 answers and string errors end with a newline, as Go's JSON
 * encoder writes them; {"code":...} bodies do not. */
unsigned silences_handle(silences *s, const silences_request *q, int64_t now_ms, buf *out);

#endif
