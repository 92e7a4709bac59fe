/*
 * addr - RFC 5321 envelope addresses (see addr.h for the API and limits).
 *
 * The parser walks the input once, left to right, with an explicit
 * position; every rule of RFC 5321 4.1.2 / 4.1.3 (and RFC 6531 3.3 for
 * UTF-8) is one small function. Lengths are checked against the named
 * limits of RFC 5321 4.5.3.1 before anything is copied into the fixed
 * arrays of mail_addr.
 */
#include "mail/addr.h"

#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* addr_parser - position in the text being parsed, and where results go */
typedef struct addr_parser {
    const char *s;
    size_t len;
    size_t pos;
    int flags;
    int in_path; /* a '>' ends the domain */
    mail_addr *out;
    const char *err;
} addr_parser;

/* addr_fail - remember why and return the status */
static mail_addr_status addr_fail(addr_parser *ap, mail_addr_status st, const char *why)
{
    ap->err = why;
    return st;
}

/* addr_is_atext - RFC 5321 atext (RFC 5322 3.2.3) for one ASCII byte */
static int addr_is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* addr_is_ldh - letter, digit or hyphen */
static int addr_is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* addr_has_8bit - any byte outside ASCII? */
static int addr_has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* addr_lower - ASCII lower-casing copy; out has room for len + 1 */
static void addr_lower(char *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[len] = '\0';
}

/* mail_utf8_valid - well-formed UTF-8 per RFC 3629 (no overlongs, surrogates or > U+10FFFF) */
int mail_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return 0;
        i += n + 1;
    }
    return 1;
}

/* mail_local_is_dot_string - Dot-string = Atom *("." Atom) */
int mail_local_is_dot_string(const char *s, size_t len, int utf8)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!addr_is_atext(c) && !(utf8 && c >= 0x80)) {
            return 0;
        }
    }
    return !utf8 || mail_utf8_valid(s, len);
}

/* mail_domain_valid - sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] */
int mail_domain_valid(const char *s, size_t len)
{
    if (len == 0 || len > MAIL_DOMAIN_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!addr_is_ldh(c) || (label == 0 && c == '-') || ++label > 63)
            return 0;
    }
    return label > 0 && s[len - 1] != '-';
}

/* mail_domain_is_fqdn - a valid domain with a dot and a TLD that is not all digits */
int mail_domain_is_fqdn(const char *s, size_t len)
{
    if (!mail_domain_valid(s, len))
        return 0;
    const char *dot = memrchr(s, '.', len);
    if (!dot)
        return 0;
    for (const char *p = dot + 1; p < s + len; p++)
        if (*p < '0' || *p > '9')
            return 1;
    return 0;
}

/* addr_ipv4_valid - Snum 3("." Snum), Snum = 1*3DIGIT with value 0-255 */
static int addr_ipv4_valid(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;
    while (parts < 4) {
        int v = 0, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10 + (s[i] - '0');
            digits++;
            i++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return 0;
        parts++;
        if (parts < 4) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    return i == len;
}

/* addr_hex_groups - count of ":"-separated 1-4 digit hex groups in s, -1 if malformed;
 * an empty s has zero groups */
static int addr_hex_groups(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    int groups = 0;
    size_t digits = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ':') {
            if (digits == 0)
                return -1;
            groups++;
            digits = 0;
        } else if (((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                    (s[i] >= 'A' && s[i] <= 'F')) && digits < 4) {
            digits++;
        } else {
            return -1;
        }
    }
    return groups;
}

/* addr_ipv6_valid - IPv6-addr of RFC 5321 4.1.3 (full, comp, v4-full, v4-comp) */
static int addr_ipv6_valid(const char *s, size_t len)
{
    /* Split off an IPv4 tail first: it follows the last ':'. */
    int v4 = memchr(s, '.', len) != NULL;
    size_t hexlen = len;
    if (v4) {
        const char *colon = memrchr(s, ':', len);
        if (!colon || !addr_ipv4_valid(colon + 1, (size_t)(s + len - colon - 1)))
            return 0;
        hexlen = (size_t)(colon - s);
        /* "a:b:" + v4 leaves "a:b"; "::" + v4 leaves "::" minus its last ':' */
        if (hexlen > 0 && s[hexlen - 1] == ':')
            hexlen++; /* keep the "::" whole */
    }
    const char *dc = memmem(s, hexlen, "::", 2);
    if (!dc) {
        int n = addr_hex_groups(s, hexlen);
        return n == (v4 ? 6 : 8);
    }
    size_t llen = (size_t)(dc - s);
    const char *r = dc + 2;
    size_t rlen = hexlen - llen - 2;
    if (memmem(r, rlen, "::", 2) || (rlen > 0 && r[0] == ':'))
        return 0;
    int nl = addr_hex_groups(s, llen), nr = addr_hex_groups(r, rlen);
    if (nl < 0 || nr < 0)
        return 0;
    return nl + nr <= (v4 ? 4 : 6);
}

