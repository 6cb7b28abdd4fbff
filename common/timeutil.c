/*
 * timeutil.c - see timeutil.h.  Written by hand because the formats are
 * Prometheus's own (model.ParseDuration, the API's time parameters) and small:
 * strptime does not handle fractions or numeric offsets portably.
 */
#include "common/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int64_t ms;
} duration_units[] = {
    {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},           {"m", 60LL * 1000},            {"s", 1000},
    {"ms", 1},
};
#define N_UNITS (sizeof duration_units / sizeof duration_units[0])

/* Units must appear in decreasing order, each once, as model.ParseDuration
 * requires; "ms" is told apart from "m" by looking one character ahead. */
int parse_duration(const char *s, int64_t *ms) {
    if (!s || !*s) return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    size_t next_unit = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p)) return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10) return -1;
            n = n * 10 + (*p++ - '0');
        }
        size_t u;
        if (p[0] == 'm' && p[1] == 's') u = 6;
        else {
            for (u = 0; u < N_UNITS; u++)
                if (strlen(duration_units[u].name) == 1 && *p == duration_units[u].name[0]) break;
            if (u == N_UNITS) return -1;
        }
        if (u < next_unit) return -1;
        next_unit = u + 1;
        p += strlen(duration_units[u].name);
        if (n > INT64_MAX / duration_units[u].ms) return -1;
        int64_t add = n * duration_units[u].ms;
        if (total > INT64_MAX - add) return -1;
        total += add;
    }
    *ms = total;
    return 0;
}

void format_duration(int64_t ms, char *out, size_t outlen) {
    if (ms == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    size_t len = 0;
    out[0] = 0;
    if (ms < 0) {
        len += (size_t)snprintf(out, outlen, "-");
        ms = -ms;
    }
    for (size_t u = 0; u < N_UNITS && len < outlen; u++) {
        int64_t n = ms / duration_units[u].ms;
        if (n == 0) continue;
        ms -= n * duration_units[u].ms;
        len += (size_t)snprintf(out + len, outlen - len, "%lld%s", (long long)n, duration_units[u].name);
    }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm), so no timezone database or timegm() is involved. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *ms) {
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ') return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3) frac_ms = frac_ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0) return -1;
        for (; n < 3; n++) frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om)) return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p) return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

int parse_time(const char *s, int64_t *ms) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end == 0 && errno == 0 && isfinite(v)) {
        /* Rounded to the millisecond, as the API does. */
        double r = round(v * 1000.0);
        if (r > 9.2e18 || r < -9.2e18) return -1;
        *ms = (int64_t)r;
        return 0;
    }
    return parse_rfc3339(s, ms);
}

void format_time(int64_t ms, char *out, size_t outlen) {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t frac = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, outlen, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", (long long)y, m, d,
             (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60), (long long)frac);
}

void format_time_json(int64_t ms, char *out, size_t outlen) {
    format_time(ms, out, outlen);
    /* "....ss.fffZ": drop trailing zeros of the fraction, then the dot. */
    char *dot = strrchr(out, '.');
    if (!dot) return;
    char *z = dot + strlen(dot) - 1;
    char *p = z - 1;
    while (p > dot && *p == '0') p--;
    if (p == dot) p--;
    memmove(p + 1, z, 2);
}

int parse_bytes(const char *s, uint64_t *bytes) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || v < 0) return -1;
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    static const char *const iunits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double mult = 0;
    if (*end == 0) mult = 1;
    for (int i = 0; i < 7 && !mult; i++)
        if (strcmp(end, units[i]) == 0 || strcmp(end, iunits[i]) == 0) mult = ldexp(1.0, 10 * i);
    if (!mult) return -1;
    double r = v * mult;
    if (r >= 1.8e19) return -1;
    *bytes = (uint64_t)r;
    return 0;
}
