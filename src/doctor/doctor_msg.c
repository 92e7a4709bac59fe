/*
 * doctor_msg - `pochta doctor --message FILE`: look at one message the way
 * receivers' content filters do and score it (checks msg.* in the table of
 * doctor_report.c):
 *   msg.dkim         a DKIM-Signature is present and verifies (src/auth/dkim)
 *   msg.align        a passing signature's d= is aligned with the From domain
 *                    (DMARC relaxed alignment, dmarc_aligned)
 *   msg.text         a text part is present, not only images or only HTML
 *   msg.unsubscribe  bulk mail (List-Id, Precedence: bulk/list) carries
 *                    List-Unsubscribe with one-click (RFC 2369, RFC 8058)
 *   msg.size         warn past DOCTOR_SIZE_WARN, fail past DOCTOR_SIZE_FAIL
 *   msg.headers      one From, Date, Message-ID, Subject, a recipient
 *                    field (RFC 5322 3.6), Date not in the future
 *   msg.parse        only when the file is not a message at all (weight 10)
 * MIME structure and headers come from GMime. Limit: DOCTOR_MAX_MESSAGE.
 */
#include "doctor/doctor.h"

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Sizes past which many receivers refuse or score a message (Gmail 25 MB, many servers 10 MB). */
#define DOCTOR_SIZE_WARN (10u * 1024 * 1024)
#define DOCTOR_SIZE_FAIL (25u * 1024 * 1024)

typedef struct doctor_parts {
    int plain, html, images, other;
} doctor_parts;

/* doctor_part_cb - count the leaf parts by kind (attachments other than images do not count as text) */
static void doctor_part_cb(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    doctor_parts *p = data;
    if (!GMIME_IS_PART(part))
        return;
    GMimeContentType *ct = g_mime_object_get_content_type(part);
    int attach = g_mime_part_is_attachment(GMIME_PART(part));
    if (g_mime_content_type_is_type(ct, "image", "*")) {
        p->images++;
    } else if (!attach && GMIME_IS_TEXT_PART(part) && g_mime_content_type_is_type(ct, "text", "plain")) {
        char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
        p->plain += t && t[strspn(t, " \t\r\n")] != '\0';
        g_free(t);
    } else if (!attach && g_mime_content_type_is_type(ct, "text", "html")) {
        p->html++;
    } else {
        p->other++;
    }
}

/* doctor_header_count - how many fields named name the message has; *value gets the first one's value */
static int doctor_header_count(GMimeMessage *m, const char *name, const char **value)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
    int n = 0, count = g_mime_header_list_get_count(hl);
    if (value)
        *value = NULL;
    for (int i = 0; i < count; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        if (strcasecmp(g_mime_header_get_name(h), name) == 0 && n++ == 0 && value)
            *value = g_mime_header_get_value(h);
    }
    return n;
}

