/*
 * smtp_data - the message phase: DATA (RFC 5321 4.1.1.4) and BDAT
 * (RFC 3030), our Received: header (RFC 5321 4.4, RFC 3848 protocol names),
 * and the hand-off to the durable queue. 250 is sent only from the queue's
 * completion callback, i.e. after the message and its directory were
 * fsync'ed.
 *
 * DATA content goes through the data_reader (dot-unstuffing, CRLF checks):
 * a bare CR or LF refuses the message at once and closes the connection
 * (SMTP smuggling, CVE-2023-51764); an overlong line or a message over the
 * size limit is read to its end and then refused.
 * BDAT chunks are binary-safe and counted; a chunk is always consumed, even
 * when it is refused, so its bytes are never taken for commands.
 */
#include "smtp/smtp_session.h"
#include "smtp/smtp_submit.h"
#include "smtp/smtp_auth.h"

#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue.h"
#include "store/msglog.h"

#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* smtp_data_new_transaction - a fresh message for MAIL FROM */
void smtp_data_new_transaction(smtp_session *s)
{
    smtp_data_abandon(s);
    queue_msg *m = queue_msg_new(s->srv->cfg->max_message_size);
    queue_new_id(m->id);
    m->client_ip = xstrdup(s->ip);
    m->client_name = xstrdup(s->client_name);
    m->helo = xstrdup(s->helo ? s->helo : "");
    m->arrival = time(NULL);
    s->msg = m;
}

/* smtp_data_abandon - drop the transaction; a commit in flight finishes without us */
void smtp_data_abandon(smtp_session *s)
{
    if (s->job) {
        queue_job_abandon(s->job);
        s->job = NULL;
    }
    if (s->msg) {
        queue_msg_free(s->msg);
        s->msg = NULL;
    }
    smtp_auth_reset(s);
    s->received_len = 0;
    s->too_big = 0;
    s->rcpt_refused = 0;
    s->flags &= ~(unsigned)(SMTP_FLAG_BDAT_LAST | SMTP_FLAG_DISCARD);
}

/* smtp_data_protocol - RFC 3848 / RFC 6531 "with" keyword */
static const char *smtp_data_protocol(const smtp_session *s)
{
    int tls = (s->flags & SMTP_FLAG_TLS) != 0;
    if (!(s->flags & SMTP_FLAG_EHLO))
        return "SMTP";
    if (s->auth_user && s->msg->smtputf8) /* RFC 3848 "A" suffix: authenticated */
        return tls ? "UTF8SMTPSA" : "UTF8SMTPA";
    if (s->auth_user)
        return tls ? "ESMTPSA" : "ESMTPA";
    if (s->msg->smtputf8)
        return tls ? "UTF8SMTPS" : "UTF8SMTP";
    return tls ? "ESMTPS" : "ESMTP";
}

/* smtp_data_received - prepend our Received: header to the message */
static void smtp_data_received(smtp_session *s)
{
    queue_msg *m = s->msg;
    char date[64], tls[160] = "";
    struct tm tm;
    time_t now = time(NULL);
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
    char desc[128];
    if (smtp_tls_describe(s, desc, sizeof desc) == 0)
        snprintf(tls, sizeof tls, "\r\n\t(using %s)", desc);
    buf_printf(&m->data, "Received: from %s (%s [%s])\r\n\tby %s (pochta) with %s id %s%s",
               m->helo[0] ? m->helo : "unknown", s->client_name, s->ip, s->srv->cfg->hostname,
               smtp_data_protocol(s), m->id, tls);
    if (s->auth_user)
        buf_printf(&m->data, "\r\n\t(Authenticated sender: %s)", s->auth_user);
    if (m->nrcpts == 1)
        buf_printf(&m->data, "\r\n\tfor <%s>", m->rcpts[0]);
    buf_printf(&m->data, "; %s\r\n", date);
    s->received_len = m->data.len;
    /* The size limit counts the client's message, not our header. */
    m->data.cap = s->received_len + s->srv->cfg->max_message_size;
}

/* smtp_data_on_queued - the queue answered: now, and only now, reply */
static void smtp_data_on_queued(void *arg, queue_status st)
{
    smtp_session *s = arg;
    s->job = NULL;
    s->transactions++;
    if (st == QUEUE_OK) {
        smtp_submit_sent(s); /* the user's daily count */
        smtp_session_reply(s, 250, "2.0.0", "Ok: queued as %s", s->queued_id);
    } else {
        msglog_event(s->queued_id, "refused", "session=%s code=451 enh=4.3.0 text=\"could not store the message\"",
                     s->id);
        smtp_session_reply(s, 451, "4.3.0", "Error: could not store the message (local disk problem); "
                           "try again later");
        smtp_session_error(s);
    }
    if (s->state != SMTP_STATE_CLOSING)
        smtp_session_set_state(s, SMTP_STATE_HELO);
    s->received_len = 0;
    smtp_session_resume(s);
}

/* smtp_data_commit - hand the complete message to the queue and wait for its fsync */
static void smtp_data_commit(smtp_session *s)
{
    queue_msg *m = s->msg;
    s->msg = NULL;
    snprintf(s->queued_id, sizeof s->queued_id, "%s", m->id);
    msglog_event(m->id, "queued", "session=%s from=<%s> size=%zu nrcpt=%zu", s->id, m->sender,
                 m->data.len - s->received_len, m->nrcpts);
    msglog_message_id(m->id, m->data.data, m->data.len); /* for pochta trace MESSAGE-ID */
    smtp_session_set_state(s, SMTP_STATE_QUEUEING);
    s->flags |= SMTP_FLAG_WAITING;
    s->job = queue_submit(s->srv->queue, m, smtp_data_on_queued, s);
}

