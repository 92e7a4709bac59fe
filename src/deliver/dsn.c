/*
 * dsn - failure notices (RFC 3464 / RFC 6522) for undeliverable recipients
 * (API in dsn.h). Limits: the original header is copied up to
 * DSN_HEADER_MAX bytes (cut at a line end), so a notice stays small even
 * for a huge message; RET=FULL is not implemented yet (headers only).
 */
#include "deliver/dsn.h"
#include "config/config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue_pickup.h"
#include "store/msglog.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DSN_HEADER_MAX (64 * 1024)

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

/* dsn_build - the whole notice into out */
static void dsn_build(const pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                      const char *status, const char *reason, const char *id, int delayed, buf *out)
{
    char date[64], arr[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
    strftime(arr, sizeof arr, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&m->arrival, &tm));
    const char *b = id; /* the queue ID is unique and never appears in the parts' text lines alone */
    buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n"
               "Subject: %s\r\nDate: %s\r\nMessage-ID: <%s.dsn@%s>\r\n"
               "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"%s/%s\"\r\n\r\n"
               "This is a MIME-encapsulated message.\r\n\r\n",
               cfg->hostname, m->sender, delayed ? "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender",
               date, id, cfg->hostname, b, cfg->hostname);
    buf_printf(out, "--%s/%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Description: Notification\r\n\r\n"
               "This is the mail system at host %s.\r\n\r\n"
               "Your message (queue ID %s, received %s) %s:\r\n\r\n    <%s>\r\n\r\n",
               b, cfg->hostname, cfg->hostname, m->id, arr,
               delayed ? "has not been delivered yet; it stays in the queue and we keep trying to reach"
                       : "could not be delivered to", to);
    if (orig_to && strcasecmp(orig_to, to) != 0)
        buf_printf(out, "(you sent it to <%s>, which forwards there).\r\n\r\n", orig_to);
    buf_printf(out, "What happened (status %s):\r\n    %s\r\n\r\nWhat it usually means:\r\n    %s\r\n\r\n"
               "The original message's header is attached below. %s\r\n\r\n", status, reason,
               delayed ? "The receiving side answered with a temporary error or could not be reached."
                       : dsn_meaning(status),
               delayed ? "You do not need to send it again; you will get another notice only if we give up."
                       : "No further attempts will be made.");
    buf_printf(out, "--%s/%s\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n"
               "Reporting-MTA: dns; %s\r\nX-Pochta-Queue-ID: %s\r\nArrival-Date: %s\r\n\r\n"
               "Final-Recipient: rfc822; %s\r\n",
               b, cfg->hostname, cfg->hostname, m->id, arr, to);
    if (orig_to && strcasecmp(orig_to, to) != 0)
        buf_printf(out, "Original-Recipient: rfc822; %s\r\n", orig_to);
    buf_printf(out, "Action: %s\r\nStatus: %s\r\n", delayed ? "delayed" : "failed", status);
    const char *said = strstr(reason, " said: ");
    if (said) {
        const char *host = reason;
        const char *lb = strchr(reason, '[');
        if (lb && lb < said)
            buf_printf(out, "Remote-MTA: dns; %.*s\r\n", (int)(lb - host), host);
        buf_printf(out, "Diagnostic-Code: smtp; %s\r\n", said + 7);
    } else {
        buf_printf(out, "Diagnostic-Code: x-pochta; %s\r\n", reason);
    }
    buf_printf(out, "Last-Attempt-Date: %s\r\n\r\n--%s/%s\r\nContent-Type: text/rfc822-headers\r\n"
               "Content-Description: Undelivered message header\r\n\r\n", date, b, cfg->hostname);
    dsn_headers(out, &m->data);
    buf_printf(out, "\r\n--%s/%s--\r\n", b, cfg->hostname);
}

/* dsn_queue - build a failed or delayed notice and inject it into the queue */
static queue_status dsn_queue(const pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                              const char *status, const char *reason, int delayed, const char *notify)
{
    if (!m->sender || !m->sender[0])
        return QUEUE_OK; /* never bounce a bounce */
    if (!notify)
        notify = m->sender;
    queue_msg *d = queue_msg_new(DSN_HEADER_MAX + 64 * 1024);
    queue_new_id(d->id);
    d->sender = xstrdup("");
    queue_msg_add_rcpt(d, notify);
    d->client_ip = xstrdup("127.0.0.1");
    d->client_name = xstrdup("localhost");
    d->helo = xstrdup(cfg->hostname);
    d->arrival = time(NULL);
    d->smtputf8 = m->smtputf8;
    dsn_build(cfg, m, orig_to, to, status, reason, d->id, delayed, &d->data);
    char err[256];
    queue_status st = queue_inject(cfg, d, err, sizeof err);
    if (st == QUEUE_OK)
        msglog_event(m->id, "dsn", "to=<%s> rcpt=<%s> action=%s status=%s dsn_id=%s", notify, to,
                     delayed ? "delayed" : "failed", status, d->id);
    else
        log_error(m->id, "event=dsn_error rcpt=<%s> error=\"%s\"", to, err);
    queue_msg_free(d);
    return st;
}

/* dsn_failed - queue a failure notice (see dsn.h) */
queue_status dsn_failed(const pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                        const char *status, const char *reason)
{
    return dsn_queue(cfg, m, orig_to, to, status, reason, 0, NULL);
}

/* dsn_failed_to - queue a failure notice to notify instead of the sender (see dsn.h) */
queue_status dsn_failed_to(const pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                           const char *status, const char *reason, const char *notify)
{
    return dsn_queue(cfg, m, orig_to, to, status, reason, 0, notify);
}

/* dsn_delayed - queue a delay warning (see dsn.h) */
queue_status dsn_delayed(const pochta_config *cfg, const queue_msg *m, const char *to, const char *reason)
{
    return dsn_queue(cfg, m, NULL, to, "4.4.7", reason, 1, NULL);
}
