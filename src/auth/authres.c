/*
 * authres - From domain, Authentication-Results (RFC 8601) and removal of
 * forged Authentication-Results (API and limits in authres.h).
 *
 * The From parser knows RFC 5322 3.4 just well enough to find domains:
 * comments (nested, with quoted-pairs) and quoted strings are skipped,
 * "<...>" is the address when present, "," separates mailboxes and
 * "name:" ... ";" is a group. Obsolete syntax (route addresses) works by
 * taking the part after the last '@'.
 */
#include "auth/authres.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct authres_from_scan {
    char addr[512];     /* the current mailbox's address characters */
    size_t alen;
    int in_angle, angle_done;
    char domains[AUTHRES_MAX_FROM][256];
    size_t n;
    int bad;
} authres_from_scan;

/* authres_from_push - end of one mailbox: keep its domain */
static void authres_from_push(authres_from_scan *sc)
{
    sc->addr[sc->alen] = '\0';
    char *at = strrchr(sc->addr, '@');
    sc->alen = 0;
    sc->in_angle = sc->angle_done = 0;
    if (!at) {
        if (sc->addr[0])
            sc->bad = 1;
        return;
    }
    const char *d = at + 1;
    size_t dl = strlen(d);
    while (dl && d[dl - 1] == '.')
        dl--;
    if (dl == 0 || dl > 253 || d[0] == '[' || sc->n == AUTHRES_MAX_FROM) {
        sc->bad = 1;
        return;
    }
    for (size_t i = 0; i < dl; i++)
        sc->domains[sc->n][i] = (char)tolower((unsigned char)d[i]);
    sc->domains[sc->n][dl] = '\0';
    sc->n++;
}

/* authres_from_char - one character of the From value outside comments and quotes */
static void authres_from_char(authres_from_scan *sc, char c)
{
    if (sc->in_angle) {
        if (c == '>') {
            sc->in_angle = 0;
            sc->angle_done = 1;
        } else if (c != ' ' && c != '\t' && sc->alen < sizeof sc->addr - 1) {
            sc->addr[sc->alen++] = c;
        }
        return;
    }
    if (c == '<') {
        sc->alen = 0;
        sc->in_angle = 1;
    } else if (c == ',' || c == ';') {
        authres_from_push(sc);
    } else if (c == ':') {
        sc->alen = 0; /* a group's display name */
    } else if (!sc->angle_done && c != ' ' && c != '\t' && c != '\r' && c != '\n' &&
               sc->alen < sizeof sc->addr - 1) {
        sc->addr[sc->alen++] = c;
    }
}

/* authres_from_value - scan one From field's value */
static void authres_from_value(authres_from_scan *sc, const char *p, size_t len)
{
    int depth = 0, quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if ((depth || quoted) && c == '\\') {
            i++;
            continue;
        }
        if (quoted) {
            quoted = c != '"';
            continue;
        }
        if (c == '(' && !sc->in_angle) {
            depth++;
            continue;
        }
        if (depth) {
            depth -= c == ')';
            continue;
        }
        if (c == '"' && !sc->in_angle) {
            quoted = 1;
            if (sc->alen < sizeof sc->addr - 1)
                sc->addr[sc->alen++] = 'q'; /* a quoted local part is still a local part */
            continue;
        }
        authres_from_char(sc, c);
    }
    if (depth || quoted || sc->in_angle)
        sc->bad = 1;
    authres_from_push(sc);
}

/* authres_line_end - index just past the LF ending the line at i (or len) */
static size_t authres_line_end(const char *msg, size_t len, size_t i)
{
    const char *nl = memchr(msg + i, '\n', len - i);
    return nl ? (size_t)(nl - msg) + 1 : len;
}

/* authres_from_field - if the line at i starts a From field, the offset of its colon, else 0 */
static size_t authres_from_field(const char *msg, size_t e, size_t i)
{
    if (e - i < 5 || strncasecmp(msg + i, "from", 4) != 0)
        return 0;
    size_t j = i + 4;
    while (j < e && (msg[j] == ' ' || msg[j] == '\t'))
        j++;
    return j < e && msg[j] == ':' ? j : 0;
}

/* authres_is_field - whether the line [i, e) is "NAME [WSP] : ..." */
static int authres_is_field(const char *msg, size_t e, size_t i)
{
    size_t j = i;
    while (j < e && msg[j] > ' ' && msg[j] < 0x7f && msg[j] != ':')
        j++;
    if (j == i)
        return 0;
    while (j < e && (msg[j] == ' ' || msg[j] == '\t'))
        j++;
    return j < e && msg[j] == ':';
}

