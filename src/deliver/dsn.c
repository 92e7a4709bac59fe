/*
 * dsn - delivery status notifications (RFC 3464 / RFC 6522, parameters of
 * RFC 3461) for the recipients of one delivery run (API in dsn.h).
 * Limits: the original header is copied up to DSN_HEADER_MAX bytes (cut at
 * a line end); RET=FULL returns the whole message only up to
 * DSN_RETURN_MAX bytes, so a notice stays small even for a huge message.
 * Text taken from the peer or the sender (replies, ORCPT) has its control
 * bytes replaced, so it can never start a new header field.
 */
#include "deliver/dsn.h"
#include "config/config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/smtp_cmd.h"
#include "queue/queue_file.h"
#include "queue/queue_pickup.h"
#include "store/msglog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* dsn_meaning - what a status usually means, in one sentence (RFC 3463 classes) */
static const char *dsn_meaning(const char *status)
{
    static const struct {
        const char *prefix, *text;
    } t[] = {
        {"5.1.10", "The recipient's domain says it accepts no mail at all (null MX)."},
        {"5.1.2", "The recipient's domain does not exist: the address is probably misspelled."},
        {"5.1.", "The recipient's server says this address does not exist: check it for typos."},
        {"5.2.2", "The recipient's mailbox is full; they must make room before mail can be delivered."},
        {"5.2.", "The recipient's mailbox is disabled or cannot take mail now."},
        {"5.3.4", "The message is larger than the recipient's server accepts."},
        {"5.6.7", "The message needs international-address support (SMTPUTF8), which the receiving server lacks."},
        {"5.7.", "The recipient's server refused the message by policy (spam filter, sender authentication or "
                 "a block list); the remote reply above says which."},
        {"4.4.7", "The message could not be delivered for as long as we keep trying; the receiving server "
                  "was unreachable or kept answering with temporary errors."},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strncmp(status, t[i].prefix, strlen(t[i].prefix)) == 0)
            return t[i].text;
    return "The receiving side refused the message permanently; the reply above says why.";
}

/* dsn_headers - the original header block of data (up to DSN_HEADER_MAX, ends with CRLF) */
static void dsn_headers(buf *out, const buf *data)
{
    size_t n = data->len < DSN_HEADER_MAX ? data->len : DSN_HEADER_MAX;
    const char *end = NULL;
    for (size_t i = 0; i + 3 < n && !end; i++)
        if (memcmp(data->data + i, "\r\n\r\n", 4) == 0)
            end = data->data + i + 2;
    if (!end) { /* no blank line within the cap: cut after the last complete line */
        end = data->data + n;
        while (end > data->data && end[-1] != '\n')
            end--;
    }
    buf_append(out, data->data, (size_t)(end - data->data));
}

#define DSN_FOLD_AT 900       /* fold text from peers before this many bytes on a line */
#define DSN_MAX_ENTRIES 10000 /* per run; more final addresses than this are logged, not listed */

enum { DSN_KIND_FAILED, DSN_KIND_DELAYED, DSN_KIND_SUCCESS, DSN_KINDS };

/* dsn_kind - which notice an action goes into: failures, delays, or successes (delivered + relayed) */
static int dsn_kind(dsn_action a)
{
    return a == DSN_FAILED ? DSN_KIND_FAILED : a == DSN_DELAYED ? DSN_KIND_DELAYED : DSN_KIND_SUCCESS;
}

/* dsn_wanted - RFC 3461 4.1: absent NOTIFY means FAILURE,DELAY; NEVER means no notice at all */
int dsn_wanted(int notify, dsn_action a)
{
    if (notify == 0)
        notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
    if (notify & SMTP_NOTIFY_NEVER)
        return 0;
    if (a == DSN_FAILED)
        return (notify & SMTP_NOTIFY_FAILURE) != 0;
    if (a == DSN_DELAYED)
        return (notify & SMTP_NOTIFY_DELAY) != 0;
    return (notify & SMTP_NOTIFY_SUCCESS) != 0;
}

