/*
 * registry.c - jobs and targets managed at run time (see registry.h).
 *
 * Records are jansson objects: the set is two JSON objects, jobs by name
 * and targets by id, and each record is stored as its compact JSON text
 * under the same key.  Records are never changed in place: an update makes
 * a new object, and a candidate set is a shallow copy of the current one
 * with one key set or removed, so building a candidate costs a pointer per
 * record and the current set stays intact until the change has been
 * checked, stored and applied.  jansson is used rather than a parser of our
 * own because request bodies come from anywhere and its error positions
 * (line, column) are what a 400 answer should name.
 *
 * Rendering adds the set to a loaded configuration.  Jobs become text the
 * file's loader reads: JSON is a subset of YAML's flow style, so
 * json_dumps() output (with its default ": " and ", " separators) goes
 * straight into config_add_scrape_configs(), in one batch (each batch
 * reallocates the configuration's array, so job-at-a-time would be
 * quadratic); when the batch fails, the jobs are tried one by one so that
 * the message names the one at fault, without the meaningless position
 * inside our own generated text.  Targets, which can be a hundred thousand,
 * go in without text through config_add_targets(), a batch per job, with
 * the checks static_configs get.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/labels.h"
#include "ingest/registry.h"

#define REG_MAX_BODY (1u << 20)
#define REG_MAX_JOBS 10000
#define REG_MAX_TARGETS 100000
#define REG_MAX_NOTE 4096
#define REG_MAX_NAME 128
#define NS_JOBS "admin.jobs"
#define NS_TARGETS "admin.targets"
#define SECRET "<secret>"

struct registry_state {
    json_t *jobs;    /* name -> job record */
    json_t *targets; /* id -> target record */
};

struct registry {
    registry_options o;
    pthread_mutex_t mu;
    registry_state cur;
};

/* ------------------------------------------------------------ helpers */

static void now_rfc3339(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%.20s.%03dZ", day, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* A version 4 UUID from the kernel's random source. */
static int new_uuid(char out[37], errbuf *err) {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errf(err, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* 8-4-4-4-12 hexadecimal digits; lowered into out. */
static int uuid_normalise(const char *s, char out[37]) {
    if (strlen(s) != 36) return -1;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return -1;
        } else if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return -1;
        }
        out[i] = c;
    }
    out[36] = 0;
    return 0;
}

static int job_name_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > REG_MAX_NAME || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* Keys of an object, sorted, so that rendering and listings do not depend
 * on the order records were added in.  Free the array (not the keys). */
static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }
static const char **sorted_keys(const json_t *obj, size_t *n) {
    *n = json_object_size(obj);
    const char **k = xmalloc((*n ? *n : 1) * sizeof *k);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) k[i++] = key;
    qsort(k, *n, sizeof *k, cmp_cstr);
    return k;
}

static const char *str_field(const json_t *o, const char *name) {
    const json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Takes "NAME:LINE:COL: reason" (a position in text we generated, which
 * helps nobody) down to "NAME: reason". */
static void strip_position(errbuf *err, const char *name) {
    size_t nl = strlen(name);
    char *m = err->msg;
    if (strncmp(m, name, nl) || m[nl] != ':') return;
    char *p = m + nl + 1;
    char *q = p;
    while (*q >= '0' && *q <= '9') q++;
    if (q == p || *q != ':') return;
    q++;
    char *r = q;
    while (*r >= '0' && *r <= '9') r++;
    if (r == q || *r != ':') return;
    memmove(p, r + 1, strlen(r + 1) + 1);
}

/* ------------------------------------------------------------ rendering */

/* The scrape config a managed job stands for: its settings plus job_name. */
static json_t *job_scrape_config(const char *name, const json_t *job) {
    const json_t *scrape = json_object_get(job, "scrape");
    json_t *sc = json_is_object(scrape) ? json_deep_copy(scrape) : json_object();
    json_object_set_new(sc, "job_name", json_string(name));
    return sc;
}

/* The labels a target's static group gets: its own, then the meta labels
 * (which win).  Strings point into the record; v has room for the record's
 * labels plus two. */
static size_t target_labels(const char *id, const json_t *t, label *v) {
    size_t n = 0;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)json_object_get(t, "labels"), k, val) {
        if (!strncmp(k, "__meta_promlite_", 16) || !json_is_string(val)) continue;
        v[n++] = (label){k, (uint32_t)strlen(k), json_string_value(val), (uint32_t)json_string_length(val)};
    }
    const char *host = str_field(t, "hostname");
    v[n++] = (label){"__meta_promlite_target_id", 25, id, (uint32_t)strlen(id)};
    v[n++] = (label){"__meta_promlite_hostname", 24, host ? host : "", (uint32_t)(host ? strlen(host) : 0)};
    return n;
}

