/*
 * targets.c - target building and file_sd for the scrape manager (see
 * scrape_int.h).
 *
 * targets_build() follows Prometheus 2.42's TargetsFromGroup and
 * PopulateLabels step by step: a target starts as {__address__} merged with
 * its group's labels (the target's own label wins), the scrape config's
 * defaults fill job, __scrape_interval__, __scrape_timeout__,
 * __metrics_path__ and __scheme__ where they are missing or empty, every
 * params entry sets __param_NAME to its first value; that set is the
 * "discovered labels".  relabel_configs then run; a dropped set, a missing
 * or empty __address__, an address with a '/', or an invalid interval or
 * timeout make the target dropped.  A default port (80/443 by scheme) is
 * appended to an address without one, __meta_* labels are removed, and
 * instance defaults to the address.  The URL is built from __scheme__,
 * __address__, __metrics_path__ and the params (with __param_* overriding
 * the first value), encoded as Go's url.Values.Encode does (keys sorted).
 *
 * file_sd files are parsed with libyaml (JSON is read as YAML flow
 * syntax), which covers both formats Prometheus accepts.  Each group gets
 * __meta_filepath, as in Prometheus.
 */
#include "ingest/scrape_int.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <xxhash.h>
#include <yaml.h>

#include "common/timeutil.h"

/* ------------------------------------------------------------ label sets */

owned_labels owned_labels_copy(const label *v, size_t n) {
    size_t bytes = n * sizeof(label);
    for (size_t i = 0; i < n; i++) bytes += v[i].name_len + v[i].value_len + 2;
    owned_labels o = {xmalloc(bytes ? bytes : 1), n};
    char *p = (char *)(o.v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, v[i].name, v[i].name_len);
        p[v[i].name_len] = 0;
        o.v[i].name = p;
        o.v[i].name_len = v[i].name_len;
        p += v[i].name_len + 1;
        memcpy(p, v[i].value, v[i].value_len);
        p[v[i].value_len] = 0;
        o.v[i].value = p;
        o.v[i].value_len = v[i].value_len;
        p += v[i].value_len + 1;
    }
    return o;
}

void owned_labels_free(owned_labels *o) {
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

void target_def_free(target_def *t) {
    owned_labels_free(&t->discovered);
    owned_labels_free(&t->labels);
    free(t->url);
    free(t->address);
    memset(t, 0, sizeof *t);
}

void target_defs_free(target_defs *d) {
    for (size_t i = 0; i < d->n; i++) target_def_free(&d->v[i]);
    free(d->v);
    memset(d, 0, sizeof *d);
}

static target_def *defs_push(target_defs *d) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = xrealloc(d->v, d->cap * sizeof *d->v);
    }
    target_def *t = &d->v[d->n++];
    memset(t, 0, sizeof *t);
    return t;
}

/* A small mutable label set for building: labels point at strings owned
 * elsewhere (the config, the group, the relabel builder) or by the set. */
typedef struct {
    label *v;
    size_t n, cap;
    char **owned; /* strings allocated for this set */
    size_t nowned, capowned;
} lset;

static const label *lset_get(const lset *s, const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].name_len == nl && !memcmp(s->v[i].name, name, nl)) return &s->v[i];
    return NULL;
}

/* Sets name=value (both must outlive the set), replacing any old value. */
static void lset_set(lset *s, const char *name, size_t nl, const char *value, size_t vl) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].name_len == nl && !memcmp(s->v[i].name, name, nl)) {
            s->v[i].value = value;
            s->v[i].value_len = (uint32_t)vl;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (label){name, (uint32_t)nl, value, (uint32_t)vl};
}

/* Keeps a heap string alive for as long as the set. */
static char *lset_own(lset *s, char *str) {
    if (s->nowned == s->capowned) {
        s->capowned = s->capowned ? s->capowned * 2 : 8;
        s->owned = xrealloc(s->owned, s->capowned * sizeof *s->owned);
    }
    s->owned[s->nowned++] = str;
    return str;
}