/* mail_address_literal_valid - "[" IPv4 "]" or "[IPv6:" IPv6-addr "]" */
int mail_address_literal_valid(const char *s, size_t len)
{
    if (len < 3 || s[0] != '[' || s[len - 1] != ']')
        return 0;
    s++;
    len -= 2;
    if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0)
        return addr_ipv6_valid(s + 5, len - 5);
    return addr_ipv4_valid(s, len);
}

/* addr_quoted - Quoted-string = DQUOTE *QcontentSMTP DQUOTE; unquoted copy into unq */
static mail_addr_status addr_quoted(addr_parser *ap, char *unq, size_t unqsize, size_t *unqlen)
{
    size_t n = 0;
    ap->pos++; /* opening quote */
    for (;;) {
        if (ap->pos >= ap->len)
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "unterminated quoted local part");
        unsigned char c = (unsigned char)ap->s[ap->pos++];
        if (c == '"')
            break;
        if (c == '\\') {
            /* quoted-pairSMTP = %d92 %d32-126 */
            if (ap->pos >= ap->len || ap->s[ap->pos] < 32 || ap->s[ap->pos] > 126)
                return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad backslash escape in quoted local part");
            c = (unsigned char)ap->s[ap->pos++];
        } else if (c < 32 || c == 127 || (c >= 0x80 && !(ap->flags & MAIL_ADDR_ALLOW_UTF8))) {
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "control or non-ASCII character in quoted local part");
        }
        if (n + 1 < unqsize)
            unq[n] = (char)c;
        n++;
    }
    *unqlen = n;
    return MAIL_ADDR_OK;
}

/* addr_local - Local-part = Dot-string / Quoted-string; stores it in out->local */
static mail_addr_status addr_local(addr_parser *ap)
{
    size_t start = ap->pos;
    char unq[MAIL_LOCAL_MAX + 1];
    size_t unqlen = 0;
    int quoted = ap->pos < ap->len && ap->s[ap->pos] == '"';
    int utf8 = (ap->flags & MAIL_ADDR_ALLOW_UTF8) != 0;
    if (quoted) {
        mail_addr_status st = addr_quoted(ap, unq, sizeof unq, &unqlen);
        if (st != MAIL_ADDR_OK)
            return st;
    } else {
        while (ap->pos < ap->len) {
            unsigned char c = (unsigned char)ap->s[ap->pos];
            if (!addr_is_atext(c) && c != '.' && !(c >= 0x80))
                break;
            ap->pos++;
        }
    }
    const char *raw = ap->s + start;
    size_t rawlen = ap->pos - start;
    if (rawlen == 0)
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "empty local part");
    if (addr_has_8bit(raw, rawlen)) {
        if (!utf8)
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "non-ASCII local part without SMTPUTF8");
        if (!mail_utf8_valid(raw, rawlen))
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "malformed UTF-8 in local part");
        ap->out->local_utf8 = 1;
    }
    if (!quoted && !mail_local_is_dot_string(raw, rawlen, utf8))
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad local part (misplaced dot or character not allowed)");
    if (rawlen > MAIL_LOCAL_MAX)
        return addr_fail(ap, MAIL_ADDR_TOO_LONG, "local part longer than 64 octets");
    /* "john" and john are the same mailbox; keep one spelling so lookups match. */
    if (quoted && mail_local_is_dot_string(unq, unqlen, utf8)) {
        memcpy(ap->out->local, unq, unqlen);
        ap->out->local[unqlen] = '\0';
    } else {
        memcpy(ap->out->local, raw, rawlen);
        ap->out->local[rawlen] = '\0';
    }
    return MAIL_ADDR_OK;
}

