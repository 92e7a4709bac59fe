/*
 * doctor_report - the list of checks of one `pochta doctor` run, its score
 * and its two outputs: a readable report (grouped by area, coloured on a
 * terminal) and JSON for tools.
 *
 * The table doctor_ids names every check: its id, its weight in the score
 * (a failure costs the weight, a warning half of it, a skip nothing; the
 * score starts at 10 and stops at 0) and why it matters. docs/doctor.md
 * prints the same table; keep them in step.
 */
#include "doctor/doctor.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct doctor_id {
    const char *id;
    double weight;
    const char *why;
} doctor_id;

static const doctor_id doctor_ids[] = {
    {"domain.exists", 10, "a domain that does not resolve can neither send nor receive mail"},
    {"mx.exists", 3, "senders look up MX records to find where to deliver; without one they guess from the A record or give up"},
    {"mx.host", 2, "an MX target must be a host name (RFC 5321 5.1); an IP address there is ignored by most senders"},
    {"mx.cname", 1, "an MX target must not be a CNAME (RFC 2181 10.3); some senders refuse to follow it"},
    {"mx.address", 3, "an MX host without an A/AAAA record cannot be reached, so mail to the domain bounces"},
    {"ip.ptr", 2, "receivers (Gmail, Outlook, most spam filters) refuse or junk mail from an IP without a reverse name"},
    {"ip.fcrdns", 1.5, "the reverse name must resolve back to the IP (forward-confirmed), or receivers treat it as forged"},
    {"ip.dynamic", 1.5, "a reverse name that looks like a home or dynamic line (IP in the name, 'dyn', 'pool') is scored as a botnet"},
    {"helo.resolves", 1, "receivers check that the HELO/EHLO name resolves to the connecting IP; a bogus name scores as spam"},
    {"spf.exists", 2, "without SPF receivers cannot tell your servers from forgers, and Gmail/Yahoo require SPF or DKIM"},
    {"spf.multiple", 2, "two SPF records are a permanent error (RFC 7208 4.5): receivers treat the domain as having a broken SPF"},
    {"spf.syntax", 2, "one syntax error makes the whole record a permanent error (RFC 7208 4.6)"},
    {"spf.lookups", 1.5, "more than 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) is a permanent error (RFC 7208 4.6.4)"},
    {"spf.void", 1, "more than 2 lookups that find nothing is a permanent error (RFC 7208 4.6.4)"},
    {"spf.pass", 2, "mail from the server IP must pass SPF, or DMARC can only pass through DKIM"},
    {"spf.all", 1.5, "'+all' lets anyone send as the domain and '?all' says nothing; end with '-all' or '~all'"},
    {"spf.ptr", 0.5, "the ptr mechanism is deprecated (RFC 7208 5.5): slow, unreliable, and some receivers ignore it"},
    {"dkim.key", 2, "a signature whose key is not published fails; without DKIM, forwarded mail fails DMARC"},
    {"dkim.parse", 2, "a malformed key record makes every signature fail (permerror)"},
    {"dkim.size", 1, "RSA keys under 1024 bits are refused (RFC 8301); 2048 bits is the recommended size"},
    {"dkim.match", 2, "if the published key is not the one the server signs with, every signature fails"},
    {"dmarc.exists", 1.5, "Gmail and Yahoo require a DMARC record from bulk senders; without one spoofing the domain is easy"},
    {"dmarc.parse", 1.5, "a malformed DMARC record is ignored, as if there were none"},
    {"dmarc.policy", 1, "p=none only monitors: mail forged in the domain's name is still delivered"},
    {"dmarc.rua", 0.5, "without rua= nobody tells you who sends as your domain or what fails"},
    {"dmarc.sp", 0.5, "a weaker subdomain policy lets forgers use any.subdomain.of.yours"},
    {"bl.ip", 3, "receivers refuse or junk mail from IPs on the blocklists they use"},
    {"bl.domain", 3, "receivers junk mail that names a domain on a domain blocklist (URIBL, Spamhaus DBL)"},
    {"smtp.connect", 3, "senders must be able to connect to port 25 of each MX, or mail waits in their queues and bounces"},
    {"smtp.banner", 0.5, "the 220 greeting should name the server with a fully qualified host name (RFC 5321 4.3.1)"},
    {"smtp.ehlo", 1, "without a working EHLO senders cannot use STARTTLS, SIZE or 8BITMIME"},
    {"smtp.starttls", 1.5, "without STARTTLS mail travels in clear text and Gmail marks it with a red padlock"},
    {"smtp.cert", 1, "senders that check certificates (MTA-STS, DANE) refuse one that is self-signed, expired or for another name; most others accept any"},
    {"smtp.relay", 5, "an open relay is abused by spammers within hours and then lands on every blocklist"},
    {"msg.parse", 10, "a file without a readable header block is not a message: every server refuses it"},
    {"msg.dkim", 3, "a message without a valid DKIM signature loses its best proof of origin"},
    {"msg.align", 2, "DMARC passes only if a passing DKIM d= (or SPF) domain matches the From domain"},
    {"msg.text", 2, "messages with only images or no text part are scored as spam"},
    {"msg.unsubscribe", 1.5, "Gmail and Yahoo require List-Unsubscribe with one-click (RFC 8058) for bulk mail"},
    {"msg.size", 1, "big messages are refused by many servers (10-25 MB limits) and slow to scan"},
    {"msg.headers", 1.5, "missing Date or Message-ID, or several From fields, are classic spam-filter hits (RFC 5322 3.6)"},
};