/* Adds a batch of scrape configs (a JSON array) in one call; when it fails,
 * adds them one by one to find the one at fault and reports it by
 * names[i]. */
static int add_jobs(promlite_config *cfg, json_t *items, const char *batch_name, char **names, errbuf *err) {
    if (!json_array_size(items)) return 0;
    char *text = json_dumps(items, 0);
    int rc = config_add_scrape_configs(cfg, text, strlen(text), batch_name, err);
    free(text);
    if (rc == 0) return 0;
    errbuf whole = *err;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *one = json_array();
        json_array_append(one, json_array_get(items, i));
        text = json_dumps(one, 0);
        json_decref(one);
        rc = config_add_scrape_configs(cfg, text, strlen(text), names[i], err);
        free(text);
        if (rc) {
            strip_position(err, names[i]);
            return -1;
        }
    }
    *err = whole; /* only the batch fails (the items together clash) */
    strip_position(err, batch_name);
    return -1;
}

typedef struct {
    const char *job, *id;
} reg_pair;

static int cmp_pair(const void *a, const void *b) {
    const reg_pair *x = a, *y = b;
    int c = strcmp(x->job, y->job);
    return c ? c : strcmp(x->id, y->id);
}

int registry_render(const registry_state *s, promlite_config *cfg, size_t *orphans, errbuf *err) {
    if (orphans) *orphans = 0;
    if (!s) return 0;
    int rc = 0;
    size_t nj, nt;
    const char **jobs = sorted_keys(s->jobs, &nj);
    const char **ids = sorted_keys(s->targets, &nt);
    json_t *batch = json_array();
    char **names = xcalloc(nj + 1, sizeof *names);
    for (size_t i = 0; i < nj; i++) {
        if (config_find_job(cfg, jobs[i])) {
            rc = errf(err, "job \"%s\" is defined both in %s and by the target management API: remove it from one of them",
                      jobs[i], cfg->name);
            goto out;
        }
        json_array_append_new(batch, job_scrape_config(jobs[i], json_object_get(s->jobs, jobs[i])));
        names[i] = xmalloc(strlen(jobs[i]) + 8);
        sprintf(names[i], "job \"%s\"", jobs[i]);
    }
    if ((rc = add_jobs(cfg, batch, "managed jobs", names, err))) goto out;

    /* Targets grouped by job, each group in id order; a group whose job
     * exists nowhere is kept out (orphans).  They go in without YAML
     * (config_add_targets): a change renders the whole set, and text to
     * parse cost ten microseconds a target.  A target's name in messages is
     * its id, quoted below only when one fails. */
    reg_pair *by_job = xmalloc((nt ? nt : 1) * sizeof *by_job);
    size_t nlab = 0;
    for (size_t i = 0; i < nt; i++) {
        const json_t *t = json_object_get(s->targets, ids[i]);
        const char *job = str_field(t, "job");
        by_job[i] = (reg_pair){job ? job : "", ids[i]};
        nlab += json_object_size(json_object_get(t, "labels")) + 2;
    }
    qsort(by_job, nt, sizeof *by_job, cmp_pair);
    config_target_input *in = xmalloc((nt ? nt : 1) * sizeof *in);
    label *labs = xmalloc((nlab ? nlab : 1) * sizeof *labs);
    label *lp = labs;
    for (size_t i = 0, j; i < nt && !rc; i = j) {
        for (j = i; j < nt && !strcmp(by_job[j].job, by_job[i].job); j++) {
        }
        if (!config_find_job(cfg, by_job[i].job)) {
            if (orphans) *orphans += j - i;
            continue;
        }
        for (size_t k = i; k < j; k++) {
            const json_t *t = json_object_get(s->targets, by_job[k].id);
            size_t n = target_labels(by_job[k].id, t, lp);
            const char *addr = str_field(t, "address");
            in[k] = (config_target_input){addr ? addr : "", lp, n, by_job[k].id};
            lp += n;
        }
        if ((rc = config_add_targets(cfg, by_job[i].job, in + i, j - i, err))) {
            const char *colon = strchr(err->msg, ':');
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            if (colon) errf(err, "target \"%.*s\"%s", (int)(colon - err->msg), msg, msg + (colon - err->msg));
        }
    }
    free(labs);
    free(in);
    free(by_job);
out:
    for (size_t i = 0; i < nj; i++) free(names[i]);
    free(names);
    json_decref(batch);
    free(jobs);
    free(ids);
    return rc;
}

