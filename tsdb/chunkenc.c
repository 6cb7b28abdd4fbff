/*
 * chunkenc.c - sample chunk encodings: the appendable open chunk (Gorilla)
 * and the sealed chunk codecs.  API and ownership rules: chunkenc.h.
 *
 * DESIGN (figures measured by bench/codec_compare.c; see MEASUREMENTS below)
 *
 * Open chunk.  A bit stream appendable in O(1) (amortised), described in
 * full above open_chunk_init():
 *   header     the value mode: XOR, or decimal with scale K
 *   timestamp  delta-of-delta (dod) in buckets: '0' = 0, '10' + 7 bits,
 *              '110' + 14 bits, '1110' + 24 bits, '1111' + 64 bits.  The
 *              7-bit bucket (-64..63 ms) takes scrape jitter.
 *   value      decimal mode: the difference of the integer m (value =
 *              m / 10^K) from the previous one, in size buckets, or a raw
 *              exception; XOR mode: XOR with the previous value ('0' = same,
 *              '10' + meaningful bits in the previous window, '11' + 5-bit
 *              leading zeros + 6-bit length + meaningful bits, Prometheus's
 *              scheme).  Decimal mode halves to thirds the memory of
 *              node_exporter's values.
 * All timestamp arithmetic is modulo 2^64, so every int64 sequence
 * round-trips, however large its gaps.  The buffer grows in 32-byte steps
 * sized to malloc's chunk classes (see grow_buffer): memory per series stays
 * close to the stream's size instead of up to twice it.
 *
 * Sealed chunk.  Written once, read many times; the encoder knows all the
 * samples and tries several codecs, keeping the smallest:
 *
 *   byte 0       codec: low nibble = value codec, high nibble = time form
 *   varint       sample count n (>= 1)
 *   varint       zigzag(first timestamp)  -- chunk_header() stops here
 *   time params  (byte-aligned varints, see below)
 *   value params
 *   bit stream   time residuals, then value residuals (or XOR bits),
 *                zero-padded to a byte
 *   2 bytes      check: a 64-bit multiply-xorshift hash of everything
 *                before it, folded to 16 bits (little endian)
 *
 * Both timestamps and values are coded by one integer-sequence coder,
 * "intseq", over uint64 numbers with wrap-around arithmetic:
 *   1. a transform: raw x[i], delta x[i]-x[i-1], delta-of-delta, or (for
 *      timestamps) grid residual x[i] - x[0] - i*S with S the mean step;
 *   2. a mapping to unsigned numbers: either zigzag(e/g), or (e-min)/g, with
 *      g the GCD of the residuals (memory gauges move in 4096-byte pages);
 *   3. a Rice code with the per-chunk parameter k that minimises the size
 *      (searched around log2 of the mean), unary quotients capped at
 *      RICE_QLIM: a larger quotient is an escape followed by the number in
 *      W bits, W = bit width of the largest number.  k == W means plain
 *      W-bit fields (uniform noise, e.g. jitter), W == 0 means "all zero"
 *      (constant deltas, unchanged counters) and costs no bits at all.
 * The encoder evaluates every transform x mapping exactly and keeps the
 * cheapest (params included).
 *
 * Time forms: REGULAR (one delta, 0 bits/sample: the usual case without
 * jitter), or intseq over DELTA, DOD or GRID.  With jitter, GRID wins: the
 * residual from the ideal grid is as noisy as the jitter itself, while a dod
 * sums three jitters (variance x6, ~1.3 bits more).
 *
 * Value codecs:
 *   const   every value has the same bits: 8 raw bytes (any value, NaN too).
 *   dec-*   decimal: every value is m/10^K for one K in 0..22 and |m| < 2^53,
 *           bit-exact.  IEEE division is correctly rounded and 10^K is exact
 *           for K <= 22, so (double)m / 10^K gives back exactly what strtod
 *           gave for the decimal text.  The encoder verifies every value;
 *           -0.0, NaN and Inf cannot be decimal.  Up to DEC_MAX_EXCEPTIONS
 *           values that are not (a staleness marker, a stray 0.1+0.2) are
 *           "exceptions": stored raw, their slot repeats the previous number.
 *           The integers m go through intseq with RAW, DELTA or DOD.
 *   bits-*  the value's bits, remapped so that integer order is float order
 *           (negative values flipped), through intseq with RAW, DELTA or DOD.
 *           Wins on full-precision floats: random values within a few
 *           binades cost ~54 bits raw-minus-min instead of ~60-65 XOR bits,
 *           clocks and accumulating sums cost their noise, not 50 bits.
 *   xor     Gorilla XOR (as the open chunk): the fallback, rarely chosen.
 *
 * Why not a general-purpose compressor: a chunk is ~100-1000 bytes, too
 * little context for LZ/entropy coders, and they are slower to decode.
 *
 * Check bytes: LMDB has no checksums and decoders are fed damaged data; the
 * structural checks alone (params in range, timestamps strictly increasing,
 * stream consumed exactly, padding zero) catch most damage but not a flipped
 * bit inside a raw field.  Two bytes (~0.01 byte/sample) make undetected
 * damage a 1/65536 event.  chunk_header() does not verify them (it must stay
 * cheap); chunk_decode() does.
 *
 * Supported range: any int64 timestamps strictly increasing (deltas are taken
 * modulo 2^64, so even INT64_MIN..INT64_MAX round-trips), any doubles bit
 * for bit, 1 <= n <= INT32_MAX samples per sealed chunk, n <= 65535 per open
 * chunk.
 *
 * MEASUREMENTS (gen_openmetrics.py --hosts 10 --duration 2h --interval 15s,
 * 1.416 M samples, 2950 series, chunks cut at 240 samples or 1024 open bytes;
 * chunk bytes only, keys excluded; gcc 12 -O2, one core of a 2-core VM):
 *
 *   bytes/sample   open   xor    bits   const  dec    best
 *                  3.129  3.011  2.413  2.982  1.340  1.297
 *   (const and dec code 23.6% and 90.1% of the samples; their other chunks
 *   are counted at their xor size.)  best is 41% of the open chunk (2.4x
 *   smaller); of its 1.297 bytes, header + timestamps take 0.055 (every
 *   chunk here has regular timestamps).  7137 chunks, 198.4 samples each on
 *   average, largest 988 bytes.
 *
 *   codec chosen by best (share of samples): dec-dod 34.2%, dec-delta
 *   30.3%, bits-raw 12.1%, dec-raw 10.6%, bits-delta 6.9%, const 2.8%, xor
 *   2.0%, bits-dod 1.0%.  23.6% of the samples are in constant chunks but
 *   only 2.8% use const: dec-raw or bits-raw with all-zero residuals (just
 *   params: K, exception count, width, base) is usually under 8 bytes.
 *
 *   Where the bytes go: node_scrape_collector_duration_seconds (full-
 *   precision noise, 6.83 bytes/sample with bits-*, 7.32 open) is 36% of
 *   the best bytes; node_cpu_seconds (decimal counters) takes 0.86
 *   bytes/sample against 5.76 open.
 *
 *   speed (CPU time, one thread; runs vary by ~15%):
 *     open_chunk_append   30-40 M samples/s
 *     open_chunk_decode   60-75 M samples/s
 *     chunk_encode        5.5-6.5 M samples/s (150-180 ns/sample)
 *     chunk_decode        about 100 M samples/s (9-10 ns/sample)
 */
#include "tsdb/chunkenc.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ constants */

enum time_form { TF_REGULAR = 0, TF_DELTA = 1, TF_DOD = 2, TF_GRID = 3, TF_COUNT };

enum value_codec {
    VC_XOR = 0, VC_CONST, VC_DEC_RAW, VC_DEC_DELTA, VC_DEC_DOD,
    VC_BITS_RAW, VC_BITS_DELTA, VC_BITS_DOD, VC_COUNT
};