/* doctor_find - the table row of id, or NULL */
static const doctor_id *doctor_find(const char *id)
{
    for (size_t i = 0; i < sizeof doctor_ids / sizeof doctor_ids[0]; i++)
        if (strcmp(doctor_ids[i].id, id) == 0)
            return &doctor_ids[i];
    return NULL;
}

/* doctor_why - the table's reason for id */
const char *doctor_why(const char *id)
{
    const doctor_id *d = doctor_find(id);
    return d ? d->why : "";
}

/* doctor_status_name - status as printed and in JSON */
const char *doctor_status_name(doctor_status st)
{
    static const char *names[] = {"ok", "warn", "fail", "skip"};
    return (unsigned)st < 4 ? names[st] : "?";
}

/* doctor_report_init - an empty report about subject */
void doctor_report_init(doctor_report *rep, const char *subject, int message)
{
    memset(rep, 0, sizeof *rep);
    rep->subject = xstrdup(subject ? subject : "");
    rep->message = message;
}

/* doctor_report_free - release the checks and the subject */
void doctor_report_free(doctor_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->checks[i].value);
        free(rep->checks[i].fix);
    }
    free(rep->checks);
    free(rep->subject);
    memset(rep, 0, sizeof *rep);
}

/* doctor_add - append one check; an id missing from the table is a programming error */
doctor_check *doctor_add(doctor_report *rep, const char *id, doctor_status st, const char *fmt, ...)
{
    const doctor_id *d = doctor_find(id);
    if (!d)
        abort(); /* broken internal invariant: every id has a weight */
    if (rep->n == rep->cap) {
        rep->cap = rep->cap ? rep->cap * 2 : 32;
        rep->checks = xrealloc(rep->checks, rep->cap * sizeof *rep->checks);
    }
    doctor_check *c = &rep->checks[rep->n++];
    c->id = d->id;
    c->status = st;
    c->fix = NULL;
    buf b;
    buf_init(&b, 4096);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vprintf(&b, fmt, ap) != BUF_OK)
        buf_append_str(&b, "(value too long)");
    va_end(ap);
    c->value = b.data ? buf_steal(&b, NULL) : xstrdup("");
    return c;
}

/* doctor_fix - attach the fix text */
void doctor_fix(doctor_check *c, const char *fmt, ...)
{
    buf b;
    buf_init(&b, 4096);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vprintf(&b, fmt, ap) != BUF_OK)
        buf_append_str(&b, "(fix too long)");
    va_end(ap);
    free(c->fix);
    c->fix = b.data ? buf_steal(&b, NULL) : xstrdup("");
}