/* ------------------------------------------------------------ answers */

static unsigned answer_error(buf *out, unsigned status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static unsigned answer_error(buf *out, unsigned status, const char *type, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s,s:s,s:s}", "status", "error", "errorType", type, "error", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    buf_append(out, text, strlen(text));
    free(text);
    json_decref(o);
    return status;
}

/* Takes a reference of data. */
static unsigned answer(buf *out, unsigned status, json_t *data) {
    json_t *o = json_pack("{s:s,s:o}", "status", "success", "data", data);
    char *text = json_dumps(o, JSON_COMPACT);
    buf_append(out, text, strlen(text));
    free(text);
    json_decref(o);
    return status;
}

/* A copy of a job for answers, with its credentials replaced by
 * "<secret>" as Prometheus's /api/v1/status/config does. */
static const char *const secret_paths[][2] = {
    {"basic_auth", "password"}, {"authorization", "credentials"}, {NULL, "bearer_token"}};

static json_t *job_public(const json_t *job) {
    json_t *c = json_deep_copy(job);
    json_t *scrape = json_object_get(c, "scrape");
    for (size_t i = 0; json_is_object(scrape) && i < sizeof secret_paths / sizeof *secret_paths; i++) {
        json_t *in = secret_paths[i][0] ? json_object_get(scrape, secret_paths[i][0]) : scrape;
        if (json_is_object(in) && json_object_get(in, secret_paths[i][1]))
            json_object_set_new(in, secret_paths[i][1], json_string(SECRET));
    }
    return c;
}

/* An update that sends back "<secret>" (a record read, changed and put
 * back) keeps the stored credential. */
static void keep_secrets(json_t *scrape, const json_t *old_job) {
    const json_t *old = old_job ? json_object_get(old_job, "scrape") : NULL;
    for (size_t i = 0; json_is_object(scrape) && i < sizeof secret_paths / sizeof *secret_paths; i++) {
        json_t *in = secret_paths[i][0] ? json_object_get(scrape, secret_paths[i][0]) : scrape;
        const json_t *was = !old ? NULL : secret_paths[i][0] ? json_object_get(old, secret_paths[i][0]) : old;
        const char *v = json_is_object(in) ? str_field(in, secret_paths[i][1]) : NULL;
        if (!v || strcmp(v, SECRET)) continue;
        const json_t *prev = json_is_object(was) ? json_object_get(was, secret_paths[i][1]) : NULL;
        if (prev) json_object_set(in, secret_paths[i][1], (json_t *)prev);
    }
}

/* ------------------------------------------------------------ input */