/* intseq transforms; DELTA, DOD and GRID share their numbers with the time
 * forms, RAW/DELTA/DOD are the offsets of dec-* and bits-* from their RAW. */
enum transform { T_RAW = 0, T_DELTA = 1, T_DOD = 2, T_GRID = 3 };

static const char *const value_codec_names[VC_COUNT] = {
    "xor", "const", "dec-raw", "dec-delta", "dec-dod", "bits-raw", "bits-delta", "bits-dod",
};
static const char *const time_form_names[TF_COUNT] = {"regular", "delta", "dod", "grid"};

#define RICE_QLIM 16u             /* unary quotients >= this are escapes        */
#define DEC_MAX_SCALE 22          /* 10^22 is the largest exact power of ten    */
#define DEC_MAX_EXCEPTIONS 8      /* non-decimal values a dec chunk may carry   */
#define CHECK_BYTES 2
#define OC_NO_WINDOW 0xff         /* open_chunk.leading before the first window */
#define OC_MAX_SAMPLE_BITS (4 + 64 + 2 + 5 + 6 + 64) /* worst case per sample  */
#define TWO53 9007199254740992.0

/* Powers of ten, all exact doubles. */
static const double pow10_table[DEC_MAX_SCALE + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* ------------------------------------------------------- integer helpers */

static inline uint64_t zigzag(uint64_t v) { return (v << 1) ^ (0 - (v >> 63)); }
static inline uint64_t unzigzag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }
static inline unsigned bit_width(uint64_t v) { return v ? 64u - (unsigned)__builtin_clzll(v) : 0u; }