/* doctor_score - see the file header */
double doctor_score(const doctor_report *rep)
{
    double s = 10;
    for (size_t i = 0; i < rep->n; i++) {
        const doctor_id *d = doctor_find(rep->checks[i].id);
        if (rep->checks[i].status == DOCTOR_FAIL)
            s -= d->weight;
        else if (rep->checks[i].status == DOCTOR_WARN)
            s -= d->weight / 2;
    }
    return s < 0 ? 0 : s;
}

/* doctor_failed - count of failed checks (the exit status depends on it) */
size_t doctor_failed(const doctor_report *rep)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->n; i++)
        n += rep->checks[i].status == DOCTOR_FAIL;
    return n;
}

/* doctor_utf8_len - length of the valid UTF-8 sequence at p (RFC 3629), 0 when invalid */
static size_t doctor_utf8_len(const unsigned char *p)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
    if (n == 0 || p[0] >= 0xf5)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return n;
}

/* doctor_json_str - s as a JSON string: control bytes escaped, invalid UTF-8 (DNS data is any bytes) as U+FFFD */
static void doctor_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t n;
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else if (*p < 0x80)
            fputc(*p, out);
        else if ((n = doctor_utf8_len(p)) > 0) {
            fwrite(p, 1, n, out);
            p += n - 1;
        } else
            fputs("\\ufffd", out);
    }
    fputc('"', out);
}

/* doctor_safe - s for a terminal: control bytes (escape sequences from hostile DNS data) become '?' */
static void doctor_safe(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

/* doctor_print_json - machine-readable report */
void doctor_print_json(const doctor_report *rep, FILE *out)
{
    fprintf(out, "{\"%s\": ", rep->message ? "message" : "domain");
    doctor_json_str(out, rep->subject);
    fprintf(out, ", \"score\": %.1f, \"max\": 10, \"failed\": %zu, \"checks\": [", doctor_score(rep),
            doctor_failed(rep));
    for (size_t i = 0; i < rep->n; i++) {
        const doctor_check *c = &rep->checks[i];
        fprintf(out, "%s\n  {\"id\": \"%s\", \"status\": \"%s\", \"value\": ", i ? "," : "", c->id,
                doctor_status_name(c->status));
        doctor_json_str(out, c->value);
        fputs(", \"why\": ", out);
        doctor_json_str(out, doctor_why(c->id));
        fputs(", \"fix\": ", out);
        if (c->fix)
            doctor_json_str(out, c->fix);
        else
            fputs("null", out);
        fputc('}', out);
    }
    fputs("\n]}\n", out);
}

/* doctor_print_human - one block per check; why and fix only where something is wrong */
void doctor_print_human(const doctor_report *rep, FILE *out, int color)
{
    static const char *tag[] = {" OK ", "WARN", "FAIL", "SKIP"};
    static const char *col[] = {"\033[32m", "\033[33m", "\033[1;31m", "\033[2m"};
    const char *reset = color ? "\033[0m" : "";
    fputs("pochta doctor: ", out);
    doctor_safe(out, rep->subject);
    fputc('\n', out);
    const char *area = "";
    size_t area_len = 0;
    for (size_t i = 0; i < rep->n; i++) {
        const doctor_check *c = &rep->checks[i];
        size_t alen = strcspn(c->id, ".");
        if (alen != area_len || strncmp(c->id, area, alen) != 0) {
            fprintf(out, "\n%s%.*s%s\n", color ? "\033[1m" : "", (int)alen, c->id, reset);
            area = c->id;
            area_len = alen;
        }
        fprintf(out, "  [%s%s%s] %-16s ", color ? col[c->status] : "", tag[c->status], reset, c->id);
        doctor_safe(out, c->value);
        fputc('\n', out);
        if (c->status == DOCTOR_WARN || c->status == DOCTOR_FAIL) {
            fprintf(out, "         why: %s\n", doctor_why(c->id));
            if (c->fix) {
                fputs("         fix: ", out);
                doctor_safe(out, c->fix);
                fputc('\n', out);
            }
        }
    }
    double s = doctor_score(rep);
    const char *sc = !color ? "" : s >= 9 ? col[0] : s >= 6 ? col[1] : col[2];
    fprintf(out, "\nscore: %s%.1f/10%s (%zu failed; weights in docs/doctor.md)\n", sc, s, reset, doctor_failed(rep));
}