/* Parses a body into a JSON object, or answers 400/413 and returns NULL. */
static json_t *parse_body(const registry_request *q, buf *out, unsigned *status) {
    if (!q->body || !q->body_len) {
        *status = answer_error(out, 400, "bad_data", "the request needs a JSON object as its body");
        return NULL;
    }
    if (q->body_len > REG_MAX_BODY) {
        *status = answer_error(out, 413, "bad_data", "request body too large (at most %u bytes)", REG_MAX_BODY);
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        *status = answer_error(out, 400, "bad_data", "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        *status = answer_error(out, 400, "bad_data", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Refuses keys outside known (server-kept ones, created and updated, are
 * allowed so that a record read can be sent back). */
static int check_keys(const json_t *in, const char *what, const char *const *known, char *msg, size_t cap) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)in, key, v) {
        int ok = !strcmp(key, "created") || !strcmp(key, "updated");
        for (size_t i = 0; !ok && known[i]; i++) ok = !strcmp(key, known[i]);
        if (!ok) {
            size_t w = (size_t)snprintf(msg, cap, "unknown field \"%s\" in %s (it has:", key, what);
            for (size_t i = 0; known[i] && w < cap; i++)
                w += (size_t)snprintf(msg + w, cap - w, "%s %s", i ? "," : "", known[i]);
            if (w < cap) snprintf(msg + w, cap - w, ")");
            return -1;
        }
    }
    return 0;
}

/* An optional string field: 0 (absent: *out NULL), 1, or -1 with msg. */
static int opt_string(const json_t *in, const char *name, size_t max, const char **out, char *msg, size_t cap) {
    const json_t *v = json_object_get(in, name);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return snprintf(msg, cap, "\"%s\" must be a string", name), -1;
    if (json_string_length(v) > max) return snprintf(msg, cap, "\"%s\" is longer than %zu bytes", name, max), -1;
    if (strlen(json_string_value(v)) != json_string_length(v))
        return snprintf(msg, cap, "\"%s\" contains a NUL character", name), -1;
    *out = json_string_value(v);
    return 1;
}

/* ------------------------------------------------------------ changes */

typedef struct {
    const char *ns, *key;     /* the record to store or delete */
    json_t *record;           /* NULL = delete */
} change;

/* Checks the candidate set by building it, stores the changes, applies
 * the configuration and makes the candidate current.  Consumes cand's
 * references.  Returns 0, or the HTTP status it answered with. */
static unsigned commit(registry *r, registry_state *cand, const change *ch, size_t nch, const char *target_job,
                       buf *out) {
    promlite_config *cfg = NULL;
    errbuf err;
    unsigned status = 0;
    if (r->o.build(r->o.ctx, cand, &cfg, &err)) {
        /* A fault of the record sent needs no name: the client knows it. */
        char self[REG_MAX_NAME + 16];
        snprintf(self, sizeof self, "%s \"%s\": ", !strcmp(ch[0].ns, NS_JOBS) ? "job" : "target", ch[0].key);
        size_t sl = strlen(self);
        if (ch[0].record && !strncmp(err.msg, self, sl))
            status = answer_error(out, 400, "bad_data", "%s%s", !strcmp(ch[0].ns, NS_JOBS) ? "scrape: " : "", err.msg + sl);
        else
            status = answer_error(out, 400, "bad_data", "%s", err.msg);
        goto fail;
    }
    if (target_job && !config_find_job(cfg, target_job)) {
        status = answer_error(out, 400, "bad_data",
                              "job \"%s\" does not exist: neither a managed job nor one of %s", target_job, cfg->name);
        goto fail;
    }
    /* Every record of the change in one transaction: a cascade that fails
     * half way (a full disk) leaves storage as it was. */
    tsdb_kv_change *kc = xmalloc(nch * sizeof *kc);
    char **texts = xcalloc(nch, sizeof *texts);
    for (size_t i = 0; i < nch; i++) {
        if (ch[i].record) texts[i] = json_dumps(ch[i].record, JSON_COMPACT);
        kc[i] = (tsdb_kv_change){ch[i].ns, ch[i].key, strlen(ch[i].key), texts[i], texts[i] ? strlen(texts[i]) : 0};
    }
    int wrc = tsdb_kv_write(r->o.db, kc, nch, &err);
    for (size_t i = 0; i < nch; i++) free(texts[i]);
    free(texts);
    free(kc);
    if (wrc) {
        status = answer_error(out, 500, "internal", "storing the change failed, nothing changed: %s", err.msg);
        goto fail;
    }
    r->o.apply(r->o.ctx, cfg);
    json_decref(r->cur.jobs);
    json_decref(r->cur.targets);
    r->cur = *cand;
    return 0;
fail:
    config_free(cfg);
    json_decref(cand->jobs);
    json_decref(cand->targets);
    return status;
}