/* dsn_list_add - keep an outcome the sender asked to hear of; never for the null sender */
int dsn_list_add(dsn_list *l, const queue_msg *m, size_t rcpt, dsn_action a, const char *orig_to, const char *to,
                 const char *status, const char *reason)
{
    if (!m->sender || !m->sender[0] || rcpt >= m->nrcpts)
        return 0; /* never bounce a bounce */
    if (!dsn_wanted(m->rcpt_dsn[rcpt].notify, a))
        return 0;
    if (l->n >= DSN_MAX_ENTRIES) {
        log_error(m->id, "event=dsn_error rcpt=<%s> error=\"more than %d addresses in one run\"", to, DSN_MAX_ENTRIES);
        return 0;
    }
    l->e = xrealloc(l->e, (l->n + 1) * sizeof *l->e);
    dsn_entry *e = &l->e[l->n++];
    e->action = a;
    e->rcpt = rcpt;
    e->orig_to = xstrdup(orig_to ? orig_to : to);
    e->to = xstrdup(to);
    e->status = xstrdup(status);
    e->reason = xstrdup(reason ? reason : "");
    return 1;
}

/* dsn_list_free - release every entry */
void dsn_list_free(dsn_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].orig_to);
        free(l->e[i].to);
        free(l->e[i].status);
        free(l->e[i].reason);
    }
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

/* dsn_clean - append s with control bytes replaced by '?' (no header field can be started from it),
 * folded with CRLF SP before DSN_FOLD_AT bytes, so no line passes RFC 5322's 998 (a remote reply can
 * hold 4 KB); a fold goes at a space when there is one, else the text is cut there */
static void dsn_clean(buf *out, const char *s)
{
    size_t col = 0;
    for (; *s; s++, col++) {
        if ((*s == ' ' && col >= DSN_FOLD_AT - 100) || col >= DSN_FOLD_AT) {
            buf_append(out, "\r\n ", 3);
            col = 1;
        }
        buf_append_char(out, ((unsigned char)*s < 32 || *s == 127) ? '?' : *s);
    }
}

/* dsn_orig_rcpt - Original-Recipient: the ORCPT (xtext decoded), else the alias the sender used */
static void dsn_orig_rcpt(buf *out, const queue_msg *m, const dsn_entry *e)
{
    const char *orcpt = m->rcpt_dsn[e->rcpt].orcpt;
    const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
    if (semi) {
        char addr[QUEUE_ORCPT_MAX + 1];
        snprintf(addr, sizeof addr, "%s", semi + 1);
        if (smtp_xtext_decode(addr) < 0)
            snprintf(addr, sizeof addr, "%s", semi + 1);
        buf_printf(out, "Original-Recipient: %.*s; ", (int)(semi - orcpt), orcpt);
        dsn_clean(out, addr);
        buf_append(out, "\r\n", 2);
    } else if (strcasecmp(e->orig_to, e->to) != 0) {
        buf_printf(out, "Original-Recipient: rfc822; %s\r\n", e->orig_to);
    }
}

/* dsn_intro - the first sentence of the plain-language part for a kind */
static const char *dsn_intro(int kind)
{
    if (kind == DSN_KIND_FAILED)
        return "could not be delivered to the following address(es). No further attempts will be made.";
    if (kind == DSN_KIND_DELAYED)
        return "has not been delivered yet to the following address(es); it stays in the queue and we keep "
               "trying. You do not need to send it again; you will get another notice only if we give up.";
    return "was delivered to the following address(es); you asked to be told (NOTIFY=SUCCESS).";
}