/* smtp_data_refuse - the message is complete but refused: reply and end the transaction */
static void smtp_data_refuse(smtp_session *s, int code, const char *enh, const char *text)
{
    char q[600];
    log_quote(q, sizeof q, text, strlen(text));
    msglog_event(s->msg->id, "refused", "session=%s code=%d enh=%s text=%s", s->id, code, enh, q);
    smtp_session_reply(s, code, enh, "%s", text);
    smtp_data_abandon(s);
    smtp_session_set_state(s, SMTP_STATE_HELO);
    smtp_session_error(s);
}

/* smtp_data_after_auth - DKIM/DMARC verdict (smtp_auth.c): refuse or commit */
static void smtp_data_after_auth(smtp_session *s, int code, const char *enh, const char *text)
{
    if (code)
        smtp_data_refuse(s, code, enh, text);
    else
        smtp_data_commit(s);
}

/* smtp_data_finish - end of message: refuse for a deferred error or commit */
static void smtp_data_finish(smtp_session *s, int too_big, int line_too_long)
{
    char text[200];
    int code;
    if (too_big) {
        snprintf(text, sizeof text, "Message too big: our limit is %zu bytes; send a smaller message "
                 "or share large files by link", s->srv->cfg->max_message_size);
        smtp_data_refuse(s, 552, "5.3.4", text);
    } else if (line_too_long) {
        smtp_data_refuse(s, 550, "5.6.0", "Message has a line longer than 998 characters (RFC 5322 "
                         "2.1.1); the sending program must wrap lines or use quoted-printable");
    } else if ((code = smtp_submit_check_from(s, text, sizeof text)) != 0) { /* From: of an authenticated user */
        smtp_data_refuse(s, code, code == 451 ? "4.3.0" : "5.7.1", text);
    } else {
        smtp_session_set_state(s, SMTP_STATE_QUEUEING); /* waiting for DKIM/DMARC, then the queue */
        smtp_auth_data(s, smtp_data_after_auth);
    }
}

/* smtp_data_begin - after 354: read DATA content into the message */
void smtp_data_begin(smtp_session *s)
{
    smtp_data_received(s);
    data_reader_init(&s->reader, &s->msg->data);
    smtp_session_set_state(s, SMTP_STATE_DATA);
}

/* smtp_data_feed - DATA content; returns bytes used */
size_t smtp_data_feed(smtp_session *s, const char *p, size_t n)
{
    data_status st;
    size_t used = data_reader_feed(&s->reader, p, n, &st);
    switch (st) {
    case DATA_MORE:
        break;
    case DATA_DONE:
        smtp_data_finish(s, s->reader.error == DATA_TOO_BIG, s->reader.error == DATA_LINE_TOO_LONG);
        break;
    case DATA_ERR_BARE_LF:
    case DATA_ERR_BARE_CR:
        msglog_event(s->msg->id, "refused", "session=%s reason=bare_%s", s->id,
                     st == DATA_ERR_BARE_LF ? "lf" : "cr");
        smtp_session_close(s, 521, "5.5.2", "Error: bare <%s> received in message data; lines must end "
                           "with <CR><LF> (RFC 5321 2.3.8); message refused",
                           st == DATA_ERR_BARE_LF ? "LF" : "CR");
        break;
    }
    return used;
}

/* smtp_bdat_chunk_done - a whole chunk was read */
static void smtp_bdat_chunk_done(smtp_session *s)
{
    if (s->flags & SMTP_FLAG_DISCARD) {
        smtp_state back = s->bdat_return;
        s->flags &= ~(unsigned)SMTP_FLAG_DISCARD;
        smtp_session_set_state(s, back);
        if (back == SMTP_STATE_MAIL)
            smtp_session_reply(s, 554, "5.5.1", "Error: no valid recipients: every RCPT was refused");
        else
            smtp_session_reply(s, 503, "5.5.1", "Error: %s", back == SMTP_STATE_GREETED ? "send HELO/EHLO first"
                               : "need MAIL and RCPT commands before BDAT");
        smtp_session_error(s);
        return;
    }
    if (!(s->flags & SMTP_FLAG_BDAT_LAST)) {
        smtp_session_set_state(s, SMTP_STATE_RCPT);
        smtp_session_reply(s, 250, "2.0.0", "%llu octets received", s->bdat_size);
        return;
    }
    smtp_data_finish(s, s->too_big, 0);
}

/* smtp_bdat_begin - BDAT SIZE [LAST]: start reading a chunk */
void smtp_bdat_begin(smtp_session *s, unsigned long long size, int last)
{
    s->bdat_size = size;
    s->bdat_left = size;
    if (s->state != SMTP_STATE_RCPT) {
        s->bdat_return = s->state;
        s->flags |= SMTP_FLAG_DISCARD;
    } else {
        if (s->received_len == 0)
            smtp_data_received(s);
        s->flags = last ? (s->flags | SMTP_FLAG_BDAT_LAST) : (s->flags & ~(unsigned)SMTP_FLAG_BDAT_LAST);
    }
    smtp_session_set_state(s, SMTP_STATE_BDAT);
    if (size == 0)
        smtp_bdat_chunk_done(s);
}

/* smtp_bdat_feed - chunk bytes; returns bytes used */
size_t smtp_bdat_feed(smtp_session *s, const char *p, size_t n)
{
    size_t take = n < s->bdat_left ? n : (size_t)s->bdat_left;
    if (!(s->flags & SMTP_FLAG_DISCARD) && !s->too_big && buf_append(&s->msg->data, p, take) != BUF_OK)
        s->too_big = 1;
    s->bdat_left -= take;
    if (s->bdat_left == 0)
        smtp_bdat_chunk_done(s);
    return take;
}