static registry_state candidate(const registry *r) {
    return (registry_state){json_copy(r->cur.jobs), json_copy(r->cur.targets)};
}

/* POST jobs, PUT jobs/NAME. */
static unsigned put_job(registry *r, const registry_request *q, const char *path_name, buf *out) {
    static const char *const known[] = {"name", "note", "scrape", NULL};
    unsigned status;
    json_t *in = parse_body(q, out, &status);
    if (!in) return status;
    char msg[512];
    const char *name, *note;
    json_t *scrape = json_object_get(in, "scrape");
    if (check_keys(in, "a job", known, msg, sizeof msg) || opt_string(in, "name", REG_MAX_NAME, &name, msg, sizeof msg) < 0 ||
        opt_string(in, "note", REG_MAX_NOTE, &note, msg, sizeof msg) < 0) {
        status = answer_error(out, 400, "bad_data", "%s", msg);
        goto out;
    }
    if (path_name && name && strcmp(path_name, name)) {
        status = answer_error(out, 400, "bad_data", "the body names job \"%s\" but the path names \"%s\"", name, path_name);
        goto out;
    }
    if (path_name) name = path_name;
    if (!name) {
        status = answer_error(out, 400, "bad_data", "a job needs a \"name\"");
        goto out;
    }
    if (!job_name_valid(name)) {
        status = answer_error(out, 400, "bad_data", "invalid job name \"%s\": it must match [a-zA-Z_][a-zA-Z0-9_]*", name);
        goto out;
    }
    if (scrape && !json_is_null(scrape) && !json_is_object(scrape)) {
        status = answer_error(out, 400, "bad_data", "\"scrape\" must be an object with the keys of a scrape_configs entry");
        goto out;
    }
    if (json_is_object(scrape) && json_object_get(scrape, "job_name")) {
        status = answer_error(out, 400, "bad_data", "\"scrape\" must not set job_name: the job's name is its \"name\"");
        goto out;
    }
    const json_t *old = json_object_get(r->cur.jobs, name);
    if (old && !path_name) {
        status = answer_error(out, 409, "conflict", "job \"%s\" exists already; PUT /api/v1/admin/jobs/%s changes it",
                              name, name);
        goto out;
    }
    if (!old && json_object_size(r->cur.jobs) >= REG_MAX_JOBS) {
        status = answer_error(out, 400, "bad_data", "too many managed jobs (at most %d)", REG_MAX_JOBS);
        goto out;
    }
    /* A job of the configuration file is changed in the file. */
    promlite_config *file_cfg = NULL;
    errbuf err;
    if (r->o.build(r->o.ctx, NULL, &file_cfg, &err)) {
        status = answer_error(out, 500, "internal", "%s", err.msg);
        goto out;
    }
    int in_file = config_find_job(file_cfg, name) != NULL;
    char file_name[256];
    snprintf(file_name, sizeof file_name, "%s", file_cfg->name);
    config_free(file_cfg);
    if (in_file) {
        status = answer_error(out, 409, "conflict", "job \"%s\" is defined in %s: change it there", name, file_name);
        goto out;
    }
    char ts[40];
    now_rfc3339(ts, sizeof ts);
    json_t *rec = json_object();
    json_object_set_new(rec, "name", json_string(name));
    json_object_set_new(rec, "note", json_string(note ? note : ""));
    json_t *sc = json_is_object(scrape) ? json_deep_copy(scrape) : json_object();
    keep_secrets(sc, old);
    json_object_set_new(rec, "scrape", sc);
    json_object_set_new(rec, "created", json_string(old && str_field(old, "created") ? str_field(old, "created") : ts));
    json_object_set_new(rec, "updated", json_string(ts));
    registry_state cand = candidate(r);
    json_object_set(cand.jobs, name, rec);
    change ch = {NS_JOBS, name, rec};
    status = commit(r, &cand, &ch, 1, NULL, out);
    if (!status) status = answer(out, old ? 200 : 201, job_public(rec));
    json_decref(rec);
out:
    json_decref(in);
    return status;
}