/* doctor_msg_dkim - msg.dkim and msg.align */
static void doctor_msg_dkim(doctor_report *rep, struct event_base *base, dns_resolver *r, const buf *crlf,
                            const char *from_domain)
{
    doctor_check *k;
    if (!r) {
        doctor_add(rep, "msg.dkim", DOCTOR_SKIP, "no resolver");
        doctor_add(rep, "msg.align", DOCTOR_SKIP, "no resolver");
        return;
    }
    dkim_results res;
    dkim_verify_sync(base, r, crlf->data, crlf->len, &res);
    const dkim_sig_result *pass = NULL, *aligned = NULL;
    int temp = 0;
    for (size_t i = 0; i < res.count; i++) {
        const dkim_sig_result *s = &res.sig[i];
        temp |= s->result == DKIM_TEMPERROR;
        if (s->result == DKIM_PASS) {
            pass = pass ? pass : s;
            if (!aligned && from_domain && dmarc_aligned(s->domain, from_domain, 0))
                aligned = s;
        }
    }
    if (pass) {
        doctor_add(rep, "msg.dkim", DOCTOR_OK, "dkim=pass d=%s s=%s", pass->domain, pass->selector);
    } else if (res.found == 0) {
        k = doctor_add(rep, "msg.dkim", DOCTOR_FAIL, "no DKIM-Signature field");
        doctor_fix(k, "sign outgoing mail: pochta dkim keygen DOMAIN, publish the record, and sign with that key");
    } else if (temp) {
        k = doctor_add(rep, "msg.dkim", DOCTOR_WARN, "dkim=temperror d=%s (DNS failed)", res.sig[0].domain);
        doctor_fix(k, "try again; if it persists, check the signing domain's name servers");
    } else {
        k = doctor_add(rep, "msg.dkim", DOCTOR_FAIL, "dkim=%s d=%s s=%s: %s", dkim_result_name(res.sig[0].result),
                       res.sig[0].domain, res.sig[0].selector, res.sig[0].reason);
        doctor_fix(k, "check that the published key matches the signing key (pochta doctor DOMAIN --selector S "
                      "--dkim-key FILE) and that nothing changes the message after signing");
    }
    if (aligned) {
        doctor_add(rep, "msg.align", DOCTOR_OK, "From domain %s aligned with d=%s", from_domain, aligned->domain);
    } else if (pass) {
        k = doctor_add(rep, "msg.align", DOCTOR_FAIL, "From domain %s is not aligned with d=%s",
                       from_domain ? from_domain : "(none)", pass->domain);
        doctor_fix(k, "sign with a key of the From domain (d=%s or its parent), not only the sending service's",
                   from_domain ? from_domain : "FROM-DOMAIN");
    } else {
        k = doctor_add(rep, "msg.align", DOCTOR_WARN, "no passing DKIM signature to align with %s (SPF alignment "
                       "cannot be judged from a file)", from_domain ? from_domain : "(no From)");
        doctor_fix(k, "sign with a key of the From domain");
    }
}

/* doctor_msg_text - msg.text */
static void doctor_msg_text(doctor_report *rep, GMimeMessage *m)
{
    doctor_parts p = {0, 0, 0, 0};
    g_mime_message_foreach(m, doctor_part_cb, &p);
    doctor_check *k;
    if (p.plain) {
        doctor_add(rep, "msg.text", DOCTOR_OK, "%d text/plain part(s), %d HTML, %d image(s)", p.plain, p.html, p.images);
    } else if (p.html) {
        k = doctor_add(rep, "msg.text", DOCTOR_WARN, "HTML without a text/plain alternative");
        doctor_fix(k, "send multipart/alternative with a text/plain version of the HTML");
    } else {
        k = doctor_add(rep, "msg.text", DOCTOR_FAIL, "no text part at all (%d image(s), %d other part(s))", p.images,
                       p.other);
        doctor_fix(k, "put the message in words into a text/plain part; images alone are the mark of image spam");
    }
}

/* doctor_msg_unsub - msg.unsubscribe: only bulk mail needs it */
static void doctor_msg_unsub(doctor_report *rep, GMimeMessage *m)
{
    const char *prec, *lu, *post;
    int bulk = doctor_header_count(m, "List-Id", NULL) > 0;
    if (doctor_header_count(m, "Precedence", &prec) && prec &&
        (strcasestr(prec, "bulk") || strcasestr(prec, "list") || strcasestr(prec, "junk")))
        bulk = 1;
    int has_lu = doctor_header_count(m, "List-Unsubscribe", &lu) > 0;
    int has_post = doctor_header_count(m, "List-Unsubscribe-Post", &post) > 0 && post &&
                   strcasestr(post, "List-Unsubscribe=One-Click");
    doctor_check *k;
    if (!bulk && !has_lu) {
        doctor_add(rep, "msg.unsubscribe", DOCTOR_OK, "not bulk mail (no List-Id or Precedence: bulk/list)");
    } else if (!has_lu) {
        k = doctor_add(rep, "msg.unsubscribe", DOCTOR_FAIL, "bulk mail without List-Unsubscribe");
        doctor_fix(k, "add List-Unsubscribe: <https://.../unsub?id=...>, <mailto:unsub@...> and "
                      "List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)");
    } else if (!has_post || !strcasestr(lu, "https:")) {
        k = doctor_add(rep, "msg.unsubscribe", DOCTOR_WARN, "List-Unsubscribe without one-click (%s)",
                       has_post ? "no https: URI" : "no List-Unsubscribe-Post");
        doctor_fix(k, "add an https: URI to List-Unsubscribe and List-Unsubscribe-Post: List-Unsubscribe=One-Click");
    } else {
        doctor_add(rep, "msg.unsubscribe", DOCTOR_OK, "List-Unsubscribe with one-click");
    }
}

