/*
 * spf_macro - SPF macro syntax and expansion (RFC 7208 section 7), plus the
 * turning of an expanded domain-spec into a query name (7.3) and the
 * initial-processing check of <domain> (4.3). See spf_parse.h for the API.
 *
 * A macro-string is literal visible characters and macro-expands:
 *   %{ letter [digits] [r] [delimiters] }   %%   %_   %-
 * Letters s l o d i p h v everywhere, c r t only in explanation text (7.1).
 * Expansion: split the value on the delimiters (default "."), reverse when
 * "r", keep the rightmost DIGITS parts, join with "."; an upper-case letter
 * then URL-escapes everything outside the unreserved set (7.3, RFC 3986).
 *
 * %{i} for IPv6 is 32 nibbles in upper case: DNS names are case-blind and
 * the RFC 7208 conformance suite's explanations use upper case.
 */
#include "auth/spf_parse.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SPF_MACRO_MAX_PARTS - a DIGIT transformer above this keeps every part anyway */
#define SPF_MACRO_MAX_PARTS 1024

typedef struct spf_macro_tok {
    char letter;     /* lower case; 0 for the escapes %% %_ %- */
    int upper;       /* URL-escape the result */
    int digits;      /* 0 = keep all parts */
    int reverse;
    char delims[8];  /* NUL-terminated set; "" = "." */
    const char *esc; /* expansion of %% %_ %- */
} spf_macro_tok;

/* spf_is_delim - one of the delimiter characters of 7.1 */
static int spf_is_delim(char c)
{
    return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/*
 * spf_macro_token - parse the macro-expand starting at s[*i] == '%';
 * advance *i past it. 0, or -1 on bad syntax (7.1: a '%' not followed by
 * '{', '%', '-' or '_' is a syntax error).
 */
static int spf_macro_token(const char *s, size_t len, size_t *i, int flags, spf_macro_tok *t)
{
    size_t p = *i + 1;
    memset(t, 0, sizeof *t);
    if (p >= len)
        return -1;
    if (s[p] == '%' || s[p] == '_' || s[p] == '-') {
        t->esc = s[p] == '%' ? "%" : s[p] == '_' ? " " : "%20";
        *i = p + 1;
        return 0;
    }
    if (s[p] != '{' || ++p >= len)
        return -1;
    char c = (char)tolower((unsigned char)s[p]);
    const char *letters = (flags & SPF_MACRO_EXP) ? "slodiphvcrt" : "slodiphv";
    if (!isalpha((unsigned char)s[p]) || !strchr(letters, c))
        return -1;
    t->letter = c;
    t->upper = isupper((unsigned char)s[p]) != 0;
    p++;
    int have_digits = 0;
    long n = 0;
    while (p < len && isdigit((unsigned char)s[p])) {
        have_digits = 1;
        if (n <= SPF_MACRO_MAX_PARTS)
            n = n * 10 + (s[p] - '0');
        p++;
    }
    if (have_digits && n == 0)
        return -1; /* 7.3: a DIGIT transformer must be nonzero */
    t->digits = n > SPF_MACRO_MAX_PARTS ? SPF_MACRO_MAX_PARTS : (int)n;
    if (p < len && (s[p] == 'r' || s[p] == 'R')) {
        t->reverse = 1;
        p++;
    }
    size_t nd = 0;
    while (p < len && spf_is_delim(s[p])) {
        if (nd < sizeof t->delims - 1 && !strchr(t->delims, s[p]))
            t->delims[nd++] = s[p];
        p++;
    }
    if (p >= len || s[p] != '}')
        return -1;
    *i = p + 1;
    return 0;
}

/* spf_macro_literal_ok - a macro-literal (visible ASCII but '%'), or SP in explanation text */
static int spf_macro_literal_ok(unsigned char c, int flags)
{
    if (c == ' ')
        return (flags & SPF_MACRO_EXP) != 0;
    return c >= 0x21 && c <= 0x7e && c != '%';
}

/* spf_macro_check - walk s, checking every literal and every macro */
int spf_macro_check(const char *s, size_t len, int flags)
{
    spf_macro_tok t;
    for (size_t i = 0; i < len;) {
        if (s[i] == '%') {
            if (spf_macro_token(s, len, &i, flags, &t) < 0)
                return -1;
        } else if (!spf_macro_literal_ok((unsigned char)s[i], flags)) {
            return -1;
        } else {
            i++;
        }
    }
    return 0;
}

/* spf_macro_uses_p - any %{p} (either case) in s */
int spf_macro_uses_p(const char *s, size_t len)
{
    spf_macro_tok t;
    for (size_t i = 0; i < len;) {
        if (s[i] != '%') {
            i++;
            continue;
        }
        if (spf_macro_token(s, len, &i, SPF_MACRO_EXP, &t) < 0)
            return 0;
        if (t.letter == 'p')
            return 1;
    }
    return 0;
}

/* spf_toplabel_ok - RFC 7208 toplabel: alphanumerics with a letter, or alnum-dash-alnum */
static int spf_toplabel_ok(const char *s, size_t len)
{
    int alpha = 0, dash = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-')
            dash = 1;
        else if (isalpha(c))
            alpha = 1;
        else if (!isdigit(c))
            return 0;
    }
    if (!dash)
        return alpha;
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
}