/* dsn_text_entry - one address in the plain-language part */
static void dsn_text_entry(buf *out, const dsn_entry *e)
{
    buf_printf(out, "    <%s>\r\n", e->to);
    if (strcasecmp(e->orig_to, e->to) != 0)
        buf_printf(out, "    (you sent it to <%s>, which forwards there)\r\n", e->orig_to);
    if (e->action == DSN_DELIVERED) {
        buf_printf(out, "    Delivered into the recipient's mailbox on this server.\r\n\r\n");
        return;
    }
    if (e->action == DSN_RELAYED) {
        buf_printf(out, "    Handed on to the next mail server, which does not send delivery notices, so this "
                        "is the last notice you will get for this address. Its reply:\r\n        ");
        dsn_clean(out, e->reason);
        buf_printf(out, "\r\n\r\n");
        return;
    }
    buf_printf(out, "    What happened (status %s):\r\n        ", e->status);
    dsn_clean(out, e->reason);
    buf_printf(out, "\r\n    What it usually means:\r\n        %s\r\n\r\n",
               e->action == DSN_DELAYED ? "The receiving side answered with a temporary error or could not be "
                                          "reached."
                                        : dsn_meaning(e->status));
}

/* dsn_status_entry - one per-recipient block of message/delivery-status (RFC 3464 2.3) */
static void dsn_status_entry(buf *out, const queue_msg *m, const dsn_entry *e, const char *date)
{
    static const char *const action[] = {"failed", "delayed", "delivered", "relayed"};
    dsn_orig_rcpt(out, m, e);
    buf_printf(out, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", e->to, action[e->action],
               e->status);
    const char *said = strstr(e->reason, " said: ");
    const char *lb = strchr(e->reason, '[');
    if (said && lb && lb < said)
        buf_printf(out, "Remote-MTA: dns; %.*s\r\n", (int)(lb - e->reason), e->reason);
    if (said || e->action == DSN_RELAYED) {
        buf_printf(out, "Diagnostic-Code: smtp; ");
        dsn_clean(out, said ? said + 7 : e->reason);
        buf_append(out, "\r\n", 2);
    } else if (e->action != DSN_DELIVERED) {
        buf_printf(out, "Diagnostic-Code: x-pochta; ");
        dsn_clean(out, e->reason);
        buf_append(out, "\r\n", 2);
    }
    buf_printf(out, "Last-Attempt-Date: %s\r\n\r\n", date);
}

/* dsn_returns_full - RET=FULL and small enough: the whole message goes back as message/rfc822 */
static int dsn_returns_full(const queue_msg *m)
{
    return m->dsn_ret == QUEUE_RET_FULL && m->data.len <= DSN_RETURN_MAX;
}

/* dsn_returned - the third part: the message (RET=FULL) or its header (RET=HDRS, or no RET) */
static void dsn_returned(buf *out, const queue_msg *m, const char *b, const char *host)
{
    if (dsn_returns_full(m)) {
        buf_printf(out, "--%s/%s\r\nContent-Type: message/rfc822\r\nContent-Description: Original message\r\n"
                        "\r\n", b, host);
        buf_append(out, m->data.data, m->data.len);
        if (m->data.len >= 2 && memcmp(m->data.data + m->data.len - 2, "\r\n", 2) != 0)
            buf_append(out, "\r\n", 2);
    } else {
        buf_printf(out, "--%s/%s\r\nContent-Type: text/rfc822-headers\r\nContent-Description: Message header\r\n"
                        "\r\n", b, host);
        dsn_headers(out, &m->data);
    }
    buf_printf(out, "\r\n--%s/%s--\r\n", b, host);
}