static void lset_free(lset *s) {
    for (size_t i = 0; i < s->nowned; i++) free(s->owned[i]);
    free(s->owned);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ URLs */

/* Go's url.QueryEscape. */
static void query_escape(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            buf_append(b, &s[i], 1);
        } else if (c == ' ') {
            buf_append(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

typedef struct {
    const char *name;
    const char **values;
    size_t n;
    const char *override; /* __param_NAME's value, replaces values[0] */
} url_param;

static int param_cmp(const void *a, const void *b) {
    return strcmp(((const url_param *)a)->name, ((const url_param *)b)->name);
}

/* Builds the scrape URL of a relabeled target as Prometheus's Target.URL. */
static char *build_url(const config_scrape *sc, const lset *s) {
    size_t cap = sc->nparams + s->n, n = 0;
    url_param *ps = xcalloc(cap ? cap : 1, sizeof *ps);
    for (size_t i = 0; i < sc->nparams; i++)
        ps[n++] = (url_param){sc->params[i].name, sc->params[i].values, sc->params[i].nvalues, NULL};
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].name_len < 8 || memcmp(s->v[i].name, "__param_", 8)) continue;
        const char *key = s->v[i].name + 8;
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcmp(ps[j].name, key)) break;
        if (j == n) ps[n++] = (url_param){key, NULL, 0, NULL};
        ps[j].override = s->v[i].value;
    }
    qsort(ps, n, sizeof *ps, param_cmp);
    const label *scheme = lset_get(s, "__scheme__"), *addr = lset_get(s, "__address__"),
                *path = lset_get(s, "__metrics_path__");
    buf b = {0};
    buf_printf(&b, "%s://%s", scheme ? scheme->value : "http", addr ? addr->value : "");
    if (path && path->value_len) {
        if (path->value[0] != '/') buf_append(&b, "/", 1);
        buf_append(&b, path->value, path->value_len);
    }
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        size_t nv = ps[i].n ? ps[i].n : 1;
        for (size_t k = 0; k < nv; k++) {
            const char *v = k == 0 && ps[i].override ? ps[i].override : (k < ps[i].n ? ps[i].values[k] : "");
            buf_append(&b, first ? "?" : "&", 1);
            first = 0;
            query_escape(&b, ps[i].name, strlen(ps[i].name));
            buf_append(&b, "=", 1);
            query_escape(&b, v, strlen(v));
        }
    }
    buf_append(&b, "", 1);
    free(ps);
    return (char *)b.data;
}

/* Whether an address has a port (net.SplitHostPort succeeds); *can_add is
 * set when appending ":port" would make it valid. */
static int address_has_port(const char *a, int *can_add) {
    *can_add = 0;
    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        if (!end) return 0;
        if (end[1] == ':') return 1;
        *can_add = end[1] == 0;
        return 0;
    }
    const char *c = strchr(a, ':');
    if (!c) {
        *can_add = 1;
        return 0;
    }
    return strchr(c + 1, ':') == NULL;
}

/* ------------------------------------------------------------ building */

static void add_dropped(target_defs *dropped, const label *v, size_t n) {
    target_def *t = defs_push(dropped);
    t->discovered = owned_labels_copy(v, n);
}

/* Builds one target from an address and its group's labels (Prometheus's
 * PopulateLabels) and appends it to active or dropped. */