/* spf_domain_spec_check - macro-string, then domain-end = "." toplabel ["."] / macro-expand */
int spf_domain_spec_check(const char *s, size_t len)
{
    size_t tail = 0; /* start of the literal run after the last macro */
    spf_macro_tok t;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len;) {
        if (s[i] == '%') {
            if (spf_macro_token(s, len, &i, 0, &t) < 0)
                return -1;
            tail = i;
        } else if (!spf_macro_literal_ok((unsigned char)s[i], 0)) {
            return -1;
        } else {
            i++;
        }
    }
    if (tail == len)
        return 0;
    size_t end = len;
    if (s[end - 1] == '.')
        end--;
    size_t dot = end;
    while (dot > tail && s[dot - 1] != '.')
        dot--;
    if (dot == tail || s[dot - 1] != '.')
        return -1; /* no "." before the toplabel within the literal tail */
    return spf_toplabel_ok(s + dot, end - dot) ? 0 : -1;
}

/* spf_macro_value - the raw value of a letter */
static const char *spf_macro_value(const spf_macro_vars *v, char letter, char *tmp, size_t tmplen)
{
    const char *val = NULL;
    switch (letter) {
    case 's': val = v->sender; break;
    case 'l': val = v->local; break;
    case 'o': val = v->odomain; break;
    case 'd': val = v->domain; break;
    case 'i': val = v->ip_i; break;
    case 'c': val = v->ip_c; break;
    case 'v': val = v->ip_v; break;
    case 'h': val = v->helo; break;
    case 'p': val = v->ptr ? v->ptr : "unknown"; break;
    case 'r': val = v->receiver ? v->receiver : "unknown"; break;
    case 't':
        snprintf(tmp, tmplen, "%lld", v->now);
        val = tmp;
        break;
    default: break;
    }
    return val ? val : "";
}

/* spf_url_escape - append s, escaping all but unreserved characters as %XX (7.3) */
static int spf_url_escape(buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
        if ((ok ? buf_append_char(out, (char)c) : buf_printf(out, "%%%02X", c)) != BUF_OK)
            return -1;
    }
    return 0;
}

/* spf_macro_apply - transform one macro's value (split, reverse, keep, join) and append it */
static int spf_macro_apply(const spf_macro_tok *t, const char *val, buf *out)
{
    const char *delims = t->delims[0] ? t->delims : ".";
    size_t vlen = strlen(val), nparts = 1;
    for (size_t i = 0; i < vlen; i++)
        nparts += strchr(delims, val[i]) != NULL;
    size_t *start = xmalloc(nparts * sizeof *start), *plen = xmalloc(nparts * sizeof *plen);
    size_t k = 0, from = 0;
    for (size_t i = 0; i <= vlen; i++)
        if (i == vlen || strchr(delims, val[i])) {
            start[k] = from;
            plen[k++] = i - from;
            from = i + 1;
        }
    size_t keep = t->digits && (size_t)t->digits < nparts ? (size_t)t->digits : nparts;
    buf joined;
    buf_init(&joined, SPF_MAX_EXPANSION);
    int rc = 0;
    /* the rightmost `keep` parts of the (possibly reversed) list, in order */
    for (size_t j = nparts - keep; j < nparts && rc == 0; j++) {
        size_t idx = t->reverse ? nparts - 1 - j : j;
        if ((j > nparts - keep && buf_append_char(&joined, '.') != BUF_OK) ||
            buf_append(&joined, val + start[idx], plen[idx]) != BUF_OK)
            rc = -1;
    }
    if (rc == 0) {
        if (t->upper)
            rc = spf_url_escape(out, joined.data ? joined.data : "", joined.len);
        else if (buf_append(out, joined.data ? joined.data : "", joined.len) != BUF_OK)
            rc = -1;
    }
    buf_free(&joined);
    free(start);
    free(plen);
    return rc;
}