/* POST targets, PUT targets/ID, POST register (register: id in the body,
 * new ids added and known ones updated; a registration that changes
 * nothing changes nothing, so hosts may register at every boot). */
static unsigned put_target(registry *r, const registry_request *q, const char *path_id, int reg, buf *out) {
    static const char *const known[] = {"id", "job", "address", "labels", "note", "hostname", NULL};
    unsigned status;
    json_t *in = parse_body(q, out, &status);
    if (!in) return status;
    char msg[512];
    const char *id, *job, *address, *note, *hostname;
    if (check_keys(in, reg ? "a registration" : "a target", known, msg, sizeof msg) ||
        opt_string(in, "id", 64, &id, msg, sizeof msg) < 0 || opt_string(in, "job", REG_MAX_NAME, &job, msg, sizeof msg) < 0 ||
        opt_string(in, "address", 1024, &address, msg, sizeof msg) < 0 ||
        opt_string(in, "note", REG_MAX_NOTE, &note, msg, sizeof msg) < 0 ||
        opt_string(in, "hostname", 255, &hostname, msg, sizeof msg) < 0) {
        status = answer_error(out, 400, "bad_data", "%s", msg);
        goto out;
    }
    char uuid[37];
    if (reg && !id) {
        status = answer_error(out, 400, "bad_data", "a registration needs the host's \"id\" (a UUID)");
        goto out;
    }
    if (!reg && !path_id && id) {
        status = answer_error(out, 400, "bad_data",
                              "\"id\" is assigned by the server; PUT /api/v1/admin/targets/ID chooses one");
        goto out;
    }
    if (path_id && id && strcasecmp(path_id, id)) {
        status = answer_error(out, 400, "bad_data", "the body names target \"%s\" but the path names \"%s\"", id, path_id);
        goto out;
    }
    const char *given = path_id ? path_id : id;
    if (given && uuid_normalise(given, uuid)) {
        status = answer_error(out, 400, "bad_data", "invalid target id \"%s\": want a UUID (8-4-4-4-12 hex digits)", given);
        goto out;
    }
    errbuf err;
    if (!given && new_uuid(uuid, &err)) {
        status = answer_error(out, 500, "internal", "%s", err.msg);
        goto out;
    }
    if (!job || !*job) {
        status = answer_error(out, 400, "bad_data", "a target needs a \"job\"");
        goto out;
    }
    if (!address || !*address) {
        status = answer_error(out, 400, "bad_data", "a target needs an \"address\" (host:port)");
        goto out;
    }
    json_t *labels = json_object_get(in, "labels");
    if (labels && !json_is_null(labels) && !json_is_object(labels)) {
        status = answer_error(out, 400, "bad_data", "\"labels\" must be an object of label names to string values");
        goto out;
    }
    const char *lk;
    json_t *lv;
    json_object_foreach(labels, lk, lv) {
        if (!label_name_valid(lk, strlen(lk))) {
            status = answer_error(out, 400, "bad_data", "invalid label name \"%s\"", lk);
            goto out;
        }
        if (!json_is_string(lv)) {
            status = answer_error(out, 400, "bad_data", "label \"%s\" must have a string value", lk);
            goto out;
        }
    }
    const json_t *old = json_object_get(r->cur.targets, uuid);
    if (!old && json_object_size(r->cur.targets) >= REG_MAX_TARGETS) {
        status = answer_error(out, 400, "bad_data", "too many managed targets (at most %d)", REG_MAX_TARGETS);
        goto out;
    }
    char ts[40];
    now_rfc3339(ts, sizeof ts);
    json_t *rec = json_object();
    json_object_set_new(rec, "id", json_string(uuid));
    json_object_set_new(rec, "job", json_string(job));
    json_object_set_new(rec, "address", json_string(address));
    json_object_set_new(rec, "labels", json_is_object(labels) ? json_deep_copy(labels) : json_object());
    /* A registration carries no note unless it says one: keep the admin's. */
    const char *keep_note = reg && !note && old ? str_field(old, "note") : NULL;
    json_object_set_new(rec, "note", json_string(note ? note : keep_note ? keep_note : ""));
    json_object_set_new(rec, "hostname", json_string(hostname ? hostname : ""));
    json_object_set_new(rec, "created", json_string(old && str_field(old, "created") ? str_field(old, "created") : ts));
    json_object_set_new(rec, "updated", json_string(ts));
    if (old) {
        /* Unchanged apart from the timestamps: answer with the stored one. */
        json_t *a = json_deep_copy(rec), *b = json_deep_copy(old);
        json_object_del(a, "updated");
        json_object_del(b, "updated");
        int same = json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (same) {
            json_decref(rec);
            status = answer(out, 200, json_incref((json_t *)old));
            goto out;
        }
    }
    registry_state cand = candidate(r);
    json_object_set(cand.targets, uuid, rec);
    change ch = {NS_TARGETS, uuid, rec};
    status = commit(r, &cand, &ch, 1, job, out);
    if (!status) status = answer(out, old ? 200 : 201, json_incref(rec));
    json_decref(rec);
out:
    json_decref(in);
    return status;
}

