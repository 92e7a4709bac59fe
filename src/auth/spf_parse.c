/*
 * spf_parse - SPF record selection and parsing (RFC 7208 sections 4.5, 4.6,
 * 5, 6 and the ABNF of section 12). See spf_parse.h for the API.
 *
 * The whole record is parsed before anything is evaluated, so a syntax
 * error anywhere is a permerror even when an earlier mechanism would have
 * matched (4.6). Terms are separated by SP only (4.6.1); any other control
 * or non-ASCII byte inside a term is a syntax error (3.1).
 *
 * A term is a modifier when it starts with name "=" (name = ALPHA *(ALPHA /
 * DIGIT / "-" / "_" / ".")); otherwise it is a directive. redirect= and
 * exp= must hold a domain-spec and appear at most once (6); unknown
 * modifiers must hold a valid macro-string and are otherwise ignored.
 */
#include "auth/spf_parse.h"

#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* spf_record_is_spf - "v=spf1" then SP or end (4.5: "v=spf10" is not a match) */
int spf_record_is_spf(const char *txt, size_t len)
{
    return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

/* spf_fail - write "what: 'term'" into err, with unprintable bytes shown as '?'; returns -1 */
static int spf_fail(char *err, size_t errlen, const char *what, const char *term, size_t n)
{
    char shown[80];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof shown - 4; i++)
        shown[k++] = isprint((unsigned char)term[i]) ? term[i] : '?';
    if (k < n)
        shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
    shown[k] = '\0';
    if (errlen)
        snprintf(err, errlen, "%s: '%s'", what, shown);
    return -1;
}

/* spf_cidr_value - 1*DIGIT without leading zeros, at most max; -1 when not */
static int spf_cidr_value(const char *s, size_t n, int max)
{
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* spf_ip4_parse - strict ip4-network: four qnums without leading zeros */
static int spf_ip4_parse(const char *s, size_t n, unsigned char out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        int v = spf_cidr_value(s + start, i - start, 255);
        if (v < 0)
            return -1;
        out[part] = (unsigned char)v;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return -1;
    }
    return i == n ? 0 : -1;
}

/* spf_ip6_parse - ip6-network as RFC 4291 2.2 text (inet_pton) */
static int spf_ip6_parse(const char *s, size_t n, unsigned char out[16])
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

/* spf_parse_ip - "ip4:" / "ip6:" network [ "/" length ] (5.6); rest starts after the name */
static int spf_parse_ip(spf_term *t, const char *rest, size_t n)
{
    if (n < 2 || rest[0] != ':')
        return -1;
    rest++, n--;
    const char *slash = memchr(rest, '/', n);
    size_t netlen = slash ? (size_t)(slash - rest) : n;
    int v4 = t->type == SPF_M_IP4;
    if ((v4 ? spf_ip4_parse(rest, netlen, t->net) : spf_ip6_parse(rest, netlen, t->net)) < 0)
        return -1;
    if (!slash)
        return 0;
    int len = spf_cidr_value(slash + 1, n - netlen - 1, v4 ? 32 : 128);
    if (len < 0)
        return -1;
    if (v4)
        t->cidr4 = len;
    else
        t->cidr6 = len;
    return 0;
}

/* spf_trailing_digits - start of the run of digits that ends s[0..end) */
static size_t spf_trailing_digits(const char *s, size_t end)
{
    while (end > 0 && isdigit((unsigned char)s[end - 1]))
        end--;
    return end;
}

/* spf_parse_dual_cidr - cut "/N", "//M" or "/N//M" off the end of rest; *n shrinks; -1 on bad lengths */
static int spf_parse_dual_cidr(spf_term *t, const char *rest, size_t *n)
{
    size_t end = *n, d = spf_trailing_digits(rest, end);
    if (d < end && d >= 2 && rest[d - 1] == '/' && rest[d - 2] == '/') {
        if ((t->cidr6 = spf_cidr_value(rest + d, end - d, 128)) < 0)
            return -1;
        end = d - 2;
        d = spf_trailing_digits(rest, end);
    }
    if (d < end && d >= 1 && rest[d - 1] == '/') {
        if ((t->cidr4 = spf_cidr_value(rest + d, end - d, 32)) < 0)
            return -1;
        end = d - 1;
    }
    *n = end;
    return 0;
}

/* spf_parse_target - optional (or required) ":" domain-spec filling t->spec */
static int spf_parse_target(spf_term *t, const char *rest, size_t n, int required)
{
    if (n == 0)
        return required ? -1 : 0;
    if (rest[0] != ':' || spf_domain_spec_check(rest + 1, n - 1) < 0)
        return -1;
    t->spec = xstrndup(rest + 1, n - 1);
    return 0;
}

static const struct {
    const char *name;
    spf_mech_type type;
} spf_mechs[] = {
    {"all", SPF_M_ALL}, {"include", SPF_M_INCLUDE}, {"a", SPF_M_A},   {"mx", SPF_M_MX},
    {"ptr", SPF_M_PTR}, {"ip4", SPF_M_IP4},         {"ip6", SPF_M_IP6}, {"exists", SPF_M_EXISTS},
};