/* spf_macro_expand - expand s into out */
int spf_macro_expand(const char *s, size_t len, const spf_macro_vars *v, int flags, buf *out)
{
    spf_macro_tok t;
    char tmp[32];
    for (size_t i = 0; i < len;) {
        if (s[i] != '%') {
            if (!spf_macro_literal_ok((unsigned char)s[i], flags) || buf_append_char(out, s[i]) != BUF_OK)
                return -1;
            i++;
            continue;
        }
        if (spf_macro_token(s, len, &i, flags, &t) < 0)
            return -1;
        if (t.esc) {
            if (buf_append_str(out, t.esc) != BUF_OK)
                return -1;
        } else if (spf_macro_apply(&t, spf_macro_value(v, t.letter, tmp, sizeof tmp), out) < 0) {
            return -1;
        }
    }
    return 0;
}

/* spf_labels_ok - no empty label, none over 63 octets, at most 253 in all */
static int spf_labels_ok(const char *s, size_t len)
{
    size_t label = 0;
    if (len == 0 || len > SPF_MAX_NAME)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > SPF_MAX_LABEL)
                return 0;
            label = 0;
        } else {
            label++;
        }
    }
    return 1;
}

/* spf_target_name - expand, drop the trailing dot, cut leftmost labels to fit 253 octets, check */
int spf_target_name(const char *spec, const spf_macro_vars *v, char *out, size_t outlen)
{
    buf b;
    buf_init(&b, SPF_MAX_EXPANSION);
    int rc = -1;
    if (spf_macro_expand(spec, strlen(spec), v, 0, &b) < 0 || b.len == 0)
        goto done;
    const char *p = b.data;
    size_t len = b.len;
    if (p[len - 1] == '.')
        len--;
    while (len > SPF_MAX_NAME) {
        const char *dot = memchr(p, '.', len);
        if (!dot)
            goto done;
        len -= (size_t)(dot + 1 - p);
        p = dot + 1;
    }
    if (!spf_labels_ok(p, len) || len >= outlen || memchr(p, '\0', len))
        goto done;
    memcpy(out, p, len);
    out[len] = '\0';
    rc = 0;
done:
    buf_free(&b);
    return rc;
}

/* spf_domain_ok - 4.3: a multi-label FQDN of visible ASCII, not a literal, not all-numeric at the top */
int spf_domain_ok(const char *domain, size_t len)
{
    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (!spf_labels_ok(domain, len) || domain[0] == '[' || !memchr(domain, '.', len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)domain[i] <= 0x20 || (unsigned char)domain[i] >= 0x7f)
            return 0;
    size_t top = len;
    while (top > 0 && domain[top - 1] != '.')
        top--;
    for (size_t i = top; i < len; i++)
        if (!isdigit((unsigned char)domain[i]))
            return 1;
    return 0;
}

/* spf_ip_nibbles - the 32 nibbles of ip6, most significant first, dot-separated (7.3; "r" reverses them) */
void spf_ip_nibbles(const unsigned char ip6[16], char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (outlen < 64) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    for (int i = 0; i < 16; i++) {
        out[o++] = hex[ip6[i] >> 4];
        out[o++] = '.';
        out[o++] = hex[ip6[i] & 15];
        out[o++] = '.';
    }
    out[o - 1] = '\0';
}
