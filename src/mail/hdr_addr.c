/*
 * hdr_addr - From: header addresses (see hdr_addr.h).
 *
 * Two passes: hdr_from_field() finds the one From: field in the header
 * block and unfolds it into a bounded buffer; hdr_from_split() walks that
 * text once, skipping quoted strings and comments, and cuts it into
 * mailboxes at top-level commas and group punctuation (RFC 5322 3.4).
 */
#include "mail/hdr_addr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* hdr_line_end - end of the line at p (before CR LF / LF), and start of the next line */
static const char *hdr_line_end(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r')
        e--;
    return e;
}

/* hdr_is_field - line starts field name: NAME [WSP] ":" (RFC 5322 4.5.3 allows the WSP); the value or NULL */
static const char *hdr_is_field(const char *p, const char *e, const char *name)
{
    size_t nl = strlen(name);
    if ((size_t)(e - p) < nl + 1 || strncasecmp(p, name, nl) != 0)
        return NULL;
    p += nl;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return (p < e && *p == ':') ? p + 1 : NULL;
}

/* hdr_field - unfolded value of field name into val (HDR_FROM_MAX + 1 bytes); with many, every
 * occurrence joined by commas, else a second one is HDR_FROM_MANY */
static hdr_from_status hdr_field(const char *msg, size_t len, const char *name, int many, char *val, size_t *vlen)
{
    const char *p = msg, *end = msg + len, *next;
    int found = 0, in_from = 0;
    size_t n = 0;
    while (p < end) {
        const char *e = hdr_line_end(p, end, &next);
        if (e == p)
            break; /* empty line: end of the header block */
        const char *v = NULL;
        if (*p == ' ' || *p == '\t') {
            v = in_from ? p : NULL; /* continuation of a folded field */
        } else if ((v = hdr_is_field(p, e, name)) != NULL) {
            if (found++ && !many)
                return HDR_FROM_MANY;
            in_from = 1;
            if (n && n + 2 <= HDR_FROM_MAX)
                val[n++] = ','; /* occurrences are separate lists */
        } else {
            in_from = 0;
        }
        if (v) {
            if (n + (size_t)(e - v) + 1 > HDR_FROM_MAX)
                return HDR_FROM_TOO_LONG;
            if (n)
                val[n++] = ' ';
            memcpy(val + n, v, (size_t)(e - v));
            n += (size_t)(e - v);
        }
        p = next;
    }
    val[n] = '\0';
    *vlen = n;
    return found ? HDR_FROM_OK : HDR_FROM_NONE;
}

/* hdr_skip_quoted - p at '"': index past the closing quote, or 0 if unterminated; copies into dst when given */
static size_t hdr_skip_quoted(const char *s, size_t i, size_t len, char *dst, size_t *dn, size_t dmax)
{
    size_t start = i++;
    while (i < len && s[i] != '"')
        i += (s[i] == '\\' && i + 1 < len) ? 2 : 1;
    if (i >= len)
        return 0;
    i++;
    if (dst) {
        size_t k = i - start;
        if (*dn + k >= dmax)
            return 0;
        memcpy(dst + *dn, s + start, k);
        *dn += k;
    }
    return i;
}

/* hdr_skip_comment - p at '(': index past the matching ')' (comments nest), or 0 */
static size_t hdr_skip_comment(const char *s, size_t i, size_t len)
{
    int depth = 0;
    for (; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        else if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && --depth == 0)
            return i + 1;
    }
    return 0;
}

/* hdr_splitter - state of one pass over the field */
typedef struct hdr_splitter {
    char elem[MAIL_PATH_MAX * 2], angle[MAIL_PATH_MAX * 2];
    size_t elen, alen;
    int in_angle, have_angle;
    char (*out)[MAIL_PATH_MAX];
    size_t max, n;
} hdr_splitter;