/* authres_from_domain - see authres.h. The header block is walked tolerantly, without a field limit:
 * it ends at the empty line or at the first line that is neither a field nor a continuation (as
 * the rest of pochta reads a message), so padding or a broken line cannot hide a From. */
authres_from_status authres_from_domain(const char *msg, size_t len, char *out, size_t outlen)
{
    static __thread authres_from_scan sc;
    memset(&sc, 0, sizeof sc);
    size_t fields = 0, i = 0;
    while (i < len) {
        size_t e = authres_line_end(msg, len, i);
        if (msg[i] == '\r' || msg[i] == '\n')
            break; /* the empty line */
        if (msg[i] == ' ' || msg[i] == '\t') {
            i = e; /* a continuation of a field we do not care about (or a stray first line) */
            continue;
        }
        if (!authres_is_field(msg, e, i))
            break; /* the body starts here */
        size_t colon = authres_from_field(msg, e, i);
        size_t fe = e;
        while (fe < len && (msg[fe] == ' ' || msg[fe] == '\t'))
            fe = authres_line_end(msg, len, fe);
        if (colon) {
            fields++;
            authres_from_value(&sc, msg + colon + 1, fe - colon - 1);
        }
        i = fe;
    }
    if (fields > 1)
        return AUTHRES_FROM_MULTIPLE;
    if (sc.bad)
        return AUTHRES_FROM_BAD;
    if (sc.n == 0)
        return AUTHRES_FROM_NONE;
    for (size_t k = 1; k < sc.n; k++)
        if (strcmp(sc.domains[k], sc.domains[0]) != 0)
            return AUTHRES_FROM_MULTIPLE;
    if (strlen(sc.domains[0]) >= outlen)
        return AUTHRES_FROM_BAD;
    snprintf(out, outlen, "%s", sc.domains[0]);
    return AUTHRES_FROM_OK;
}

/* authres_is_token - whether s can stand as an RFC 2045 token or a pvalue without quotes */
static int authres_is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || strchr("()<>,;:\\\"/[]?=", c))
            return 0;
    }
    return 1;
}

/* authres_put_value - " KEY=VALUE" with VALUE quoted when it is not a plain token */
static void authres_put_value(buf *b, const char *key, const char *v)
{
    if (authres_is_token(v)) {
        buf_printf(b, " %s=%s", key, v);
        return;
    }
    buf_printf(b, " %s=\"", key);
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, c < ' ' || c == 0x7f ? '?' : (char)c);
    }
    buf_append_char(b, '"');
}

/* authres_put_comment - " (TEXT)" with parentheses and backslashes escaped, control bytes replaced */
static void authres_put_comment(buf *b, const char *text)
{
    if (!text || !*text)
        return;
    buf_append_str(b, " (");
    for (size_t i = 0; text[i] && i < 200; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '(' || c == ')' || c == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, c < ' ' || c == 0x7f ? '?' : (char)c);
    }
    buf_append_char(b, ')');
}

/* authres_put_spf - one spf resinfo */
static void authres_put_spf(buf *b, const spf_result *r)
{
    buf_printf(b, ";\r\n\tspf=%s", spf_result_name(r->code));
    if (r->code == SPF_TEMPERROR || r->code == SPF_PERMERROR)
        authres_put_comment(b, r->problem);
    else if (r->mechanism)
        authres_put_comment(b, r->mechanism);
    if (r->identity == SPF_ID_HELO)
        authres_put_value(b, "smtp.helo", r->helo ? r->helo : "");
    else
        authres_put_value(b, "smtp.mailfrom", r->sender ? r->sender : "");
}

/* authres_put_dkim - one dkim resinfo per signature, or dkim=none */
static void authres_put_dkim(buf *b, const dkim_results *d)
{
    if (d->count == 0) {
        buf_append_str(b, ";\r\n\tdkim=none");
        authres_put_comment(b, d->error[0] ? d->error : "message not signed");
        return;
    }
    for (size_t i = 0; i < d->count; i++) {
        const dkim_sig_result *s = &d->sig[i];
        buf_printf(b, ";\r\n\tdkim=%s", dkim_result_name(s->result));
        authres_put_comment(b, s->reason[0] ? s->reason : s->testing ? "key in test mode" : NULL);
        if (s->domain[0])
            authres_put_value(b, "header.d", s->domain);
        if (s->selector[0])
            authres_put_value(b, "header.s", s->selector);
        if (s->algo[0])
            authres_put_value(b, "header.a", s->algo);
        if (s->b_prefix[0])
            authres_put_value(b, "header.b", s->b_prefix);
    }
}