/* addr_literal - address literal "[...]": validated and normalised ("IPv6:" tag, lower-case hex) */
static mail_addr_status addr_literal(addr_parser *ap)
{
    const char *start = ap->s + ap->pos;
    const char *close = memchr(start, ']', ap->len - ap->pos);
    if (!close)
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "unterminated address literal");
    size_t n = (size_t)(close - start) + 1;
    if (!mail_address_literal_valid(start, n))
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad address literal (use [192.0.2.1] or [IPv6:2001:db8::1])");
    if (n > MAIL_DOMAIN_MAX)
        return addr_fail(ap, MAIL_ADDR_TOO_LONG, "address literal too long");
    addr_lower(ap->out->domain, start, n);
    if (n > 6 && ap->out->domain[1] == 'i')
        memcpy(ap->out->domain + 1, "IPv6", 4);
    ap->out->is_literal = 1;
    ap->pos += n;
    return MAIL_ADDR_OK;
}

/* addr_idn - U-label domain to A-labels with libidn2 (IDNA2008, RFC 6531 3.3) */
static mail_addr_status addr_idn(addr_parser *ap, const char *d, size_t n)
{
    char tmp[MAIL_PATH_MAX * 4 + 1];
    if (!(ap->flags & MAIL_ADDR_ALLOW_UTF8))
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "non-ASCII domain without SMTPUTF8");
    if (!mail_utf8_valid(d, n))
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "malformed UTF-8 in domain");
    if (n >= sizeof tmp)
        return addr_fail(ap, MAIL_ADDR_TOO_LONG, "domain longer than 255 octets");
    memcpy(tmp, d, n);
    tmp[n] = '\0';
    uint8_t *alabel = NULL; /* owned here, released with idn2_free */
    int rc = idn2_lookup_u8((const uint8_t *)tmp, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "domain fails IDNA conversion");
    size_t alen = strlen((const char *)alabel);
    mail_addr_status st = MAIL_ADDR_OK;
    if (alen > MAIL_DOMAIN_MAX)
        st = addr_fail(ap, MAIL_ADDR_TOO_LONG, "domain longer than 255 octets");
    else
        addr_lower(ap->out->domain, (const char *)alabel, alen);
    idn2_free(alabel);
    if (st == MAIL_ADDR_OK)
        ap->out->domain_utf8 = 1;
    return st;
}

/* addr_domain - Domain / address-literal after the "@" */
static mail_addr_status addr_domain(addr_parser *ap)
{
    if (ap->pos < ap->len && ap->s[ap->pos] == '[')
        return addr_literal(ap);
    const char *d = ap->s + ap->pos;
    size_t n = 0;
    while (ap->pos + n < ap->len && !(ap->in_path && d[n] == '>'))
        n++;
    if (n == 0)
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "missing domain after @");
    if (addr_has_8bit(d, n)) {
        mail_addr_status st = addr_idn(ap, d, n);
        if (st != MAIL_ADDR_OK)
            return st;
    } else {
        if (n > MAIL_DOMAIN_MAX)
            return addr_fail(ap, MAIL_ADDR_TOO_LONG, "domain longer than 255 octets");
        addr_lower(ap->out->domain, d, n);
    }
    if (!mail_domain_valid(ap->out->domain, strlen(ap->out->domain)))
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad domain syntax (letters, digits, hyphens and dots only)");
    ap->pos += n;
    return MAIL_ADDR_OK;
}

/* addr_route - A-d-l = At-domain *( "," At-domain ) ":" ; checked, then dropped (RFC 5321 C) */
static mail_addr_status addr_route(addr_parser *ap)
{
    if (ap->pos >= ap->len || ap->s[ap->pos] != '@')
        return MAIL_ADDR_OK;
    for (;;) {
        size_t start = ++ap->pos; /* past '@' */
        while (ap->pos < ap->len && ap->s[ap->pos] != ',' && ap->s[ap->pos] != ':')
            ap->pos++;
        if (ap->pos >= ap->len || !mail_domain_valid(ap->s + start, ap->pos - start))
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad source route");
        if (ap->s[ap->pos++] == ':')
            return MAIL_ADDR_OK;
        if (ap->pos >= ap->len || ap->s[ap->pos] != '@')
            return addr_fail(ap, MAIL_ADDR_SYNTAX, "bad source route");
    }
}

