/*
 * scrape_int.h - internals shared by the scrape manager (ingest/scrape.c)
 * and target building (ingest/targets.c); not a public API.
 *
 * Target building turns a scrape config plus discovered groups (the
 * static_configs and the groups read from file_sd files) into target
 * definitions: Prometheus's populateLabels (discovered labels, defaults,
 * relabel_configs, default port, instance, removal of __ labels) and the
 * scrape URL.  A definition owns copies of everything it holds, so it
 * outlives the configuration it was built from.
 *
 * file_sd state remembers, per matched file, its mtime and the groups last
 * read from it; a file that fails to parse keeps its previous groups, as
 * Prometheus does.
 *
 * Threads: everything here runs on the scrape thread (relabel rules are
 * applied by one thread at a time).
 */
#ifndef PROMLITE_SCRAPE_INT_H
#define PROMLITE_SCRAPE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/labels.h"
#include "ingest/config.h"
#include "ingest/relabel.h"

/* A label set with its own storage: one allocation holding the array and
 * the NUL-terminated strings. */
typedef struct {
    label *v;
    size_t n;
} owned_labels;

owned_labels owned_labels_copy(const label *v, size_t n);
void owned_labels_free(owned_labels *o);

/* One target as built from the configuration. */
typedef struct {
    owned_labels discovered;   /* before relabel_configs (sorted)          */
    owned_labels labels;       /* the target labels: no "__" names, sorted */
    char *url;                 /* NULL for dropped targets                 */
    char *address;             /* __address__ after relabeling             */
    int64_t interval_ms, timeout_ms;
    uint64_t hash;             /* identity: labels incl. internal + URL    */
} target_def;

typedef struct {
    target_def *v;
    size_t n, cap;
} target_defs;

void target_defs_free(target_defs *d);
/* Frees what one definition owns. */
void target_def_free(target_def *t);

/* One target group: addresses and their common labels. */
typedef struct {
    char **targets;
    size_t ntargets;
    owned_labels labels;
} sd_group;

/* A file matched by a file_sd pattern with what was read from it. */
typedef struct {
    char *path;
    struct timespec mtime;
    off_t size;
    sd_group *groups;
    size_t ngroups;
} sd_file;

/* State of one file_sd_configs entry. */
typedef struct {
    sd_file *files;
    size_t nfiles;
    int64_t next_refresh_ms;   /* wall clock: the next forced re-read */
} file_sd_state;

/* Re-reads the files of c when force is set, when their mtime or size
 * changed, or when the glob matches another set of files.  Returns 1 when
 * the groups changed, 0 otherwise. */
int file_sd_refresh(const config_file_sd *c, file_sd_state *st, int force);
void file_sd_free(file_sd_state *st);

/* Builds the targets of sc from its static_configs and the groups of its
 * file_sd states (sd[0..nsd)).  Active targets are deduplicated by hash.
 * rb is scratch for relabeling. */
void targets_build(const config_scrape *sc, const file_sd_state *sd, size_t nsd, relabel_builder *rb,
                   target_defs *active, target_defs *dropped);

/* Parses the body of a file_sd file (YAML or JSON: [{targets, labels}]).
 * Returns 0, or -1 with err set.  Exposed for tests. */
int file_sd_parse(const char *text, size_t len, sd_group **out, size_t *nout, errbuf *err);

#endif