/* spf_parse_directive - [qualifier] mechanism (5); fills t, -1 on any syntax error */
static int spf_parse_directive(spf_term *t, const char *s, size_t n)
{
    size_t k = 0;
    t->qualifier = '+';
    t->cidr4 = 32;
    t->cidr6 = 128;
    if (n > 0 && strchr("+-?~", s[0]))
        t->qualifier = s[k++];
    size_t j = k;
    while (j < n && isalnum((unsigned char)s[j]))
        j++;
    size_t i;
    for (i = 0; i < sizeof spf_mechs / sizeof spf_mechs[0]; i++)
        if (strlen(spf_mechs[i].name) == j - k && strncasecmp(s + k, spf_mechs[i].name, j - k) == 0)
            break;
    if (i == sizeof spf_mechs / sizeof spf_mechs[0])
        return -1;
    t->type = spf_mechs[i].type;
    const char *rest = s + j;
    size_t rn = n - j;
    switch (t->type) {
    case SPF_M_ALL:
        return rn == 0 ? 0 : -1;
    case SPF_M_INCLUDE:
    case SPF_M_EXISTS:
        return spf_parse_target(t, rest, rn, 1);
    case SPF_M_PTR:
        return spf_parse_target(t, rest, rn, 0);
    case SPF_M_A:
    case SPF_M_MX:
        if (spf_parse_dual_cidr(t, rest, &rn) < 0)
            return -1;
        return spf_parse_target(t, rest, rn, 0);
    case SPF_M_IP4:
    case SPF_M_IP6:
        return spf_parse_ip(t, rest, rn);
    }
    return -1;
}

/* spf_parse_modifier - name "=" value; 1 when s is a modifier, 0 when not, -1 on a bad one */
static int spf_parse_modifier(spf_record *r, const char *s, size_t n, char *err, size_t errlen)
{
    size_t j = 0;
    if (n == 0 || !isalpha((unsigned char)s[0]))
        return 0;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.'))
        j++;
    if (j == n || s[j] != '=')
        return 0;
    const char *val = s + j + 1;
    size_t vn = n - j - 1;
    char **slot = NULL;
    if (j == 8 && strncasecmp(s, "redirect", 8) == 0)
        slot = &r->redirect;
    else if (j == 3 && strncasecmp(s, "exp", 3) == 0)
        slot = &r->exp;
    if (!slot) /* unknown modifiers: valid macro-string, otherwise ignored (6) */
        return spf_macro_check(val, vn, 0) == 0 ? 1 : spf_fail(err, errlen, "bad macro in modifier", s, n);
    if (*slot)
        return spf_fail(err, errlen, "modifier given twice", s, n);
    if (spf_domain_spec_check(val, vn) < 0)
        return spf_fail(err, errlen, "bad domain-spec in modifier", s, n);
    *slot = xstrndup(val, vn);
    return 1;
}

/* spf_parse_term - one SP-separated term into r */
static int spf_parse_term(spf_record *r, const char *s, size_t n, char *err, size_t errlen)
{
    int m = spf_parse_modifier(r, s, n, err, errlen);
    if (m != 0)
        return m < 0 ? -1 : 0;
    if (r->nterms == SPF_MAX_TERMS)
        return spf_fail(err, errlen, "too many terms", s, n);
    if (r->nterms == r->cap) { /* grown by doubling: most records have under 16 terms */
        r->cap = r->cap ? r->cap * 2 : 8;
        r->terms = xrealloc(r->terms, r->cap * sizeof *r->terms);
    }
    spf_term *t = &r->terms[r->nterms];
    memset(t, 0, sizeof *t);
    if (spf_parse_directive(t, s, n) < 0) {
        free(t->spec);
        t->spec = NULL;
        return spf_fail(err, errlen, "syntax error in term", s, n);
    }
    t->text = xstrndup(s, n);
    r->nterms++;
    return 0;
}

/* spf_record_parse - split on SP and parse every term */
int spf_record_parse(const char *txt, size_t len, spf_record **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > SPF_MAX_RECORD)
        return spf_fail(err, errlen, "record too long", txt, 20);
    if (!spf_record_is_spf(txt, len))
        return spf_fail(err, errlen, "not an SPF record", txt, len);
    spf_record *r = xcalloc(1, sizeof *r);
    for (size_t i = 6; i < len;) {
        if (txt[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && txt[j] != ' ')
            j++;
        if (spf_parse_term(r, txt + i, j - i, err, errlen) < 0) {
            spf_record_free(r);
            return -1;
        }
        i = j;
    }
    *out = r;
    return 0;
}

/* spf_record_free - free r and its terms; NULL is fine */
void spf_record_free(spf_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nterms; i++) {
        free(r->terms[i].text);
        free(r->terms[i].spec);
    }
    free(r->terms);
    free(r->redirect);
    free(r->exp);
    free(r);
}