static unsigned delete_job(registry *r, const registry_request *q, const char *name, buf *out) {
    json_t *old = json_object_get(r->cur.jobs, name);
    if (!old) return answer_error(out, 404, "not_found", "no managed job \"%s\"", name);
    size_t nt;
    const char **ids = sorted_keys(r->cur.targets, &nt);
    change *ch = xmalloc((nt + 1) * sizeof *ch);
    size_t nch = 0;
    for (size_t i = 0; i < nt; i++) {
        const char *job = str_field(json_object_get(r->cur.targets, ids[i]), "job");
        if (job && !strcmp(job, name)) ch[nch++] = (change){NS_TARGETS, ids[i], NULL};
    }
    unsigned status;
    if (nch && !q->cascade) {
        status = answer_error(out, 409, "conflict",
                              "job \"%s\" still has %zu target%s: delete them first, or add ?cascade=true to delete them too",
                              name, nch, nch == 1 ? "" : "s");
        goto out;
    }
    registry_state cand = candidate(r);
    for (size_t i = 0; i < nch; i++) json_object_del(cand.targets, ch[i].key);
    json_object_del(cand.jobs, name);
    ch[nch++] = (change){NS_JOBS, name, NULL};
    json_t *data = job_public(old);
    json_object_set_new(data, "deletedTargets", json_integer((json_int_t)(nch - 1)));
    status = commit(r, &cand, ch, nch, NULL, out);
    if (!status) status = answer(out, 200, data);
    else json_decref(data);
out:
    free(ch);
    free(ids);
    return status;
}

static unsigned delete_target(registry *r, const char *path_id, buf *out) {
    char uuid[37];
    if (uuid_normalise(path_id, uuid)) return answer_error(out, 404, "not_found", "no managed target \"%s\"", path_id);
    json_t *old = json_object_get(r->cur.targets, uuid);
    if (!old) return answer_error(out, 404, "not_found", "no managed target \"%s\"", uuid);
    json_incref(old);
    registry_state cand = candidate(r);
    json_object_del(cand.targets, uuid);
    change ch = {NS_TARGETS, uuid, NULL};
    unsigned status = commit(r, &cand, &ch, 1, NULL, out);
    if (!status) status = answer(out, 200, json_incref(old));
    json_decref(old);
    return status;
}

static unsigned list(const registry *r, int jobs, const char *job_filter, buf *out) {
    const json_t *set = jobs ? r->cur.jobs : r->cur.targets;
    size_t n;
    const char **keys = sorted_keys(set, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *rec = json_object_get(set, keys[i]);
        if (!jobs && job_filter && *job_filter && strcmp(str_field(rec, "job") ? str_field(rec, "job") : "", job_filter))
            continue;
        json_array_append_new(arr, jobs ? job_public(rec) : json_incref((json_t *)rec));
    }
    free(keys);
    return answer(out, 200, arr);
}

/* ------------------------------------------------------------ API */

