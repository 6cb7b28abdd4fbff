/*
 * util.h - small helpers shared by every module: checked allocation, error
 * strings, growable byte buffers, varints, big-endian keys, clocks and
 * human-readable sizes.
 *
 * Ownership: a buf owns its memory (buf_free); everything else allocates
 * nothing unless its comment says so.
 * Threads: no shared state; any thread.
 */
#ifndef PROMLITE_UTIL_H
#define PROMLITE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An error message written by a callee for its caller: fixed size so that
 * error paths never allocate. */
typedef struct { char msg[512]; } errbuf;

/* Sets e->msg (printf-style) and returns -1, so error paths read
 * `return errf(err, "...", ...)`.  e may be NULL. */
int errf(errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/calloc/realloc that abort the process with a message when memory is
 * exhausted.  Used for bookkeeping allocations where no sensible recovery
 * exists; limits on untrusted input are enforced before allocating. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);

/* A growable byte buffer. */
typedef struct { uint8_t *data; size_t len, cap; } buf;
void buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *p, size_t n);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void buf_reset(buf *b) { b->len = 0; }
void buf_free(buf *b);

/* LEB128 varints; zigzag for signed values. */
size_t varint_put(uint8_t *out, uint64_t v);            /* <= 10 bytes */
/* Returns bytes consumed, 0 when the input is truncated or overlong. */
size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v);
static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Big-endian 64-bit keys sort in numeric order under memcmp. */
static inline void be64_put(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t be64_get(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
/* Signed timestamps in keys: flip the sign bit so memcmp order is numeric. */
static inline void be64_put_i(uint8_t *p, int64_t v) { be64_put(p, (uint64_t)v ^ (1ULL << 63)); }
static inline int64_t be64_get_i(const uint8_t *p) { return (int64_t)(be64_get(p) ^ (1ULL << 63)); }

/* Formats a finite or infinite float as Go's strconv.FormatFloat(v, 'g',
 * -1, 64) does, which is how Prometheus writes sample values: the fewest
 * digits that read back to the same bits, exponent form when the decimal
 * exponent is < -4 or >= 6 ("1e+06", "123456", "5e-324", "-0"), "+Inf", "-Inf",
 * "NaN".  out needs FLOAT_TEXT_MAX bytes.  Returns out. */
#define FLOAT_TEXT_MAX 32
const char *format_float(double v, char *out);

/* Reads a whole file of at most max bytes into a NUL-terminated heap
 * string (*len its length when len is not NULL).  Returns NULL with errno
 * set when it cannot be read, or EFBIG when it is larger than max. */
char *read_small_file(const char *path, size_t max, size_t *len);

/* Standard base64 with padding (RFC 4648) of n bytes into out,
 * NUL-terminated; out needs base64_encoded_size(n) bytes. */
static inline size_t base64_encoded_size(size_t n) { return (n + 2) / 3 * 4 + 1; }
void base64_encode(const void *in, size_t n, char *out);

/* Formats a byte count as "1.5 MiB" into out. */
const char *human_bytes(double bytes, char *out, size_t outlen);

/* The CLOCK_MONOTONIC time ms milliseconds from now: the deadline of a
 * pthread_cond_timedwait() on a condition variable set to that clock
 * (pthread_condattr_setclock), so wall-clock steps do not stretch waits. */
struct timespec;
void deadline_after_ms(struct timespec *ts, int64_t ms);

/* Monotonic clock in seconds and process CPU time (user+system) in seconds. */
double mono_seconds(void);
/* The same clock in whole microseconds: deadlines kept as integer keys. */
int64_t mono_micros(void);
double cpu_seconds(void);
/* Peak and current resident set size of this process in bytes (/proc). */
uint64_t peak_rss_bytes(void);
uint64_t current_rss_bytes(void);
/* The two parts of the RSS: anonymous memory (malloc, stacks) and pages of
 * mapped files (LMDB's map), which the kernel can drop and re-read. */
uint64_t current_rss_anon_bytes(void);
uint64_t current_rss_file_bytes(void);

#endif