/* addr_mailbox - Local-part "@" ( Domain / address-literal ), or a bare Postmaster */
static mail_addr_status addr_mailbox(addr_parser *ap)
{
    mail_addr_status st = addr_local(ap);
    if (st != MAIL_ADDR_OK)
        return st;
    int at_end = ap->pos >= ap->len || (ap->in_path && ap->s[ap->pos] == '>');
    if (at_end && (ap->flags & MAIL_ADDR_ALLOW_POSTMASTER) && strcasecmp(ap->out->local, "postmaster") == 0) {
        /* RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted. */
        ap->out->is_postmaster = 1;
        return MAIL_ADDR_OK;
    }
    if (at_end)
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "missing @domain");
    if (ap->s[ap->pos] != '@')
        return addr_fail(ap, MAIL_ADDR_SYNTAX, "unexpected character in local part");
    ap->pos++;
    return addr_domain(ap);
}

/* mail_addr_parse_path - Path / Reverse-path "<...>" (RFC 5321 4.1.2) */
mail_addr_status mail_addr_parse_path(const char *s, size_t len, int flags, mail_addr *out,
                                      size_t *consumed, const char **error_text)
{
    addr_parser ap = {.s = s, .len = len, .flags = flags, .in_path = 1, .out = out};
    mail_addr_status st = MAIL_ADDR_OK;
    memset(out, 0, sizeof *out);
    *consumed = 0;
    if (len == 0 || s[0] != '<') {
        st = addr_fail(&ap, MAIL_ADDR_SYNTAX, "address must be enclosed in <>");
        goto done;
    }
    ap.pos = 1;
    if (len > 1 && s[1] == '>') {
        if (!(flags & MAIL_ADDR_ALLOW_NULL))
            st = addr_fail(&ap, MAIL_ADDR_SYNTAX, "null address <> not allowed here");
        out->is_null = 1;
        ap.pos = 2;
        goto done;
    }
    if ((st = addr_route(&ap)) != MAIL_ADDR_OK || (st = addr_mailbox(&ap)) != MAIL_ADDR_OK)
        goto done;
    if (ap.pos >= len || s[ap.pos] != '>') {
        st = addr_fail(&ap, MAIL_ADDR_SYNTAX, "missing > after address");
        goto done;
    }
    ap.pos++;
    if (ap.pos > MAIL_PATH_MAX)
        st = addr_fail(&ap, MAIL_ADDR_TOO_LONG, "address longer than 256 octets");
done:
    if (st != MAIL_ADDR_OK) {
        memset(out, 0, sizeof *out);
        if (error_text)
            *error_text = ap.err;
        return st;
    }
    *consumed = ap.pos;
    if (error_text)
        *error_text = NULL;
    return MAIL_ADDR_OK;
}

/* mail_addr_parse - a bare Mailbox (no angle brackets, no route); "" is null with ALLOW_NULL */
mail_addr_status mail_addr_parse(const char *s, size_t len, int flags, mail_addr *out, const char **error_text)
{
    addr_parser ap = {.s = s, .len = len, .flags = flags, .in_path = 0, .out = out};
    mail_addr_status st;
    memset(out, 0, sizeof *out);
    if (len == 0 && (flags & MAIL_ADDR_ALLOW_NULL)) {
        out->is_null = 1;
        st = MAIL_ADDR_OK;
    } else if ((st = addr_mailbox(&ap)) == MAIL_ADDR_OK && ap.pos != len) {
        st = addr_fail(&ap, MAIL_ADDR_SYNTAX, "trailing characters after address");
    } else if (st == MAIL_ADDR_OK && len > MAIL_PATH_MAX - 2) {
        st = addr_fail(&ap, MAIL_ADDR_TOO_LONG, "address longer than 254 octets");
    }
    if (st != MAIL_ADDR_OK)
        memset(out, 0, sizeof *out);
    if (error_text)
        *error_text = st == MAIL_ADDR_OK ? NULL : ap.err;
    return st;
}

/* mail_addr_format - write local@domain; -1 when outlen is too small */
int mail_addr_format(const mail_addr *a, char *out, size_t outlen)
{
    int n;
    if (a->is_null)
        n = snprintf(out, outlen, "%s", "");
    else if (a->domain[0] == '\0')
        n = snprintf(out, outlen, "%s", a->local);
    else
        n = snprintf(out, outlen, "%s@%s", a->local, a->domain);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen)
            out[0] = '\0';
        return -1;
    }
    return n;
}