static void build_target(const config_scrape *sc, const char *address, const label *glabels, size_t nglabels,
                         relabel_builder *rb, target_defs *active, target_defs *dropped) {
    lset s = {0};
    lset_set(&s, "__address__", 11, address, strlen(address));
    for (size_t i = 0; i < nglabels; i++)
        if (!lset_get(&s, glabels[i].name))
            lset_set(&s, glabels[i].name, glabels[i].name_len, glabels[i].value, glabels[i].value_len);
    char iv[32], to[32];
    format_duration(sc->scrape_interval_ms, iv, sizeof iv);
    format_duration(sc->scrape_timeout_ms, to, sizeof to);
    const char *defaults[][2] = {{"job", sc->job_name},
                                 {"__scrape_interval__", iv},
                                 {"__scrape_timeout__", to},
                                 {"__metrics_path__", sc->metrics_path},
                                 {"__scheme__", sc->scheme}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        const label *l = lset_get(&s, defaults[i][0]);
        if (!l || !l->value_len) lset_set(&s, defaults[i][0], strlen(defaults[i][0]), defaults[i][1], strlen(defaults[i][1]));
    }
    for (size_t i = 0; i < sc->nparams; i++) {
        if (!sc->params[i].nvalues) continue;
        char *name = lset_own(&s, xmalloc(strlen(sc->params[i].name) + 9));
        sprintf(name, "__param_%s", sc->params[i].name);
        lset_set(&s, name, strlen(name), sc->params[i].values[0], strlen(sc->params[i].values[0]));
    }
    /* The discovered set, sorted, empty values removed. */
    relabel_apply(NULL, 0, s.v, s.n, rb);
    owned_labels discovered = owned_labels_copy(rb->labels, rb->n);
    if (!relabel_apply(sc->relabel_rules, sc->nrelabel, discovered.v, discovered.n, rb)) goto drop;
    lset r = {0};
    for (size_t i = 0; i < rb->n; i++)
        lset_set(&r, rb->labels[i].name, rb->labels[i].name_len, rb->labels[i].value, rb->labels[i].value_len);
    const label *addr = lset_get(&r, "__address__");
    if (!addr || !addr->value_len || memchr(addr->value, '/', addr->value_len)) goto drop_r;
    int can_add;
    if (!address_has_port(addr->value, &can_add) && can_add) {
        const label *scheme = lset_get(&r, "__scheme__");
        const char *port;
        if (!scheme || !strcmp(scheme->value, "http")) port = ":80";
        else if (!strcmp(scheme->value, "https")) port = ":443";
        else goto drop_r;
        char *a = lset_own(&r, xmalloc(addr->value_len + 5));
        sprintf(a, "%s%s", addr->value, port);
        lset_set(&r, "__address__", 11, a, strlen(a));
        addr = lset_get(&r, "__address__");
    }
    int64_t interval = 0, timeout = 0;
    const label *il = lset_get(&r, "__scrape_interval__"), *tl = lset_get(&r, "__scrape_timeout__");
    if (!il || parse_duration(il->value, &interval) || interval <= 0) goto drop_r;
    if (!tl || parse_duration(tl->value, &timeout) || timeout <= 0 || timeout > interval) goto drop_r;
    /* Remove __meta_*, default instance. */
    for (size_t i = 0; i < r.n;) {
        if (r.v[i].name_len >= 7 && !memcmp(r.v[i].name, "__meta_", 7)) r.v[i] = r.v[--r.n];
        else i++;
    }
    const label *inst = lset_get(&r, "instance");
    if (!inst || !inst->value_len) lset_set(&r, "instance", 8, addr->value, addr->value_len);

    char *url = build_url(sc, &r);
    labels_sort(r.v, r.n);
    uint64_t h[2] = {labels_hash(r.v, r.n), XXH3_64bits(url, strlen(url))};
    uint64_t hash = XXH3_64bits(h, sizeof h);
    for (size_t i = 0; i < active->n; i++)
        if (active->v[i].hash == hash) { /* duplicate target: Prometheus keeps one */
            free(url);
            lset_free(&r);
            owned_labels_free(&discovered);
            lset_free(&s);
            return;
        }
    target_def *t = defs_push(active);
    t->discovered = discovered;
    t->url = url;
    t->address = xstrndup(addr->value, addr->value_len);
    t->interval_ms = interval;
    t->timeout_ms = timeout;
    t->hash = hash;
    /* Public labels: everything not starting with "__", non-empty. */
    label *pub = xmalloc((r.n ? r.n : 1) * sizeof *pub);
    size_t np = 0;
    for (size_t i = 0; i < r.n; i++)
        if (!(r.v[i].name_len >= 2 && r.v[i].name[0] == '_' && r.v[i].name[1] == '_') && r.v[i].value_len)
            pub[np++] = r.v[i];
    t->labels = owned_labels_copy(pub, np);
    free(pub);
    lset_free(&r);
    lset_free(&s);
    return;
drop_r:
    lset_free(&r);
drop:
    add_dropped(dropped, discovered.v, discovered.n);
    owned_labels_free(&discovered);
    lset_free(&s);
}