/* authres_put_dmarc - the dmarc resinfo with the policy in a comment */
static void authres_put_dmarc(buf *b, const authres_input *in)
{
    const dmarc_eval *e = in->dmarc;
    buf_printf(b, ";\r\n\tdmarc=%s", dmarc_result_name(e->result));
    char c[200];
    if (e->result == DMARC_RESULT_PASS || e->result == DMARC_RESULT_FAIL)
        snprintf(c, sizeof c, "p=%s dis=%s%s%s", dmarc_policy_name(e->policy), dmarc_policy_name(e->action),
                 in->dmarc_override ? " override=" : "", in->dmarc_override ? in->dmarc_override : "");
    else
        snprintf(c, sizeof c, "%s", e->reason);
    authres_put_comment(b, c);
    if (in->from_domain)
        authres_put_value(b, "header.from", in->from_domain);
}

/* authres_header - see authres.h */
buf_status authres_header(const authres_input *in, buf *out)
{
    buf b;
    buf_init(&b, AUTHRES_MAX);
    buf_append_str(&b, "Authentication-Results: ");
    buf_append_str(&b, in->authserv_id);
    size_t empty = b.len;
    if (in->spf_mail)
        authres_put_spf(&b, in->spf_mail);
    if (in->spf_helo)
        authres_put_spf(&b, in->spf_helo);
    if (in->dkim)
        authres_put_dkim(&b, in->dkim);
    if (in->dmarc)
        authres_put_dmarc(&b, in);
    if (b.len == empty)
        buf_append_str(&b, "; none");
    buf_status st = buf_append_str(&b, "\r\n");
    if (st == BUF_OK)
        st = buf_append(out, b.data, b.len);
    buf_free(&b);
    return st;
}

/* authres_claims - whether an Authentication-Results value starts with authserv_id */
static int authres_claims(const char *p, size_t len, const char *id)
{
    size_t i = 0, idl = strlen(id);
    for (;;) { /* skip CFWS */
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        if (i >= len || p[i] != '(')
            break;
        for (int depth = 0; i < len; i++) {
            if (p[i] == '\\') {
                if (++i >= len)
                    break;
                continue;
            }
            depth += p[i] == '(';
            depth -= p[i] == ')';
            if (depth == 0) {
                i++;
                break;
            }
        }
    }
    if (i > len)
        i = len;
    if (i < len && p[i] == '"') { /* quoted authserv-id */
        i++;
        if (len - i < idl + 1 || strncasecmp(p + i, id, idl) != 0 || p[i + idl] != '"')
            return 0;
        return 1;
    }
    if (len - i < idl || strncasecmp(p + i, id, idl) != 0)
        return 0;
    i += idl;
    return i == len || p[i] == ';' || p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '(';
}

/* authres_ar_field - if the line at i starts an Authentication-Results field, the offset of its colon, else 0 */
static size_t authres_ar_field(const char *msg, size_t e, size_t i)
{
    static const char name[] = "authentication-results";
    size_t n = sizeof name - 1;
    if (e - i < n + 1 || strncasecmp(msg + i, name, n) != 0)
        return 0;
    size_t j = i + n;
    while (j < e && (msg[j] == ' ' || msg[j] == '\t'))
        j++;
    return j < e && msg[j] == ':' ? j : 0;
}

/* authres_strip_ours - see authres.h; the header block is walked as in authres_from_domain */
int authres_strip_ours(const char *msg, size_t len, const char *authserv_id, buf *out)
{
    int dropped = 0;
    size_t copied = 0, i = 0;
    while (i < len) {
        size_t e = authres_line_end(msg, len, i);
        if (msg[i] == '\r' || msg[i] == '\n')
            break;
        if (msg[i] == ' ' || msg[i] == '\t') {
            i = e;
            continue;
        }
        if (!authres_is_field(msg, e, i))
            break;
        size_t fe = e;
        while (fe < len && (msg[fe] == ' ' || msg[fe] == '\t'))
            fe = authres_line_end(msg, len, fe);
        size_t colon = authres_ar_field(msg, e, i);
        if (colon && authres_claims(msg + colon + 1, fe - colon - 1, authserv_id)) {
            if (buf_append(out, msg + copied, i - copied) != BUF_OK)
                return -1;
            copied = fe;
            dropped++;
        }
        i = fe;
    }
    return buf_append(out, msg + copied, len - copied) == BUF_OK ? dropped : -1;
}
