/*
 * dmarc_record - parse a DMARC policy record (RFC 7489 section 6.3, ABNF
 * in 6.4; fallback rules of 6.6.3). See dmarc.h for the contract.
 *
 * The record is a ';'-separated tag list. v=DMARC1 must come first and be
 * followed by ';'; p= must come directly after it when present (the ABNF
 * fixes that order). Tag names are case-insensitive, values are checked
 * per tag, unknown tags are ignored (future extensions), duplicates refused.
 * Limits: DMARC_TAGS_MAX tags; rua/ruf kept up to DMARC_URIS_MAX bytes.
 */
#include "auth/dmarc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DMARC_TAGS_MAX - tags in one record; more is refused (RFC 7489 defines 11) */
#define DMARC_TAGS_MAX 32

typedef struct dmarc_span {
    const char *p;
    size_t len;
} dmarc_span;

/* dmarc_trim - span without leading and trailing WSP */
static dmarc_span dmarc_trim(const char *p, size_t len)
{
    while (len && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return (dmarc_span){p, len};
}

/* dmarc_is - case-insensitive comparison of a span with s */
static int dmarc_is(dmarc_span v, const char *s)
{
    return v.len == strlen(s) && strncasecmp(v.p, s, v.len) == 0;
}

/* dmarc_parse_policy - none/quarantine/reject; 0 or -1 */
static int dmarc_parse_policy(dmarc_span v, dmarc_policy *out)
{
    if (dmarc_is(v, "none"))
        *out = DMARC_POLICY_NONE;
    else if (dmarc_is(v, "quarantine"))
        *out = DMARC_POLICY_QUARANTINE;
    else if (dmarc_is(v, "reject"))
        *out = DMARC_POLICY_REJECT;
    else
        return -1;
    return 0;
}

/* dmarc_parse_uint - decimal without sign, at most max; 0 or -1 */
static int dmarc_parse_uint(dmarc_span v, unsigned long long max, unsigned long long *out)
{
    if (v.len == 0 || v.len > 20)
        return -1;
    unsigned long long n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.p[i]))
            return -1;
        unsigned d = (unsigned)(v.p[i] - '0');
        if (n > (max - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* dmarc_uri_ok - one rua/ruf entry: scheme ":" rest [ "!" size [kmgt] ] (section 6.4 dmarc-uri) */
static int dmarc_uri_ok(dmarc_span u)
{
    u = dmarc_trim(u.p, u.len);
    const char *bang = memchr(u.p, '!', u.len);
    size_t ulen = bang ? (size_t)(bang - u.p) : u.len;
    if (bang) {
        dmarc_span sz = {bang + 1, u.len - ulen - 1};
        if (sz.len && strchr("kmgtKMGT", sz.p[sz.len - 1]))
            sz.len--;
        unsigned long long n;
        if (dmarc_parse_uint(sz, ~0ULL, &n) < 0)
            return 0;
    }
    if (ulen == 0 || !isalpha((unsigned char)u.p[0]))
        return 0;
    size_t i = 1;
    while (i < ulen && (isalnum((unsigned char)u.p[i]) || strchr("+-.", u.p[i])))
        i++;
    if (i >= ulen - 1 || u.p[i] != ':')
        return 0;
    for (size_t k = 0; k < ulen; k++)
        if ((unsigned char)u.p[k] <= ' ' || (unsigned char)u.p[k] >= 0x7f)
            return 0;
    return 1;
}

/* dmarc_list_ok - sep-separated items each accepted by ok() */
static int dmarc_list_ok(dmarc_span v, char sep, int (*ok)(dmarc_span))
{
    size_t i = 0;
    while (i <= v.len) {
        size_t s = i;
        while (i < v.len && v.p[i] != sep)
            i++;
        if (!ok(dmarc_trim(v.p + s, i - s)))
            return 0;
        i++;
    }
    return 1;
}

/* dmarc_fo_ok - one fo= option */
static int dmarc_fo_ok(dmarc_span v)
{
    return v.len == 1 && strchr("01dsDS", v.p[0]);
}

/* dmarc_rf_ok - one rf= format name: alnum and inner '-' */
static int dmarc_rf_ok(dmarc_span v)
{
    if (v.len == 0 || v.p[0] == '-' || v.p[v.len - 1] == '-')
        return 0;
    for (size_t i = 0; i < v.len; i++)
        if (!isalnum((unsigned char)v.p[i]) && v.p[i] != '-')
            return 0;
    return 1;
}

/* dmarc_copy - span into a fixed buffer, truncated */
static void dmarc_copy(char *dst, size_t dstlen, dmarc_span v)
{
    size_t n = v.len < dstlen - 1 ? v.len : dstlen - 1;
    memcpy(dst, v.p, n);
    dst[n] = '\0';
}

typedef struct dmarc_parse_state {
    int have_p, bad_policy, have_rua, have_sp, have_np;
} dmarc_parse_state;

/* dmarc_tag - apply one tag; 0, or -1 with err */
static int dmarc_tag(dmarc_record *rec, dmarc_parse_state *ps, dmarc_span n, dmarc_span v, char *err, size_t errlen)
{
    unsigned long long num;
    if (dmarc_is(n, "p")) {
        ps->have_p = 1;
        ps->bad_policy |= dmarc_parse_policy(v, &rec->p) < 0;
    } else if (dmarc_is(n, "sp")) {
        ps->have_sp = 1;
        ps->bad_policy |= dmarc_parse_policy(v, &rec->sp) < 0;
    } else if (dmarc_is(n, "np")) {
        ps->have_np = 1;
        if (dmarc_parse_policy(v, &rec->np) < 0)
            return snprintf(err, errlen, "bad np="), -1;
    } else if (dmarc_is(n, "adkim") || dmarc_is(n, "aspf")) {
        if (!dmarc_is(v, "r") && !dmarc_is(v, "s"))
            return snprintf(err, errlen, "bad %.*s=", (int)n.len, n.p), -1;
        *(dmarc_is(n, "adkim") ? &rec->adkim_strict : &rec->aspf_strict) = dmarc_is(v, "s");
    } else if (dmarc_is(n, "pct")) {
        if (dmarc_parse_uint(v, 100, &num) < 0)
            return snprintf(err, errlen, "bad pct="), -1;
        rec->pct = (unsigned)num;
    } else if (dmarc_is(n, "ri")) {
        if (dmarc_parse_uint(v, 0xffffffffULL, &num) < 0)
            return snprintf(err, errlen, "bad ri="), -1;
        rec->ri = (unsigned long)num;
    } else if (dmarc_is(n, "fo")) {
        if (v.len == 0 || !dmarc_list_ok(v, ':', dmarc_fo_ok))
            return snprintf(err, errlen, "bad fo="), -1;
        dmarc_copy(rec->fo, sizeof rec->fo, v);
    } else if (dmarc_is(n, "rf")) {
        if (!dmarc_list_ok(v, ':', dmarc_rf_ok))
            return snprintf(err, errlen, "bad rf="), -1;
    } else if (dmarc_is(n, "rua") || dmarc_is(n, "ruf")) {
        if (!dmarc_list_ok(v, ',', dmarc_uri_ok))
            return snprintf(err, errlen, "bad %.*s=", (int)n.len, n.p), -1;
        ps->have_rua |= dmarc_is(n, "rua");
        dmarc_copy(dmarc_is(n, "rua") ? rec->rua : rec->ruf, DMARC_URIS_MAX, v);
    }
    return 0; /* unknown tags are ignored (section 6.3) */
}

/* dmarc_record_parse - see dmarc.h */
int dmarc_record_parse(const char *txt, size_t len, dmarc_record *rec, char *err, size_t errlen)
{
    memset(rec, 0, sizeof *rec);
    rec->pct = 100;
    rec->ri = 86400;
    snprintf(rec->fo, sizeof rec->fo, "0");
    dmarc_parse_state ps = {0};
    dmarc_span names[DMARC_TAGS_MAX];
    size_t ntags = 0, i = 0;
    while (i <= len) {
        size_t s = i;
        while (i < len && txt[i] != ';')
            i++;
        dmarc_span seg = dmarc_trim(txt + s, i - s);
        int last = i >= len;
        i++;
        if (seg.len == 0) {
            if (last && ntags > 0)
                break; /* one trailing ';' */
            return snprintf(err, errlen, "empty tag"), -1;
        }
        const char *eq = memchr(seg.p, '=', seg.len);
        if (!eq)
            return snprintf(err, errlen, "tag without '='"), -1;
        dmarc_span n = dmarc_trim(seg.p, (size_t)(eq - seg.p));
        dmarc_span v = dmarc_trim(eq + 1, seg.len - (size_t)(eq + 1 - seg.p));
        if (n.len == 0 || ntags == DMARC_TAGS_MAX)
            return snprintf(err, errlen, "bad tag"), -1;
        for (size_t k = 0; k < ntags; k++)
            if (names[k].len == n.len && strncasecmp(names[k].p, n.p, n.len) == 0)
                return snprintf(err, errlen, "duplicate tag %.*s", (int)n.len, n.p), -1;
        names[ntags] = n;
        if (ntags == 0) {
            if (!dmarc_is(n, "v") || v.len != 6 || memcmp(v.p, "DMARC1", 6) != 0)
                return snprintf(err, errlen, "not v=DMARC1"), -1;
            if (last)
                return snprintf(err, errlen, "';' required after v=DMARC1"), -1;
        } else if (dmarc_is(n, "p") && ntags != 1) {
            return snprintf(err, errlen, "p= must follow v="), -1;
        } else if (dmarc_is(n, "v")) {
            return snprintf(err, errlen, "duplicate v="), -1;
        } else if (dmarc_tag(rec, &ps, n, v, err, errlen) < 0) {
            return -1;
        }
        ntags++;
        if (last)
            break;
    }
    if (!ps.have_p || ps.bad_policy) {
        if (!ps.have_rua) /* section 6.6.3: with a valid rua, report and take p=none */
            return snprintf(err, errlen, ps.have_p ? "bad p= or sp=" : "missing p="), -1;
        rec->p = rec->sp = DMARC_POLICY_NONE;
        ps.have_sp = 1;
    }
    if (!ps.have_sp)
        rec->sp = rec->p;
    if (!ps.have_np)
        rec->np = rec->sp;
    return 0;
}

/* dmarc_policy_name - policy keyword */
const char *dmarc_policy_name(dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? "reject" : p == DMARC_POLICY_QUARANTINE ? "quarantine" : "none";
}