/* uint64 -> int64 without relying on implementation-defined conversion. */
static inline int64_t to_signed(uint64_t u) {
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Signed "a < b" for numbers kept as uint64 two's complement. */
static inline bool signed_less(uint64_t a, uint64_t b) {
    return (a ^ (1ull << 63)) < (b ^ (1ull << 63));
}

static uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static inline uint64_t double_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static inline double bits_double(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* Maps float bits to integers in the same order as the floats (for finite
 * values): negative floats have all bits but the sign flipped.  It is its
 * own inverse.  Used by bits-*, so that a series crossing zero or moving
 * within one binade has small deltas. */
static inline uint64_t bits_order(uint64_t b) { return b ^ ((0 - (b >> 63)) >> 1); }

/* Scratch arrays live in the caller's output buffer, which need not be
 * aligned: access them through memcpy (compiled to plain loads/stores). */
static inline uint64_t sload(const uint8_t *s, size_t i) {
    uint64_t v;
    memcpy(&v, s + 8 * i, 8);
    return v;
}
static inline void sstore(uint8_t *s, size_t i, uint64_t v) { memcpy(s + 8 * i, &v, 8); }

/* ------------------------------------------------------------- varints */

static size_t uvarint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_uvarint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a LEB128 varint at *pos, never past len.  Rejects truncated and
 * over-long (> 64 bit) encodings. */
static int get_uvarint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    size_t p = *pos;
    for (unsigned shift = 0;; shift += 7) {
        if (p >= len || shift > 63) return -1;
        uint8_t b = buf[p++];
        if (shift == 63 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    *pos = p;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------ bit I/O */

/* MSB-first bit writer.  acc holds the nacc (< 8 between calls) bits not yet
 * stored; whole bytes go straight to p. */
typedef struct bit_writer {
    uint8_t *p;
    uint64_t acc;
    unsigned nacc;
} bit_writer;

/* Starts writing at bit offset nbits of buf, keeping the bits before it. */
static bit_writer bw_resume(uint8_t *buf, size_t nbits) {
    bit_writer w = {buf + nbits / 8, 0, (unsigned)(nbits & 7)};
    if (w.nacc) w.acc = (uint64_t)(buf[nbits / 8] >> (8 - w.nacc));
    return w;
}

/* Writes the low n (<= 56) bits of v. */
static inline void bw_put(bit_writer *w, uint64_t v, unsigned n) {
    if (n == 0) return;
    w->acc = (w->acc << n) | (v & (~0ull >> (64 - n)));
    w->nacc += n;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        *w->p++ = (uint8_t)(w->acc >> w->nacc);
    }
}

/* Writes the low n (<= 64) bits of v. */
static inline void bw_put64(bit_writer *w, uint64_t v, unsigned n) {
    if (n > 32) {
        bw_put(w, v >> 32, n - 32);
        n = 32;
    }
    bw_put(w, v, n);
}

/* Stores the last partial byte, zero-padded; returns the end pointer. */
static uint8_t *bw_flush(bit_writer *w) {
    if (w->nacc) *w->p++ = (uint8_t)(w->acc << (8 - w->nacc));
    w->nacc = 0;
    return w->p;
}

/* MSB-first bit reader over buf[0..nbytes).  Bits past the end read as
 * zeros, so a damaged stream can never make it read outside the buffer; the
 * caller checks pos against the stream's length when done. */
typedef struct bit_reader {
    const uint8_t *buf;
    size_t nbytes;
    size_t pos;                   /* in bits */
} bit_reader;

/* The next 64 bits at pos; at least the first 57 are valid stream bits (or
 * zeros past the end). */
static inline uint64_t br_peek(const bit_reader *r) {
    size_t byte = r->pos >> 3;
    uint64_t w = 0;
    if (byte + 8 <= r->nbytes) {
        const uint8_t *p = r->buf + byte;
        w = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
            (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | (uint64_t)p[7];
    } else {
        for (size_t i = 0; i < 8; i++) w = (w << 8) | (byte + i < r->nbytes ? r->buf[byte + i] : 0);
    }
    return w << (r->pos & 7);
}

/* Reads n bits, 1 <= n <= 57. */
static inline uint64_t br_get(bit_reader *r, unsigned n) {
    uint64_t v = br_peek(r) >> (64 - n);
    r->pos += n;
    return v;
}

/* Reads n bits, 0 <= n <= 64. */
static inline uint64_t br_get64(bit_reader *r, unsigned n) {
    if (n == 0) return 0;
    if (n > 56) {
        uint64_t hi = br_get(r, n - 32);
        return hi << 32 | br_get(r, 32);
    }
    return br_get(r, n);
}

/* Number of leading one bits of w (64 if all ones). */
static inline unsigned leading_ones(uint64_t w) { return ~w ? (unsigned)__builtin_clzll(~w) : 64u; }

/* ------------------------------------------------------------ Rice code */

/* Bits to code u with Rice parameter k < width (escapes included). */
static inline size_t rice_len(uint64_t u, unsigned k, unsigned width) {
    uint64_t q = u >> k;
    return q < RICE_QLIM ? (size_t)q + 1 + k : RICE_QLIM + width;
}

/* Writes u: W == 0 nothing, k >= W a W-bit field, else Rice/escape. */
static inline void rice_put(bit_writer *w, uint64_t u, unsigned k, unsigned width) {
    if (width == 0) return;
    if (k >= width) {
        bw_put64(w, u, width);
        return;
    }
    uint64_t q = u >> k;
    if (q < RICE_QLIM) {
        bw_put(w, ((1ull << q) - 1) << 1, (unsigned)q + 1);
        bw_put64(w, u, k);
    } else {
        bw_put(w, (1ull << RICE_QLIM) - 1, RICE_QLIM);
        bw_put64(w, u, width);
    }
}

/* Reads one number written by rice_put with 0 <= k < width. */
static inline uint64_t rice_get(bit_reader *r, unsigned k, unsigned width) {
    uint64_t w = br_peek(r);
    unsigned q = leading_ones(w);
    if (q < RICE_QLIM) {
        if (q + 1 + k <= 57) {
            r->pos += q + 1 + k;
            return ((uint64_t)q << k) | (k ? (w << (q + 1)) >> (64 - k) : 0);
        }
        r->pos += q + 1;
        return ((uint64_t)q << k) | br_get64(r, k);
    }
    r->pos += RICE_QLIM;
    return br_get64(r, width);
}

/* ------------------------------------------------------------- XOR code */

/* Gorilla XOR state: previous value bits and the current window. */
typedef struct xor_state {
    uint64_t prev;
    uint8_t leading, trailing;
} xor_state;

/* Writes cur as the XOR with the previous value (not for the first value,
 * which is written raw). */
static void xor_put(bit_writer *w, xor_state *s, uint64_t cur) {
    uint64_t x = cur ^ s->prev;
    s->prev = cur;
    if (x == 0) {
        bw_put(w, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31) lead = 31;
    if (s->leading != OC_NO_WINDOW && lead >= s->leading && trail >= s->trailing) {
        bw_put(w, 2, 2);
        bw_put64(w, x >> s->trailing, 64u - s->leading - s->trailing);
        return;
    }
    unsigned sig = 64 - lead - trail;
    bw_put(w, 3, 2);
    bw_put(w, lead, 5);
    bw_put(w, sig & 63, 6);
    bw_put64(w, x >> trail, sig);
    s->leading = (uint8_t)lead;
    s->trailing = (uint8_t)trail;
}

/* Bits xor_put would write, updating the state the same way. */
static size_t xor_len(xor_state *s, uint64_t cur) {
    uint64_t x = cur ^ s->prev;
    s->prev = cur;
    if (x == 0) return 1;
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31) lead = 31;
    if (s->leading != OC_NO_WINDOW && lead >= s->leading && trail >= s->trailing)
        return 2 + 64u - s->leading - s->trailing;
    s->leading = (uint8_t)lead;
    s->trailing = (uint8_t)trail;
    return 2 + 5 + 6 + 64 - lead - trail;
}

/* Reads a value written by xor_put.  Returns -1 on an impossible code. */
static int xor_get(bit_reader *r, xor_state *s) {
    if (br_get(r, 1) == 0) return 0;
    if (br_get(r, 1) == 0) {
        if (s->leading == OC_NO_WINDOW) return -1;
        unsigned sig = 64u - s->leading - s->trailing;
        s->prev ^= br_get64(r, sig) << s->trailing;
        return 0;
    }
    unsigned lead = (unsigned)br_get(r, 5);
    unsigned sig = (unsigned)br_get(r, 6);
    if (sig == 0) sig = 64;
    if (lead + sig > 64) return -1;
    unsigned trail = 64 - lead - sig;
    uint64_t bits = br_get64(r, sig);
    if (sig < 64) bits <<= trail;
    s->prev ^= bits;
    s->leading = (uint8_t)lead;
    s->trailing = (uint8_t)trail;
    return 0;
}

/* ----------------------------------------------------------- open chunk */

/*
 * The open chunk's stream:
 *
 *   8 bits     mode: 0 = XOR values, 1 + K = decimal values with scale K
 *   sample 0   64-bit timestamp; the value as 64 raw bits (XOR mode) or
 *              64-bit zigzag(m) (decimal mode)
 *   sample i   timestamp delta-of-delta in buckets ('0', '10'+7, '110'+14,
 *              '1110'+24, '1111'+64 bits); the value as XOR (Gorilla), or in
 *              decimal mode the difference of m from the previous decimal
 *              value in buckets: '0' = same, '10'+6, '110'+13, '1110'+20,
 *              '11110'+32, '111110'+64 bits (two's complement), or '111111'
 *              + 64 raw bits for a value that is not m / 10^K (an
 *              exception: a staleness marker, -0.0, a stray full-precision
 *              value), which leaves the previous m unchanged.
 *
 * Why decimal in memory too: node_exporter's values mostly carry a few
 * decimal digits, which XOR codes in 40-50 bits a sample (the changing
 * mantissa bits) while their integer differences take 10-20.  The open
 * chunk is what a series costs in memory, so this is memory per series.
 *
 * The mode is picked on the first value: the smallest K <= OC_MAX_SCALE at
 * which it is exactly m / 10^K (the same bit-exact test as the sealed dec
 * codec), XOR when there is none.  A later value that needs a larger K
 * makes the chunk re-encode itself at that K; one that is not decimal at
 * all is an exception, and once exceptions pass OC_MAX_EXCEPTIONS the chunk
 * re-encodes itself as XOR.  Re-encoding decodes and appends every sample
 * again: O(n), at most OC_MAX_SCALE + 1 times per chunk.
 */
#define OC_MAX_SCALE 9
#define OC_MAX_EXCEPTIONS 8

static bool dec_mantissa(double v, unsigned scale, int64_t *m_out);

void open_chunk_init(open_chunk *c) {
    memset(c, 0, sizeof *c);
    c->leading = OC_NO_WINDOW;
}

void open_chunk_free(open_chunk *c) {
    free(c->buf);
    open_chunk_init(c);
}

/* Makes room for need bytes.  Grows in 32-byte steps, asking for 32k-8
 * bytes: glibc serves that from a 32k-byte chunk with nothing wasted, so a
 * series costs about its stream plus 0..31 bytes, not up to double. */
static int grow_buffer(open_chunk *c, uint32_t need) {
    uint32_t cap = ((need + 8 + 31) & ~31u) - 8;
    uint8_t *nb = realloc(c->buf, cap);
    if (!nb) return -1;
    c->buf = nb;
    c->cap = cap;
    return 0;
}

/* Writes a timestamp delta-of-delta in the open chunk's buckets. */
static void put_dod_bucket(bit_writer *w, uint64_t dod) {
    int64_t s = to_signed(dod);
    if (dod == 0) {
        bw_put(w, 0, 1);
    } else if (s >= -64 && s <= 63) {
        bw_put(w, 2, 2);
        bw_put(w, dod, 7);
    } else if (s >= -8192 && s <= 8191) {
        bw_put(w, 6, 3);
        bw_put(w, dod, 14);
    } else if (s >= -(1 << 23) && s < (1 << 23)) {
        bw_put(w, 14, 4);
        bw_put(w, dod, 24);
    } else {
        bw_put(w, 15, 4);
        bw_put64(w, dod, 64);
    }
}

/* Reads a bucketed delta-of-delta (sign-extended). */
static uint64_t get_dod_bucket(bit_reader *r) {
    unsigned ones = leading_ones(br_peek(r));
    static const unsigned widths[5] = {0, 7, 14, 24, 64};
    if (ones > 4) ones = 4;
    r->pos += ones < 4 ? ones + 1 : 4;
    unsigned n = widths[ones];
    if (n == 0) return 0;
    uint64_t v = br_get64(r, n);
    if (n < 64 && (v >> (n - 1))) v |= ~0ull << n;
    return v;
}

/* Decimal-mode value buckets: prefix of k ones and a zero (k < 5) or five
 * ones, then widths[k] bits; the sixth ones-run marks a raw exception. */
static const unsigned oc_dec_widths[6] = {0, 6, 13, 20, 32, 64};

static void put_dec_delta(bit_writer *w, int64_t d) {
    for (unsigned k = 0; k < 6; k++) {
        unsigned n = oc_dec_widths[k];
        if (k == 5 || (n == 0 ? d == 0 : (d >= -(1ll << (n - 1)) && d < (1ll << (n - 1))))) {
            bw_put(w, k < 5 ? ((1u << (k + 1)) - 2) : 62u, k < 5 ? k + 1 : 6); /* k ones, a zero */
            bw_put64(w, (uint64_t)d, n);
            return;
        }
    }
}

static void put_dec_exception(bit_writer *w, uint64_t bits) {
    bw_put(w, 63, 6);
    bw_put64(w, bits, 64);
}

/* The decimal integer m of v at scale K, when v is exactly m / 10^K. */
static bool oc_decimal(double v, unsigned scale, int64_t *m) {
    return isfinite(v) && dec_mantissa(v, scale, m);
}

/* The smallest scale at which v is decimal, or -1. */
static int oc_min_scale(double v) {
    int64_t m;
    if (!isfinite(v)) return -1;
    for (unsigned k = 0; k <= OC_MAX_SCALE; k++)
        if (oc_decimal(v, k, &m)) return (int)k;
    return -1;
}

/* Appends with the chunk's current mode; *fits is cleared (and nothing
 * written) when the value needs another mode. */
static int append_in_mode(open_chunk *c, int64_t t, double v, bool allow_exception, bool *fits) {
    *fits = true;
    uint32_t need = (c->nbits + 8 + OC_MAX_SAMPLE_BITS + 7) / 8;
    if (need > c->cap && grow_buffer(c, need)) return -1;
    uint64_t vb = double_bits(v);
    int64_t m = 0;
    bool dec = c->mode && oc_decimal(v, c->mode - 1u, &m);
    if (c->mode && !dec && (!allow_exception || c->count == 0)) {
        *fits = false;
        return 0;
    }
    bit_writer w = bw_resume(c->buf, c->nbits);
    if (c->count == 0) {
        bw_put(&w, c->mode, 8);
        bw_put64(&w, (uint64_t)t, 64);
        bw_put64(&w, c->mode ? zigzag((uint64_t)m) : vb, 64);
        c->t_delta = 0;
        c->leading = OC_NO_WINDOW;
        c->trailing = 0;
        c->exceptions = 0;
        c->v_last = c->mode ? (uint64_t)m : vb;
    } else {
        uint64_t delta = (uint64_t)t - (uint64_t)c->t_last;
        put_dod_bucket(&w, delta - (uint64_t)c->t_delta);
        c->t_delta = to_signed(delta);
        if (!c->mode) {
            xor_state xs = {c->v_last, c->leading, c->trailing};
            xor_put(&w, &xs, vb);
            c->leading = xs.leading;
            c->trailing = xs.trailing;
            c->v_last = vb;
        } else if (dec) {
            put_dec_delta(&w, (int64_t)((uint64_t)m - c->v_last));
            c->v_last = (uint64_t)m;
        } else {
            put_dec_exception(&w, vb);
            c->exceptions++;
        }
    }
    uint32_t end = (uint32_t)(w.p - c->buf) * 8 + w.nacc;
    bw_flush(&w);
    c->nbits = end;
    c->t_last = t;
    c->count++;
    return 0;
}

/* Rewrites the chunk in another mode, then appends (t, v).  Allocates the
 * new stream before touching the old, so on failure the chunk is unchanged. */
static int reencode_and_append(open_chunk *c, uint8_t mode, int64_t t, double v) {
    size_t n = c->count;
    int64_t *ts = malloc((n + 1) * sizeof *ts);
    double *vs = malloc((n + 1) * sizeof *vs);
    open_chunk nc;
    open_chunk_init(&nc);
    int rc = -1;
    if (!ts || !vs || open_chunk_decode(c->buf, c->nbits, (uint16_t)n, ts, vs) != (int)n) goto out;
    ts[n] = t;
    vs[n] = v;
    /* The wanted mode; XOR when the first value does not fit it (its m
     * would pass 2^53 at the larger scale) or exceptions stay the norm. */
    for (int attempt = 0; attempt < 2; attempt++) {
        open_chunk_free(&nc);
        nc.mode = attempt == 0 ? mode : 0;
        bool fits = true;
        for (size_t i = 0; i <= n && fits; i++)
            if (append_in_mode(&nc, ts[i], vs[i], true, &fits)) goto out;
        if (fits && (nc.mode == 0 || nc.exceptions <= OC_MAX_EXCEPTIONS)) break;
    }
    free(c->buf);
    *c = nc;
    nc.buf = NULL;
    rc = 0;
out:
    free(nc.buf);
    free(ts);
    free(vs);
    return rc;
}

int open_chunk_append(open_chunk *c, int64_t t, double v) {
    if (c->count == UINT16_MAX) return -1;
    if (c->count == 0) {
        int k = oc_min_scale(v);
        c->mode = k < 0 ? 0 : (uint8_t)(k + 1);
    }
    bool fits;
    if (!c->mode || c->count == 0) return append_in_mode(c, t, v, false, &fits);
    if (append_in_mode(c, t, v, false, &fits)) return -1;
    if (fits) return 0;
    /* Not decimal at the chunk's scale: a larger scale if one fits every
     * value so far (each m times a power of ten stays exact below 2^53), an
     * exception otherwise, and XOR once exceptions are the norm. */
    int k = oc_min_scale(v);
    if (k > (int)c->mode - 1) return reencode_and_append(c, (uint8_t)(k + 1), t, v);
    if (c->exceptions >= OC_MAX_EXCEPTIONS) return reencode_and_append(c, 0, t, v);
    return append_in_mode(c, t, v, true, &fits);
}

int open_chunk_decode(const uint8_t *buf, uint32_t nbits, uint16_t n, int64_t *ts, double *vs) {
    if (n == 0) return 0;
    if (!buf || nbits < 136) return -1;
    bit_reader r = {buf, ((size_t)nbits + 7) / 8, 0};
    unsigned mode = (unsigned)br_get(&r, 8);
    if (mode > OC_MAX_SCALE + 1) return -1;
    uint64_t t = br_get64(&r, 64);
    uint64_t first = br_get64(&r, 64);
    xor_state xs = {first, OC_NO_WINDOW, 0};
    int64_t m = (int64_t)unzigzag(first);
    double scale = mode ? pow10_table[mode - 1] : 1;
    uint64_t delta = 0;
    ts[0] = to_signed(t);
    vs[0] = mode ? (double)m / scale : bits_double(first);
    if (mode && (m >= (int64_t)TWO53 || m <= -(int64_t)TWO53)) return -1;
    for (uint16_t i = 1; i < n; i++) {
        delta += get_dod_bucket(&r);
        t += delta;
        ts[i] = to_signed(t);
        if (!mode) {
            if (xor_get(&r, &xs)) return -1;
            vs[i] = bits_double(xs.prev);
        } else {
            unsigned ones = leading_ones(br_peek(&r));
            if (ones >= 6) {
                r.pos += 6;
                vs[i] = bits_double(br_get64(&r, 64));
            } else {
                r.pos += ones + 1;
                unsigned w = oc_dec_widths[ones];
                uint64_t d = br_get64(&r, w);
                if (w && w < 64 && (d >> (w - 1))) d |= ~0ull << w;
                m = (int64_t)((uint64_t)m + d);
                if (m >= (int64_t)TWO53 || m <= -(int64_t)TWO53) return -1;
                vs[i] = (double)m / scale;
            }
        }
        if (ts[i] <= ts[i - 1] || r.pos > nbits) return -1;
    }
    return r.pos <= nbits ? (int)n : -1;
}

/* --------------------------------------------------------------- intseq */

/* How a sequence of n uint64 numbers x[] is coded. */
typedef struct intseq_plan {
    uint8_t transform;            /* enum transform                            */
    uint8_t offset;               /* 1: u = (e-base)/g, 0: u = zigzag(e/g)     */
    uint8_t k;                    /* Rice parameter, k == width: fixed width   */
    uint8_t width;                /* bit width of the largest u, 0: all zero   */
    uint64_t gcd, base;
    uint64_t x0, init1;           /* first number; first delta (DOD) or step (GRID) */
    size_t bits;                  /* total: params (x8) + residual bits        */
} intseq_plan;

/* Bytes of an intseq's params.  x0_known: x0 is the chunk's mint. */
static size_t plan_param_bytes(const intseq_plan *p, size_t n, bool x0_known) {
    size_t b = 1;
    if (p->width) b += 1 + (p->gcd > 1 ? uvarint_len(p->gcd) : 0);
    if (p->offset) b += uvarint_len(zigzag(p->base));
    if (p->transform != T_RAW && !x0_known) b += uvarint_len(zigzag(p->x0));
    if ((p->transform == T_DOD || p->transform == T_GRID) && n >= 2) b += uvarint_len(zigzag(p->init1));
    return b;
}

/* Computes the transform's residuals of x[0..n) into e[], and its initial
 * numbers into p.  Returns the residual count. */
static size_t make_residuals(const uint8_t *x, size_t n, unsigned transform, uint8_t *e, intseq_plan *p) {
    size_t m = 0;
    p->transform = (uint8_t)transform;
    p->x0 = sload(x, 0);
    p->init1 = 0;
    switch (transform) {
    case T_RAW:
        for (size_t i = 0; i < n; i++) sstore(e, m++, sload(x, i));
        break;
    case T_DELTA:
        for (size_t i = 1; i < n; i++) sstore(e, m++, sload(x, i) - sload(x, i - 1));
        break;
    case T_DOD:
        if (n >= 2) p->init1 = sload(x, 1) - sload(x, 0);
        for (size_t i = 2; i < n; i++)
            sstore(e, m++, (sload(x, i) - sload(x, i - 1)) - (sload(x, i - 1) - sload(x, i - 2)));
        break;
    case T_GRID:
        /* Only for strictly increasing sequences: the span fits uint64. */
        if (n >= 2) p->init1 = (sload(x, n - 1) - p->x0) / (n - 1);
        for (size_t i = 1; i < n; i++) sstore(e, m++, sload(x, i) - p->x0 - (uint64_t)i * p->init1);
        break;
    }
    return m;
}

/* Maps a residual to the number the Rice code carries (see intseq_plan). */
static inline uint64_t map_residual(uint64_t e, bool offset, uint64_t base, uint64_t g) {
    if (offset) return (e - base) / g;
    if (e >> 63) return zigzag(0 - (((0 - e)) / g));
    return zigzag(e / g);
}

/* Picks the Rice parameter for u[0..m) (all < 2^width, width >= 1) and
 * returns the bits.  Tries log2 of the mean and walks to the minimum (the
 * cost is unimodal in k); k == width is the plain fixed-width code. */
static size_t choose_rice(const uint8_t *u, size_t m, unsigned width, double sum, uint8_t *k_out) {
    double mean = sum / (double)m;
    /* mean can round up to 2^64, which does not convert to uint64. */
    int k0 = mean >= 0x1p63 ? 63 : mean >= 2 ? (int)bit_width((uint64_t)mean) - 1 : 0;
    if (k0 > (int)width) k0 = (int)width;
    size_t best = SIZE_MAX;
    int best_k = k0;
    /* Evaluate k0-1, k0, k0+1 in one pass, then continue in the better
     * direction while the size drops. */
    size_t cost[3] = {0, 0, 0};
    int ks[3] = {k0 - 1, k0, k0 + 1};
    for (size_t j = 0; j < m; j++) {
        uint64_t v = sload(u, j);
        for (int t = 0; t < 3; t++)
            if (ks[t] >= 0 && ks[t] < (int)width) cost[t] += rice_len(v, (unsigned)ks[t], width);
    }
    for (int t = 0; t < 3; t++) {
        if (ks[t] < 0 || ks[t] > (int)width) continue;
        if (ks[t] == (int)width) cost[t] = m * width;
        if (cost[t] < best) {
            best = cost[t];
            best_k = ks[t];
        }
    }
    int step = best_k == k0 - 1 ? -1 : best_k == k0 + 1 ? 1 : 0;
    for (int k = best_k + step; step && k >= 0 && k <= (int)width; k += step) {
        size_t c = 0;
        if (k == (int)width) {
            c = m * width;
        } else {
            for (size_t j = 0; j < m; j++) c += rice_len(sload(u, j), (unsigned)k, width);
        }
        if (c >= best) break;
        best = c;
        best_k = k;
    }
    *k_out = (uint8_t)best_k;
    return best;
}

/* Plans one mapping of the residuals e[0..m) (overwritten with the mapped
 * numbers) and returns its total bits in p. */
static void plan_mapping(uint8_t *e, size_t m, size_t n, bool x0_known, bool offset, uint64_t base,
                         uint64_t g, intseq_plan *p) {
    uint64_t maxu = 0;
    double sum = 0;
    if (g == 0) g = 1;
    for (size_t j = 0; j < m; j++) {
        uint64_t u = map_residual(sload(e, j), offset, base, g);
        sstore(e, j, u);
        if (u > maxu) maxu = u;
        sum += (double)u;
    }
    p->offset = offset;
    p->base = offset ? base : 0;
    p->gcd = g;
    p->width = (uint8_t)bit_width(maxu);
    p->k = 0;
    size_t bits = p->width ? choose_rice(e, m, p->width, sum, &p->k) : 0;
    if (!p->width) p->gcd = 1;
    p->bits = bits + 8 * plan_param_bytes(p, n, x0_known);
}

/* Finds the cheapest plan for x[0..n) among the transforms in mask.  x and
 * e are scratch arrays of n numbers. */
static void plan_intseq(const uint8_t *x, size_t n, unsigned mask, bool x0_known, uint8_t *e,
                        intseq_plan *best) {
    best->bits = SIZE_MAX;
    for (unsigned t = 0; t < 4; t++) {
        if (!(mask & (1u << t))) continue;
        intseq_plan p;
        size_t m = make_residuals(x, n, t, e, &p);
        /* Statistics for both mappings: signed minimum, GCD of magnitudes
         * (zigzag) and GCD of differences (offset). */
        uint64_t min = m ? sload(e, 0) : 0, first = min, g_abs = 0, g_diff = 0;
        bool has_neg = false;
        for (size_t j = 0; j < m; j++) {
            uint64_t v = sload(e, j);
            if (signed_less(v, min)) min = v;
            has_neg |= (v >> 63) != 0;
            if (g_abs != 1) g_abs = gcd64(g_abs, (v >> 63) ? 0 - v : v);
            if (g_diff != 1) {
                /* |v - first| exactly: two int64 are less than 2^64 apart,
                 * but the difference can overflow int64, so take it in the
                 * right direction instead of negating a wrapped one. */
                uint64_t d = signed_less(v, first) ? first - v : v - first;
                g_diff = gcd64(g_diff, d);
            }
        }
        /* (e - min) needs the GCD of differences from min, which is the GCD
         * of the differences from any one element. */
        plan_mapping(e, m, n, x0_known, true, min, g_diff, &p);
        if (p.bits < best->bits) *best = p;
        if (has_neg && min != 0) {
            make_residuals(x, n, t, e, &p);
            plan_mapping(e, m, n, x0_known, false, 0, g_abs, &p);
            if (p.bits < best->bits) *best = p;
        }
    }
}

/* Writes an intseq's params (the layout plan_param_bytes counts):
 *   byte   width | offset << 7
 *   byte   k | (gcd > 1) << 7              if width > 0
 *   varint gcd                             if width > 0 and gcd > 1
 *   varint zigzag(base)                    if offset
 *   varint zigzag(x0)                      if not RAW and x0 not known
 *   varint zigzag(first delta or step)     if DOD or GRID and n >= 2 */
static uint8_t *put_plan_params(uint8_t *o, const intseq_plan *p, size_t n, bool x0_known) {
    *o++ = (uint8_t)(p->width | p->offset << 7);
    if (p->width) {
        *o++ = (uint8_t)(p->k | (p->gcd > 1) << 7);
        if (p->gcd > 1) o += put_uvarint(o, p->gcd);
    }
    if (p->offset) o += put_uvarint(o, zigzag(p->base));
    if (p->transform != T_RAW && !x0_known) o += put_uvarint(o, zigzag(p->x0));
    if ((p->transform == T_DOD || p->transform == T_GRID) && n >= 2) o += put_uvarint(o, zigzag(p->init1));
    return o;
}

/* Reads params written by put_plan_params (transform and x0 set by the
 * caller when known).  Returns -1 if they are out of range. */
static int get_plan_params(const uint8_t *buf, size_t len, size_t *pos, size_t n, bool x0_known,
                           intseq_plan *p) {
    uint64_t v;
    if (*pos >= len) return -1;
    uint8_t b0 = buf[(*pos)++];
    p->width = b0 & 0x7f;
    p->offset = b0 >> 7;
    p->k = 0;
    p->gcd = 1;
    p->base = 0;
    p->init1 = 0;
    if (p->width > 64) return -1;
    if (p->width) {
        if (*pos >= len) return -1;
        uint8_t b1 = buf[(*pos)++];
        p->k = b1 & 0x7f;
        if (p->k > p->width) return -1;
        if (b1 >> 7) {
            if (get_uvarint(buf, len, pos, &p->gcd) || p->gcd < 2) return -1;
        }
    }
    if (p->offset) {
        if (get_uvarint(buf, len, pos, &v)) return -1;
        p->base = unzigzag(v);
    }
    if (p->transform != T_RAW && !x0_known) {
        if (get_uvarint(buf, len, pos, &v)) return -1;
        p->x0 = unzigzag(v);
    }
    if ((p->transform == T_DOD || p->transform == T_GRID) && n >= 2) {
        if (get_uvarint(buf, len, pos, &v)) return -1;
        p->init1 = unzigzag(v);
    }
    return 0;
}

/* Sequential source of the numbers an intseq codes: timestamps, decimal
 * mantissas or ordered float bits.  The encoder's planning pass and writing
 * pass both read it front to back, so they see the same numbers. */
typedef struct int_source {
    enum { SRC_TS, SRC_DEC, SRC_BITS } kind;
    const int64_t *ts;
    const double *vs;
    unsigned scale;               /* SRC_DEC: K                                 */
    const uint32_t *exc;          /* SRC_DEC: exception indices, ascending      */
    size_t nexc, next_exc;
    uint64_t last;                /* SRC_DEC: previous number (for exceptions)  */
    uint64_t first_regular;       /* SRC_DEC: number used before the first one */
    size_t i;
} int_source;

/* Converts v to m with v == m / 10^K exactly and |m| < 2^53. */
static bool dec_mantissa(double v, unsigned scale, int64_t *m_out) {
    double x = v * pow10_table[scale];
    if (!(fabs(x) < TWO53)) return false;          /* also NaN */
    int64_t m = (int64_t)x;
    double frac = x - (double)m;                   /* exact */
    if (frac >= 0.5) m++;
    else if (frac <= -0.5) m--;
    if (v == 0 && signbit(v)) return false;        /* -0.0 would come back +0.0 */
    for (int tries = 0; tries < 3; tries++) {
        /* Near 2^53 the product may be one unit off: try the neighbours. */
        int64_t c = tries == 0 ? m : tries == 1 ? m - 1 : m + 1;
        if (c >= (int64_t)TWO53 || c <= -(int64_t)TWO53) continue;
        if ((double)c / pow10_table[scale] == v) {
            *m_out = c;
            return true;
        }
        if (fabs(x) < TWO53 / 4) break;            /* product error < 0.5 */
    }
    return false;
}

static uint64_t src_next(int_source *s) {
    size_t i = s->i++;
    switch (s->kind) {
    case SRC_TS:
        return (uint64_t)s->ts[i];
    case SRC_BITS:
        return bits_order(double_bits(s->vs[i]));
    case SRC_DEC:
        if (s->next_exc < s->nexc && s->exc[s->next_exc] == i) {
            s->next_exc++;
            return i == 0 ? s->first_regular : s->last;
        } else {
            int64_t m = 0;
            dec_mantissa(s->vs[i], s->scale, &m);  /* verified when planning */
            s->last = (uint64_t)m;
            return s->last;
        }
    }
    return 0;
}

/* Writes the residuals of the source's n numbers under plan p. */
static void put_residuals(bit_writer *w, const intseq_plan *p, int_source *src, size_t n) {
    uint64_t prev = 0, prev_delta = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = src_next(src), e;
        switch (p->transform) {
        case T_RAW:
            e = x;
            break;
        case T_DELTA:
            e = x - prev;
            if (i == 0) goto next;
            break;
        case T_DOD:
            e = (x - prev) - prev_delta;
            prev_delta = x - prev;
            if (i < 2) goto next;
            break;
        default: /* T_GRID */
            e = x - p->x0 - (uint64_t)i * p->init1;
            if (i == 0) goto next;
            break;
        }
        rice_put(w, map_residual(e, p->offset, p->base, p->gcd), p->k, p->width);
    next:
        prev = x;
    }
}

/* Reads n numbers coded under plan p into dst (n uint64 slots, possibly an
 * int64 or double array: stored with memcpy).  Returns -1 if the stream
 * ended early. */
static int get_residuals(bit_reader *r, const intseq_plan *p, size_t n, uint8_t *dst) {
    const unsigned k = p->k, width = p->width;
    const uint64_t g = p->gcd, base = p->base;
    const bool offset = p->offset, fixed = k >= width;
    uint64_t x = p->x0, delta = p->init1;
    size_t i = 0;
    switch (p->transform) {
    case T_RAW:
        for (; i < n; i++) {
            uint64_t u = width == 0 ? 0 : fixed ? br_get64(r, width) : rice_get(r, k, width);
            sstore(dst, i, offset ? u * g + base : unzigzag(u) * g);
        }
        break;
    case T_DELTA:
        sstore(dst, i++, x);
        for (; i < n; i++) {
            uint64_t u = width == 0 ? 0 : fixed ? br_get64(r, width) : rice_get(r, k, width);
            x += offset ? u * g + base : unzigzag(u) * g;
            sstore(dst, i, x);
        }
        break;
    case T_DOD:
        sstore(dst, i++, x);
        if (n >= 2) {
            x += delta;
            sstore(dst, i++, x);
        }
        for (; i < n; i++) {
            uint64_t u = width == 0 ? 0 : fixed ? br_get64(r, width) : rice_get(r, k, width);
            delta += offset ? u * g + base : unzigzag(u) * g;
            x += delta;
            sstore(dst, i, x);
        }
        break;
    case T_GRID: {
        uint64_t x0 = x, grid = x;
        sstore(dst, i++, x0);
        for (; i < n; i++) {
            uint64_t u = width == 0 ? 0 : fixed ? br_get64(r, width) : rice_get(r, k, width);
            grid += delta;
            sstore(dst, i, grid + (offset ? u * g + base : unzigzag(u) * g));
        }
        break;
    }
    default:
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- sealed chunk */

/* 16-bit check of p[0..n): a multiply-xorshift hash (every step is a
 * bijection of the state, so any change to one 8-byte word changes the
 * 64-bit result), folded.  Words are read little endian on every host. */
static uint16_t chunk_check(const uint8_t *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = (uint64_t)p[i] | (uint64_t)p[i + 1] << 8 | (uint64_t)p[i + 2] << 16 |
                     (uint64_t)p[i + 3] << 24 | (uint64_t)p[i + 4] << 32 | (uint64_t)p[i + 5] << 40 |
                     (uint64_t)p[i + 6] << 48 | (uint64_t)p[i + 7] << 56;
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    for (; i < n; i++) tail = tail << 8 | p[i];
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return (uint16_t)(h ^ h >> 16);
}

/* The encoder's choice for the values. */
typedef struct value_plan {
    unsigned codec;               /* enum value_codec                           */
    size_t bits;                  /* params (x8) + stream bits                  */
    intseq_plan seq;              /* dec-* and bits-*                           */
    unsigned scale;               /* dec-*: K                                   */
    uint32_t exc[DEC_MAX_EXCEPTIONS];
    size_t nexc;
    uint64_t first_regular;       /* dec-*: number standing in for leading exceptions */
} value_plan;

/* Finds the decimal scale K for vs[0..n) and the exceptions.  Each value's
 * smallest K is found by trying K = 0, 1, ... (stopping early once too many
 * values are not decimal at all), then the chunk's K is the smallest one
 * that leaves at most DEC_MAX_EXCEPTIONS exceptions and at least one
 * regular value.  Returns false if the chunk is not decimal enough. */
static bool plan_decimal(const double *vs, size_t n, value_plan *vp) {
    size_t hist[DEC_MAX_SCALE + 1] = {0}, nondec = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t m;
        unsigned k = 0;
        while (k <= DEC_MAX_SCALE && !dec_mantissa(vs[i], k, &m)) k++;
        if (k > DEC_MAX_SCALE) {
            if (++nondec > DEC_MAX_EXCEPTIONS) return false;
        } else {
            hist[k]++;
        }
    }
    if (nondec == n) return false;
    size_t above = n - nondec;        /* values needing a larger K than `scale` */
    unsigned scale = 0;
    for (;; scale++) {                /* ends by K = 22: above is 0 there */
        above -= hist[scale];
        /* Also at least one regular value: in a chunk of <= 8 values, K = 0
         * would otherwise make every value an exception. */
        if (above + nondec <= DEC_MAX_EXCEPTIONS && above < n - nondec) break;
    }
    /* At this K a value may still fail (|m| >= 2^53): it is an exception. */
    vp->nexc = 0;
    bool have_regular = false;
    for (size_t i = 0; i < n; i++) {
        int64_t m;
        if (dec_mantissa(vs[i], scale, &m)) {
            if (!have_regular) vp->first_regular = (uint64_t)m;
            have_regular = true;
        } else {
            if (vp->nexc == DEC_MAX_EXCEPTIONS) return false;
            vp->exc[vp->nexc++] = (uint32_t)i;
        }
    }
    vp->scale = scale;
    return have_regular;
}

/* Bytes of the dec-* params before the intseq params:
 *   byte K, varint exception count, per exception varint index gap and 8
 *   raw bytes (little endian). */
static size_t dec_param_bytes(const value_plan *vp) {
    size_t b = 1 + uvarint_len(vp->nexc);
    uint32_t prev = 0;
    for (size_t j = 0; j < vp->nexc; j++) {
        b += uvarint_len(vp->exc[j] - prev) + 8;
        prev = vp->exc[j];
    }
    return b;
}

/* Chooses the value codec: the cheapest allowed one, ties going to the one
 * that decodes fastest.  Returns false if `only` names a codec family that
 * cannot code these values. */
static bool plan_values(const double *vs, size_t n, enum chunk_codec only, uint8_t *scratch,
                        value_plan *best) {
    uint8_t *x = scratch, *e = scratch + 8 * n;
    best->bits = SIZE_MAX;
    best->nexc = 0;

    uint64_t b0 = double_bits(vs[0]);
    bool constant = true;
    for (size_t i = 1; i < n && constant; i++) constant = double_bits(vs[i]) == b0;
    if (constant && (only == CHUNK_CODEC_BEST || only == CHUNK_CODEC_CONST)) {
        best->codec = VC_CONST;
        best->bits = 64;
    }

    if (only == CHUNK_CODEC_BEST || only == CHUNK_CODEC_DEC) {
        value_plan d;
        if (plan_decimal(vs, n, &d)) {
            int_source src = {.kind = SRC_DEC, .vs = vs, .scale = d.scale, .exc = d.exc,
                              .nexc = d.nexc, .first_regular = d.first_regular};
            for (size_t i = 0; i < n; i++) sstore(x, i, src_next(&src));
            plan_intseq(x, n, 1u << T_RAW | 1u << T_DELTA | 1u << T_DOD, false, e, &d.seq);
            d.bits = d.seq.bits + 8 * dec_param_bytes(&d);
            d.codec = VC_DEC_RAW + d.seq.transform;
            if (d.bits < best->bits) *best = d;
        }
    }

    if (only == CHUNK_CODEC_BEST || only == CHUNK_CODEC_BITS) {
        value_plan b = {.codec = 0};
        for (size_t i = 0; i < n; i++) sstore(x, i, bits_order(double_bits(vs[i])));
        plan_intseq(x, n, 1u << T_RAW | 1u << T_DELTA | 1u << T_DOD, false, e, &b.seq);
        b.bits = b.seq.bits;
        b.codec = VC_BITS_RAW + b.seq.transform;
        if (b.bits < best->bits) *best = b;
    }

    if (only == CHUNK_CODEC_BEST || only == CHUNK_CODEC_XOR) {
        xor_state xs = {b0, OC_NO_WINDOW, 0};
        size_t bits = 64;
        for (size_t i = 1; i < n; i++) bits += xor_len(&xs, double_bits(vs[i]));
        if (bits < best->bits) {
            best->codec = VC_XOR;
            best->bits = bits;
        }
    }
    return best->bits != SIZE_MAX;
}

/* The encoder's choice for the timestamps. */
typedef struct time_plan {
    unsigned form;                /* enum time_form                             */
    size_t bits;
    uint64_t delta;               /* TF_REGULAR                                 */
    intseq_plan seq;
} time_plan;

static void plan_time(const int64_t *ts, size_t n, uint8_t *scratch, time_plan *tp) {
    uint64_t delta = n >= 2 ? (uint64_t)ts[1] - (uint64_t)ts[0] : 0;
    bool regular = true;
    for (size_t i = 2; i < n && regular; i++) regular = (uint64_t)ts[i] - (uint64_t)ts[i - 1] == delta;
    tp->form = TF_REGULAR;
    tp->delta = delta;
    tp->bits = n >= 2 ? 8 * uvarint_len(delta) : 0;
    if (regular) return;
    uint8_t *x = scratch, *e = scratch + 8 * n;
    for (size_t i = 0; i < n; i++) sstore(x, i, (uint64_t)ts[i]);
    plan_intseq(x, n, 1u << T_DELTA | 1u << T_DOD | 1u << T_GRID, true, e, &tp->seq);
    tp->form = tp->seq.transform;     /* TF_x == T_x for DELTA, DOD, GRID */
    tp->bits = tp->seq.bits;
}

size_t chunk_encode_codec(const int64_t *ts, const double *vs, size_t n, enum chunk_codec codec,
                          uint8_t *out) {
    if (n == 0 || n > INT32_MAX) return 0;
    time_plan tp;
    value_plan vp;
    plan_time(ts, n, out, &tp);
    if (!plan_values(vs, n, codec, out, &vp)) return 0;
    /* Forced codecs may exceed the bound on tiny chunks; the best never does
     * (xor values + any time form stay below it). */
    size_t header = 1 + uvarint_len(n) + uvarint_len(zigzag((uint64_t)ts[0]));
    if (header + (tp.bits + vp.bits + 7) / 8 + CHECK_BYTES > CHUNK_ENCODE_BOUND(n)) return 0;

    /* From here on the scratch in out is dead: write the chunk. */
    uint8_t *o = out;
    *o++ = (uint8_t)(tp.form << 4 | vp.codec);
    o += put_uvarint(o, n);
    o += put_uvarint(o, zigzag((uint64_t)ts[0]));
    if (tp.form == TF_REGULAR) {
        if (n >= 2) o += put_uvarint(o, tp.delta);
    } else {
        o = put_plan_params(o, &tp.seq, n, true);
    }
    if (vp.codec == VC_CONST) {
        uint64_t b = double_bits(vs[0]);
        for (int j = 0; j < 8; j++) *o++ = (uint8_t)(b >> 8 * j);
    } else if (vp.codec >= VC_DEC_RAW && vp.codec <= VC_DEC_DOD) {
        *o++ = (uint8_t)vp.scale;
        o += put_uvarint(o, vp.nexc);
        uint32_t prev = 0;
        for (size_t j = 0; j < vp.nexc; j++) {
            o += put_uvarint(o, vp.exc[j] - prev);
            prev = vp.exc[j];
            uint64_t b = double_bits(vs[vp.exc[j]]);
            for (int q = 0; q < 8; q++) *o++ = (uint8_t)(b >> 8 * q);
        }
        o = put_plan_params(o, &vp.seq, n, false);
    } else if (vp.codec >= VC_BITS_RAW) {
        o = put_plan_params(o, &vp.seq, n, false);
    }

    bit_writer w = {o, 0, 0};
    if (tp.form != TF_REGULAR) {
        int_source src = {.kind = SRC_TS, .ts = ts};
        put_residuals(&w, &tp.seq, &src, n);
    }
    if (vp.codec == VC_XOR) {
        xor_state xs = {double_bits(vs[0]), OC_NO_WINDOW, 0};
        bw_put64(&w, xs.prev, 64);
        for (size_t i = 1; i < n; i++) xor_put(&w, &xs, double_bits(vs[i]));
    } else if (vp.codec != VC_CONST) {
        int_source src = {.kind = vp.codec <= VC_DEC_DOD ? SRC_DEC : SRC_BITS, .vs = vs,
                          .scale = vp.scale, .exc = vp.exc, .nexc = vp.nexc,
                          .first_regular = vp.first_regular};
        put_residuals(&w, &vp.seq, &src, n);
    }
    o = bw_flush(&w);
    uint16_t check = chunk_check(out, (size_t)(o - out));
    *o++ = (uint8_t)check;
    *o++ = (uint8_t)(check >> 8);
    return (size_t)(o - out);
}

size_t chunk_encode(const int64_t *ts, const double *vs, size_t n, uint8_t *out) {
    return chunk_encode_codec(ts, vs, n, CHUNK_CODEC_BEST, out);
}

/* Parses the fixed header; *pos is left after it.  Returns -1 if corrupt. */
static int parse_header(const uint8_t *buf, size_t len, size_t *pos, unsigned *form, unsigned *codec,
                        int64_t *mint, uint32_t *count) {
    uint64_t n, t;
    if (!buf || len < 3 + CHECK_BYTES) return -1;
    *form = buf[0] >> 4;
    *codec = buf[0] & 15;
    if (*form >= TF_COUNT || *codec >= VC_COUNT) return -1;
    *pos = 1;
    if (get_uvarint(buf, len, pos, &n) || n == 0 || n > INT32_MAX) return -1;
    if (get_uvarint(buf, len, pos, &t)) return -1;
    *count = (uint32_t)n;
    *mint = to_signed(unzigzag(t));
    return 0;
}

int chunk_header(const uint8_t *buf, size_t len, int64_t *mint, uint32_t *count) {
    size_t pos;
    unsigned form, codec;
    return parse_header(buf, len, &pos, &form, &codec, mint, count);
}

int chunk_decode(const uint8_t *buf, size_t len, int64_t *ts, double *vs, size_t cap) {
    size_t pos;
    unsigned form, codec;
    int64_t mint;
    uint32_t count;
    if (parse_header(buf, len, &pos, &form, &codec, &mint, &count)) return -1;
    if (count > cap) return -1;
    size_t n = count, end = len - CHECK_BYTES;
    if (chunk_check(buf, end) != (uint16_t)(buf[end] | buf[end + 1] << 8)) return -1;

    /* Params. */
    uint64_t delta = 0;
    intseq_plan tseq = {.transform = (uint8_t)form, .x0 = (uint64_t)mint};
    if (form == TF_REGULAR) {
        if (n >= 2 && get_uvarint(buf, end, &pos, &delta)) return -1;
    } else if (get_plan_params(buf, end, &pos, n, true, &tseq)) {
        return -1;
    }
    uint64_t const_bits = 0;
    unsigned scale = 0;
    uint64_t nexc = 0;
    size_t exc_pos = 0;
    intseq_plan vseq = {.transform = T_RAW};
    if (codec == VC_CONST) {
        if (end - pos < 8) return -1;
        for (int j = 0; j < 8; j++) const_bits |= (uint64_t)buf[pos++] << 8 * j;
    } else if (codec != VC_XOR) {
        if (codec <= VC_DEC_DOD) {
            if (pos >= end) return -1;
            scale = buf[pos++];
            if (scale > DEC_MAX_SCALE) return -1;
            if (get_uvarint(buf, end, &pos, &nexc) || nexc > n || nexc > DEC_MAX_EXCEPTIONS) return -1;
            exc_pos = pos;            /* patched in after the values */
            for (uint64_t j = 0; j < nexc; j++) {
                uint64_t gap;
                if (get_uvarint(buf, end, &pos, &gap) || end - pos < 8) return -1;
                pos += 8;
            }
            vseq.transform = (uint8_t)(codec - VC_DEC_RAW);
        } else {
            vseq.transform = (uint8_t)(codec - VC_BITS_RAW);
        }
        if (get_plan_params(buf, end, &pos, n, false, &vseq)) return -1;
    }

    /* Bit stream. */
    bit_reader r = {buf + pos, end - pos, 0};
    if (form == TF_REGULAR) {
        uint64_t t = (uint64_t)mint;
        for (size_t i = 0; i < n; i++, t += delta) ts[i] = to_signed(t);
    } else if (get_residuals(&r, &tseq, n, (uint8_t *)ts)) {
        return -1;
    }
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1]) return -1;

    if (codec == VC_CONST) {
        double v = bits_double(const_bits);
        for (size_t i = 0; i < n; i++) vs[i] = v;
    } else if (codec == VC_XOR) {
        xor_state xs = {br_get64(&r, 64), OC_NO_WINDOW, 0};
        vs[0] = bits_double(xs.prev);
        for (size_t i = 1; i < n; i++) {
            if (xor_get(&r, &xs)) return -1;
            vs[i] = bits_double(xs.prev);
        }
    } else {
        uint8_t *raw = (uint8_t *)vs;  /* numbers first, converted in place */
        if (get_residuals(&r, &vseq, n, raw)) return -1;
        if (codec <= VC_DEC_DOD) {
            const double div = pow10_table[scale];
            for (size_t i = 0; i < n; i++) vs[i] = (double)to_signed(sload(raw, i)) / div;
            size_t p = exc_pos, prev = 0;
            for (uint64_t j = 0; j < nexc; j++) {
                uint64_t gap, b = 0;
                get_uvarint(buf, end, &p, &gap);    /* validated above */
                if (gap >= n - prev || (j > 0 && gap == 0)) return -1;
                prev += (size_t)gap;
                for (int q = 0; q < 8; q++) b |= (uint64_t)buf[p++] << 8 * q;
                vs[prev] = bits_double(b);
            }
        } else {
            for (size_t i = 0; i < n; i++) vs[i] = bits_double(bits_order(sload(raw, i)));
        }
    }
    /* The stream must end in the last byte, padded with zero bits. */
    size_t total = 8 * (end - pos);
    if (r.pos > total || total - r.pos >= 8) return -1;
    if (r.pos < total && (buf[end - 1] & (0xffu >> (r.pos & 7)))) return -1;
    return (int)n;
}

const char *chunk_codec_name(const uint8_t *buf, size_t len) {
    if (!buf || len < 1 || (buf[0] & 15) >= VC_COUNT) return "?";
    return value_codec_names[buf[0] & 15];
}

const char *chunk_time_codec_name(const uint8_t *buf, size_t len) {
    if (!buf || len < 1 || (buf[0] >> 4) >= TF_COUNT) return "?";
    return time_form_names[buf[0] >> 4];
}