/* doctor_msg_headers - msg.headers: the fields RFC 5322 3.6 requires or that filters expect */
static void doctor_msg_headers(doctor_report *rep, GMimeMessage *m)
{
    buf bad;
    buf_init(&bad, 2048);
    int fail = 0;
    const char *subj;
    int nfrom = doctor_header_count(m, "From", NULL);
    if (nfrom != 1) {
        buf_printf(&bad, "%d From fields; ", nfrom);
        fail = 1;
    }
    if (!doctor_header_count(m, "Date", NULL))
        buf_append_str(&bad, "no Date; ");
    if (!doctor_header_count(m, "Message-ID", NULL))
        buf_append_str(&bad, "no Message-ID; ");
    if (!doctor_header_count(m, "Subject", &subj) || !subj || !*subj)
        buf_append_str(&bad, "no Subject; ");
    if (!doctor_header_count(m, "To", NULL) && !doctor_header_count(m, "Cc", NULL))
        buf_append_str(&bad, "no To or Cc; ");
    GDateTime *dt = g_mime_message_get_date(m);
    if (dt && g_date_time_to_unix(dt) > (gint64)time(NULL) + 86400)
        buf_append_str(&bad, "Date in the future; ");
    if (subj) {
        size_t up = 0, letters = 0;
        for (const char *p = subj; *p; p++)
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
                letters++, up += *p >= 'A' && *p <= 'Z';
        if (letters >= 10 && up * 10 >= letters * 8)
            buf_append_str(&bad, "Subject in capitals; ");
    }
    if (bad.len) {
        bad.data[bad.len - 2] = '\0';
        doctor_check *k = doctor_add(rep, "msg.headers", fail ? DOCTOR_FAIL : DOCTOR_WARN, "%s", bad.data);
        doctor_fix(k, "have the sending program set exactly one From and a Date, Message-ID, Subject and To");
    } else {
        doctor_add(rep, "msg.headers", DOCTOR_OK, "From, Date, Message-ID, Subject, To present");
    }
    buf_free(&bad);
}

/* doctor_from_domain - the domain of the first From mailbox (caller frees), or NULL */
static char *doctor_from_domain(GMimeMessage *m)
{
    InternetAddressList *l = g_mime_message_get_from(m);
    if (!l || internet_address_list_length(l) < 1)
        return NULL;
    InternetAddress *ia = internet_address_list_get_address(l, 0);
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
        return NULL;
    const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? xstrdup(at + 1) : NULL;
}

/* doctor_run_message - see doctor.h */
void doctor_run_message(struct event_base *base, dns_resolver *r, const char *name, const char *msg, size_t len,
                        doctor_report *rep)
{
    doctor_report_init(rep, name, 1);
    buf crlf;
    buf_init(&crlf, DOCTOR_MAX_MESSAGE * 2);
    dkim_crlf(msg, len, &crlf);
    g_mime_init();
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(crlf.data ? crlf.data : "", crlf.len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    if (!m) {
        doctor_check *k = doctor_add(rep, "msg.parse", DOCTOR_FAIL, "not a message: no header block could be read");
        doctor_fix(k, "give a whole message file (headers, empty line, body), e.g. as saved from a mailbox");
    } else {
        char *from = doctor_from_domain(m);
        doctor_msg_dkim(rep, base, r, &crlf, from);
        doctor_msg_text(rep, m);
        doctor_msg_unsub(rep, m);
        doctor_check *k;
        if (len > DOCTOR_SIZE_FAIL) {
            k = doctor_add(rep, "msg.size", DOCTOR_FAIL, "%zu bytes", len);
            doctor_fix(k, "send big files as links; most servers refuse messages over 25 MB");
        } else if (len > DOCTOR_SIZE_WARN) {
            k = doctor_add(rep, "msg.size", DOCTOR_WARN, "%zu bytes", len);
            doctor_fix(k, "keep messages under 10 MB: many servers refuse bigger ones");
        } else {
            doctor_add(rep, "msg.size", DOCTOR_OK, "%zu bytes", len);
        }
        doctor_msg_headers(rep, m);
        free(from);
        g_object_unref(m);
    }
    g_mime_shutdown();
    buf_free(&crlf);
}