unsigned registry_handle(registry *r, const registry_request *q, buf *out) {
    const char *m = q->method, *p = q->path;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST"), put = !strcmp(m, "PUT"),
        del = !strcmp(m, "DELETE");
    int jobs = !strncmp(p, "jobs", 4) && (!p[4] || p[4] == '/');
    int targets = !strncmp(p, "targets", 7) && (!p[7] || p[7] == '/');
    const char *key = jobs ? (p[4] ? p + 5 : NULL) : targets ? (p[7] ? p + 8 : NULL) : NULL;
    if (key && (!*key || strchr(key, '/'))) return answer_error(out, 404, "not_found", "unknown admin endpoint");
    unsigned status;
    pthread_mutex_lock(&r->mu);
    if (!strcmp(p, "register")) {
        status = post ? put_target(r, q, NULL, 1, out)
                      : answer_error(out, 405, "bad_data", "register takes POST");
    } else if ((jobs || targets) && !key) {
        if (get) status = list(r, jobs, q->job, out);
        else if (post) status = jobs ? put_job(r, q, NULL, out) : put_target(r, q, NULL, 0, out);
        else status = answer_error(out, 405, "bad_data", "this collection takes GET or POST");
    } else if (jobs || targets) {
        if (get) {
            char uuid[37];
            const json_t *rec = jobs ? json_object_get(r->cur.jobs, key)
                                     : !uuid_normalise(key, uuid) ? json_object_get(r->cur.targets, uuid) : NULL;
            status = !rec ? answer_error(out, 404, "not_found", "no managed %s \"%s\"", jobs ? "job" : "target", key)
                          : answer(out, 200, jobs ? job_public(rec) : json_incref((json_t *)rec));
        } else if (put) {
            status = jobs ? put_job(r, q, key, out) : put_target(r, q, key, 0, out);
        } else if (del) {
            status = jobs ? delete_job(r, q, key, out) : delete_target(r, key, out);
        } else {
            status = answer_error(out, 405, "bad_data", "a record takes GET, PUT or DELETE");
        }
    } else {
        status = answer_error(out, 404, "not_found", "unknown admin endpoint");
    }
    pthread_mutex_unlock(&r->mu);
    return status;
}

int registry_with_state(registry *r, int (*fn)(void *ctx, const registry_state *s, errbuf *err), void *ctx,
                        errbuf *err) {
    pthread_mutex_lock(&r->mu);
    int rc = fn(ctx, &r->cur, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void registry_counts(registry *r, size_t *jobs, size_t *targets) {
    pthread_mutex_lock(&r->mu);
    *jobs = json_object_size(r->cur.jobs);
    *targets = json_object_size(r->cur.targets);
    pthread_mutex_unlock(&r->mu);
}

typedef struct {
    json_t *set;
    const char *ns, *id_field;
    errbuf *err;
} load_ctx;

static int load_record(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    load_ctx *l = ctx;
    json_error_t e;
    json_t *rec = json_loadb(val, vlen, 0, &e);
    const char *id = rec ? str_field(rec, l->id_field) : NULL;
    if (!rec || !json_is_object(rec) || !id || strlen(id) != klen || memcmp(id, key, klen)) {
        errf(l->err, "stored record %s/%.*s is damaged%s%s", l->ns, (int)klen, (const char *)key, rec ? "" : ": ",
             rec ? "" : e.text);
        json_decref(rec);
        return 1;
    }
    json_object_set_new(l->set, id, rec);
    return 0;
}

int registry_open(const registry_options *o, registry **out, errbuf *err) {
    registry *r = xcalloc(1, sizeof *r);
    r->o = *o;
    r->cur.jobs = json_object();
    r->cur.targets = json_object();
    pthread_mutex_init(&r->mu, NULL);
    err->msg[0] = 0;
    load_ctx lj = {r->cur.jobs, NS_JOBS, "name", err}, lt = {r->cur.targets, NS_TARGETS, "id", err};
    if (tsdb_kv_each(o->db, NS_JOBS, load_record, &lj, err) || err->msg[0] ||
        tsdb_kv_each(o->db, NS_TARGETS, load_record, &lt, err) || err->msg[0]) {
        registry_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void registry_close(registry *r) {
    if (!r) return;
    json_decref(r->cur.jobs);
    json_decref(r->cur.targets);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