/* dsn_build - the whole notice of one kind into out (entries of other kinds are skipped) */
static void dsn_build(const pochta_config *cfg, const queue_msg *m, const dsn_list *l, int kind, const char *id,
                      buf *out)
{
    static const char *const subject[] = {"Undelivered Mail Returned to Sender", "Delayed Mail (still being retried)",
                                          "Successful Mail Delivery Report"};
    char date[64], arr[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
    strftime(arr, sizeof arr, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&m->arrival, &tm));
    const char *b = id, *host = cfg->hostname; /* boundary ID/host: the queue ID is unique */
    buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
                    "Message-ID: <%s.dsn@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"%s/%s\"\r\n\r\n"
                    "This is a MIME-encapsulated message.\r\n\r\n",
               host, m->sender, subject[kind], date, id, host, b, host);
    buf_printf(out, "--%s/%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Description: Notification\r\n\r\n"
                    "This is the mail system at host %s.\r\n\r\nYour message (queue ID %s, received %s) %s\r\n\r\n",
               b, host, host, m->id, arr, dsn_intro(kind));
    for (size_t i = 0; i < l->n; i++)
        if (dsn_kind(l->e[i].action) == kind)
            dsn_text_entry(out, &l->e[i]);
    if (dsn_returns_full(m))
        buf_printf(out, "The original message is attached below.\r\n\r\n");
    else if (m->dsn_ret == QUEUE_RET_FULL)
        buf_printf(out, "You asked for the whole message back (RET=FULL), but it is larger than %d bytes, so only "
                        "its header is attached below.\r\n\r\n", DSN_RETURN_MAX);
    else
        buf_printf(out, "The original message's header is attached below.\r\n\r\n");
    buf_printf(out, "--%s/%s\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n",
               b, host);
    if (m->dsn_envid) {
        buf_printf(out, "Original-Envelope-Id: ");
        dsn_clean(out, m->dsn_envid);
        buf_append(out, "\r\n", 2);
    }
    buf_printf(out, "Reporting-MTA: dns; %s\r\nX-Pochta-Queue-ID: %s\r\nArrival-Date: %s\r\n\r\n", host, m->id, arr);
    for (size_t i = 0; i < l->n; i++)
        if (dsn_kind(l->e[i].action) == kind)
            dsn_status_entry(out, m, &l->e[i], date);
    dsn_returned(out, m, b, host);
}

/* dsn_queue - build the notice of one kind and inject it into the queue; OK when there is none */
static queue_status dsn_queue(const pochta_config *cfg, const queue_msg *m, const dsn_list *l, int kind,
                              const char *to)
{
    static const char *const action[] = {"failed", "delayed", "delivered", "relayed"};
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += dsn_kind(l->e[i].action) == kind;
    if (!n)
        return QUEUE_OK;
    queue_msg *d = queue_msg_new(DSN_RETURN_MAX + DSN_HEADER_MAX + 64 * 1024 + n * 4096);
    queue_new_id(d->id);
    d->sender = xstrdup("");
    queue_msg_add_rcpt(d, to);
    d->client_ip = xstrdup("127.0.0.1");
    d->client_name = xstrdup("localhost");
    d->helo = xstrdup(cfg->hostname);
    d->arrival = time(NULL);
    d->smtputf8 = m->smtputf8;
    d->body_8bit = dsn_returns_full(m) && m->body_8bit;
    dsn_build(cfg, m, l, kind, d->id, &d->data);
    char err[256];
    queue_status st = queue_inject(cfg, d, err, sizeof err);
    for (size_t i = 0; i < l->n; i++) {
        const dsn_entry *e = &l->e[i];
        if (dsn_kind(e->action) != kind)
            continue;
        if (st == QUEUE_OK)
            msglog_event(m->id, "dsn", "to=<%s> rcpt=<%s> action=%s status=%s dsn_id=%s", to, e->to,
                         action[e->action], e->status, d->id);
        else
            log_error(m->id, "event=dsn_error rcpt=<%s> error=\"%s\"", e->to, err);
    }
    queue_msg_free(d);
    return st;
}

/* dsn_send - one notice per kind (see dsn.h) */
queue_status dsn_send(const pochta_config *cfg, const queue_msg *m, const dsn_list *l, const char *to)
{
    queue_status st = QUEUE_OK;
    for (int k = 0; k < DSN_KINDS; k++)
        if (dsn_queue(cfg, m, l, k, to ? to : m->sender) != QUEUE_OK)
            st = QUEUE_TEMPFAIL;
    return st;
}