/* hdr_finish - one mailbox ended: store its address (the angle part if any); empty ones are skipped */
static hdr_from_status hdr_finish(hdr_splitter *sp)
{
    char *a = sp->have_angle ? sp->angle : sp->elem;
    size_t n = sp->have_angle ? sp->alen : sp->elen;
    a[n] = '\0';
    sp->elen = sp->alen = 0;
    sp->have_angle = 0;
    if (n && a[0] == '@') { /* obsolete route "<@a,@b:user@host>" */
        char *colon = strchr(a, ':');
        if (!colon)
            return HDR_FROM_SYNTAX;
        a = colon + 1;
        n = strlen(a);
    }
    if (n == 0)
        return HDR_FROM_OK;
    if (!strchr(a, '@') || a[n - 1] == '@' || a[0] == '@')
        return HDR_FROM_SYNTAX;
    if (n >= MAIL_PATH_MAX || sp->n >= sp->max)
        return HDR_FROM_TOO_LONG;
    for (size_t i = 0; i <= n; i++)
        sp->out[sp->n][i] = (char)((a[i] >= 'A' && a[i] <= 'Z') ? a[i] - 'A' + 'a' : a[i]);
    sp->n++;
    return HDR_FROM_OK;
}

/* hdr_from_split - cut the unfolded field into mailboxes */
static hdr_from_status hdr_from_split(const char *s, size_t len, hdr_splitter *sp)
{
    hdr_from_status st;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        char *dst = sp->in_angle ? sp->angle : sp->elem;
        size_t *dn = sp->in_angle ? &sp->alen : &sp->elen;
        if (c == '"') {
            if ((i = hdr_skip_quoted(s, i, len, dst, dn, sizeof sp->elem - 1)) == 0)
                return HDR_FROM_SYNTAX;
            continue;
        }
        if (c == '(') {
            if ((i = hdr_skip_comment(s, i, len)) == 0)
                return HDR_FROM_SYNTAX;
            continue;
        }
        i++;
        if (c == '<' || c == '>') {
            if ((c == '<') == sp->in_angle || (c == '<' && sp->have_angle))
                return HDR_FROM_SYNTAX;
            sp->in_angle = c == '<';
            sp->have_angle |= c == '>';
        } else if (!sp->in_angle && c == ':') {
            sp->elen = 0; /* "group-name:" - the phrase is not an address */
        } else if (!sp->in_angle && (c == ',' || c == ';')) {
            if ((st = hdr_finish(sp)) != HDR_FROM_OK)
                return st;
        } else if (c != ' ' && c != '\t' && !(sp->have_angle && !sp->in_angle)) {
            if (*dn + 1 >= sizeof sp->elem)
                return HDR_FROM_TOO_LONG;
            dst[(*dn)++] = c;
        }
    }
    if (sp->in_angle)
        return HDR_FROM_SYNTAX;
    return hdr_finish(sp);
}

/* hdr_parse - the addresses of field name (one occurrence, or all with many) */
static hdr_from_status hdr_parse(const char *msg, size_t len, const char *name, int many,
                                 char (*out)[MAIL_PATH_MAX], size_t max, size_t *n)
{
    static _Thread_local char val[HDR_FROM_MAX + 1];
    static _Thread_local hdr_splitter sp;
    size_t vlen;
    *n = 0;
    hdr_from_status st = hdr_field(msg, len, name, many, val, &vlen);
    if (st != HDR_FROM_OK)
        return st;
    memset(&sp, 0, sizeof sp);
    sp.out = out;
    sp.max = max;
    st = hdr_from_split(val, vlen, &sp);
    *n = st == HDR_FROM_OK ? sp.n : 0;
    return st;
}

hdr_from_status hdr_from_addrs(const char *msg, size_t len, char (*out)[MAIL_PATH_MAX], size_t max, size_t *n)
{
    hdr_from_status st = hdr_parse(msg, len, "from", 0, out, max, n);
    return st == HDR_FROM_OK && *n == 0 ? HDR_FROM_SYNTAX : st;
}

hdr_from_status hdr_addrs(const char *msg, size_t len, const char *name, char (*out)[MAIL_PATH_MAX], size_t max,
                          size_t *n)
{
    return hdr_parse(msg, len, name, 1, out, max, n);
}

const char *hdr_from_error(hdr_from_status st)
{
    switch (st) {
    case HDR_FROM_OK: return "ok";
    case HDR_FROM_NONE: return "the message has no From: header";
    case HDR_FROM_MANY: return "the message has more than one From: header";
    case HDR_FROM_SYNTAX: return "the From: header has no readable address";
    case HDR_FROM_TOO_LONG: return "the From: header is too long or names too many addresses";
    }
    return "bad From: header";
}