void targets_build(const config_scrape *sc, const file_sd_state *sd, size_t nsd, relabel_builder *rb,
                   target_defs *active, target_defs *dropped) {
    for (size_t i = 0; i < sc->nstatic; i++) {
        const config_static *st = &sc->static_configs[i];
        for (size_t k = 0; k < st->ntargets; k++)
            build_target(sc, st->targets[k], st->labels, st->nlabels, rb, active, dropped);
    }
    for (size_t i = 0; i < nsd; i++)
        for (size_t f = 0; f < sd[i].nfiles; f++)
            for (size_t g = 0; g < sd[i].files[f].ngroups; g++) {
                const sd_group *grp = &sd[i].files[f].groups[g];
                for (size_t k = 0; k < grp->ntargets; k++)
                    build_target(sc, grp->targets[k], grp->labels.v, grp->labels.n, rb, active, dropped);
            }
}

/* ------------------------------------------------------------ file_sd */

static void groups_free(sd_group *g, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < g[i].ntargets; k++) free(g[i].targets[k]);
        free(g[i].targets);
        owned_labels_free(&g[i].labels);
    }
    free(g);
}

static int node_is(const yaml_node_t *n, const char *s) {
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* Parses [{targets: [...], labels: {...}}, ...] from YAML or JSON text. */
int file_sd_parse(const char *text, size_t len, sd_group **out, size_t *nout, errbuf *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    *out = NULL;
    *nout = 0;
    if (!yaml_parser_initialize(&parser)) return errf(err, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        errf(err, "%s at line %zu", parser.problem ? parser.problem : "parse error", parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    sd_group *groups = NULL;
    size_t ngroups = 0;
    if (!root) goto done; /* an empty file: no groups */
    if (root->type != YAML_SEQUENCE_NODE) {
        rc = errf(err, "expected a list of target groups");
        goto done;
    }
    size_t count = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    groups = xcalloc(count ? count : 1, sizeof *groups);
    for (size_t i = 0; i < count && !rc; i++) {
        yaml_node_t *g = yaml_document_get_node(&doc, root->data.sequence.items.start[i]);
        if (!g || g->type != YAML_MAPPING_NODE) {
            rc = errf(err, "target group %zu is not a mapping", i + 1);
            break;
        }
        sd_group *grp = &groups[ngroups++];
        label *ls = NULL;
        size_t nls = 0;
        for (yaml_node_pair_t *p = g->data.mapping.pairs.start; p < g->data.mapping.pairs.top && !rc; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
            if (node_is(k, "targets") && v && v->type == YAML_SEQUENCE_NODE) {
                size_t nt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
                grp->targets = xcalloc(nt ? nt : 1, sizeof *grp->targets);
                for (size_t t = 0; t < nt; t++) {
                    yaml_node_t *tn = yaml_document_get_node(&doc, v->data.sequence.items.start[t]);
                    if (!tn || tn->type != YAML_SCALAR_NODE) {
                        rc = errf(err, "a target is not a string");
                        break;
                    }
                    grp->targets[grp->ntargets++] =
                        xstrndup((const char *)tn->data.scalar.value, tn->data.scalar.length);
                }
            } else if (node_is(k, "labels") && v && v->type == YAML_MAPPING_NODE) {
                size_t nl = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
                ls = xcalloc(nl + 1, sizeof *ls);
                for (yaml_node_pair_t *lp = v->data.mapping.pairs.start; lp < v->data.mapping.pairs.top; lp++) {
                    yaml_node_t *lk = yaml_document_get_node(&doc, lp->key),
                                *lv = yaml_document_get_node(&doc, lp->value);
                    if (!lk || lk->type != YAML_SCALAR_NODE || !lv || lv->type != YAML_SCALAR_NODE ||
                        !label_name_valid((const char *)lk->data.scalar.value, lk->data.scalar.length)) {
                        rc = errf(err, "invalid label in target group %zu", i + 1);
                        break;
                    }
                    ls[nls++] = (label){(const char *)lk->data.scalar.value, (uint32_t)lk->data.scalar.length,
                                        (const char *)lv->data.scalar.value, (uint32_t)lv->data.scalar.length};
                }
            } else if (node_is(k, "labels") && v && v->type == YAML_SCALAR_NODE && !v->data.scalar.length) {
                /* labels: (empty) */
            } else {
                rc = errf(err, "unexpected key in target group %zu", i + 1);
            }
        }
        labels_sort(ls, nls);
        grp->labels = owned_labels_copy(ls, nls);
        free(ls);
    }
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) {
        groups_free(groups, ngroups);
        return -1;
    }
    *out = groups;
    *nout = ngroups;
    return 0;
}

/* Reads and parses one file; on success replaces f's groups and adds
 * __meta_filepath to each group.  On failure keeps the old groups. */
static void sd_file_read(sd_file *f) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return;
    buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0 && b.len < (16u << 20)) buf_append(&b, tmp, n);
    fclose(fp);
    sd_group *groups;
    size_t ngroups;
    errbuf err;
    if (file_sd_parse((const char *)b.data, b.len, &groups, &ngroups, &err)) {
        fprintf(stderr, "promlite: file_sd: %s: %s\n", f->path, err.msg);
        buf_free(&b);
        return;
    }
    buf_free(&b);
    for (size_t i = 0; i < ngroups; i++) {
        owned_labels *ol = &groups[i].labels;
        label *ls = xmalloc((ol->n + 1) * sizeof *ls);
        size_t nl = 0;
        for (size_t k = 0; k < ol->n; k++)
            if (strcmp(ol->v[k].name, "__meta_filepath")) ls[nl++] = ol->v[k];
        ls[nl++] = (label){"__meta_filepath", 15, f->path, (uint32_t)strlen(f->path)};
        labels_sort(ls, nl);
        owned_labels copy = owned_labels_copy(ls, nl);
        free(ls);
        owned_labels_free(ol);
        *ol = copy;
    }
    groups_free(f->groups, f->ngroups);
    f->groups = groups;
    f->ngroups = ngroups;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int file_sd_refresh(const config_file_sd *c, file_sd_state *st, int force) {
    /* The current set of matching files, sorted and unique. */
    char **paths = NULL;
    size_t np = 0, cap = 0;
    for (size_t i = 0; i < c->nfiles; i++) {
        glob_t g;
        if (glob(c->files[i], 0, NULL, &g) == 0) {
            for (size_t k = 0; k < g.gl_pathc; k++) {
                if (np == cap) {
                    cap = cap ? cap * 2 : 8;
                    paths = xrealloc(paths, cap * sizeof *paths);
                }
                paths[np++] = strdup(g.gl_pathv[k]);
            }
        }
        globfree(&g);
    }
    qsort(paths, np, sizeof *paths, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < np; i++) {
        if (u && !strcmp(paths[u - 1], paths[i])) free(paths[i]);
        else paths[u++] = paths[i];
    }
    np = u;
    int changed = np != st->nfiles;
    sd_file *files = xcalloc(np ? np : 1, sizeof *files);
    for (size_t i = 0; i < np; i++) {
        sd_file *old = NULL;
        for (size_t k = 0; k < st->nfiles; k++)
            if (st->files[k].path && !strcmp(st->files[k].path, paths[i])) old = &st->files[k];
        struct stat sb;
        int have = stat(paths[i], &sb) == 0;
        if (old) {
            files[i] = *old;
            old->path = NULL;
            old->groups = NULL;
            old->ngroups = 0;
            free(paths[i]);
        } else {
            files[i].path = paths[i];
            changed = 1;
        }
        int modified = !old || !have || sb.st_mtim.tv_sec != files[i].mtime.tv_sec ||
                       sb.st_mtim.tv_nsec != files[i].mtime.tv_nsec || sb.st_size != files[i].size;
        if (force || modified) {
            if (have) {
                files[i].mtime = sb.st_mtim;
                files[i].size = sb.st_size;
            }
            size_t before = files[i].ngroups;
            sd_group *before_g = files[i].groups;
            sd_file_read(&files[i]);
            if (files[i].groups != before_g || files[i].ngroups != before) changed = 1;
        }
    }
    free(paths);
    for (size_t k = 0; k < st->nfiles; k++) {
        if (st->files[k].path) changed = 1;
        free(st->files[k].path);
        groups_free(st->files[k].groups, st->files[k].ngroups);
    }
    free(st->files);
    st->files = files;
    st->nfiles = np;
    return changed;
}

void file_sd_free(file_sd_state *st) {
    for (size_t k = 0; k < st->nfiles; k++) {
        free(st->files[k].path);
        groups_free(st->files[k].groups, st->files[k].ngroups);
    }
    free(st->files);
    memset(st, 0, sizeof *st);
}
