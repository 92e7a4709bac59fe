/*
 * smtp_session - connection life cycle of one SMTP session: accept, client
 * name lookup, banner, reading command lines and message data, replies,
 * timeouts and teardown (see smtp_session.h for the state machine).
 *
 * Input limits (each with its own reply, RFC 5321 4.5.3.1):
 *   - a command line is at most SMTP_CMD_LINE_MAX (512) octets with CRLF;
 *     longer lines are discarded up to their end and answered 500 5.5.2;
 *   - at most SMTP_INPUT_MAX bytes are buffered unread (pipelining), so a
 *     client cannot make us hold more than that;
 *   - a client that talks before the banner is an early talker: 554, close;
 *   - cfg->idle_timeout seconds of silence: 421 4.4.2, close;
 *   - cfg->max_errors error replies: 421 4.7.0, close.
 */
#include "smtp/smtp_session.h"

#include "config/config.h"
#include "dns/dns.h"
#include "event/evconn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/smtp_cmd.h"
#include "queue/queue.h"
#include "smtp/smtp_submit.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_policy.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How much unprocessed input one session may buffer (pipelined commands or
 * message data not consumed yet); reading pauses above it. */
#define SMTP_INPUT_MAX (256 * 1024)
/* Message data is handed to the DATA reader in pieces of at most this. */
#define SMTP_DATA_CHUNK (64 * 1024)

static const char *const smtp_state_names[SMTP_STATE_COUNT] = {
    "lookup", "greeted", "helo", "mail", "rcpt", "data", "bdat", "queueing", "auth", "closing",
};

static void smtp_session_process(smtp_session *s);
static void smtp_session_lookup_client(smtp_session *s);

/* smtp_state_name - for logs */
const char *smtp_state_name(smtp_state st)
{
    return st < SMTP_STATE_COUNT ? smtp_state_names[st] : "?";
}

/* smtp_session_set_state - change state; the only writer of s->state */
void smtp_session_set_state(smtp_session *s, smtp_state st)
{
    log_debug(s->id, "event=state from=%s to=%s", smtp_state_name(s->state), smtp_state_name(st));
    s->state = st;
}

/* smtp_session_free - release everything; the connection is closed */
void smtp_session_free(smtp_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    log_info(s->id, "event=disconnect client=%s[%s] transactions=%lu errors=%u", s->client_name,
             s->ip, s->transactions, s->errors);
    if (s->dns_q)
        dns_cancel(s->srv->dns, s->dns_q);
    if (s->timer)
        event_free(s->timer);
    smtp_data_abandon(s);
    smtp_auth_free(s);
    smtp_policy_free(s);
    smtp_sasl_abandon(s);
    smtp_server_ip_release(s->srv, s->ip);
    s->srv->sessions--;
    evconn_flush_cancel(s->bev, &s->flush);
    bufferevent_free(s->bev);
    free(s->client_name);
    free(s->helo);
    free(s->ptr_name);
    free(s->auth_user);
    free(s);
}

/* smtp_session_vreply - format one (possibly multi-line) reply into the output buffer */
static void smtp_session_vreply(smtp_session *s, int code, const char *enh, const char *fmt, va_list ap)
{
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    struct evbuffer *out = bufferevent_get_output(s->bev);
    const char *line = text;
    for (;;) {
        const char *nl = strchr(line, '\n');
        int last = nl == NULL;
        int len = last ? (int)strlen(line) : (int)(nl - line);
        if (enh && *enh)
            evbuffer_add_printf(out, "%d%c%s %.*s\r\n", code, last ? ' ' : '-', enh, len, line);
        else
            evbuffer_add_printf(out, "%d%c%.*s\r\n", code, last ? ' ' : '-', len, line);
        if (last)
            break;
        line = nl + 1;
    }
    if (code >= 400) {
        log_info(s->id, "event=reply code=%d enh=%s state=%s", code, enh ? enh : "-",
                 smtp_state_name(s->state));
        s->last_code = code;
        snprintf(s->last_enh, sizeof s->last_enh, "%s", enh ? enh : "");
        snprintf(s->last_text, sizeof s->last_text, "%.511s", text);
    }
}

/* smtp_session_reply - send a reply */
void smtp_session_reply(smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    smtp_session_vreply(s, code, enh, fmt, ap);
    va_end(ap);
}

/* smtp_session_free_cb - smtp_session_free for a void * callback */
static void smtp_session_free_cb(void *arg)
{
    smtp_session_free(arg);
}

/* smtp_session_free_when_flushed - free now if every reply reached the socket, else once it has */
static void smtp_session_free_when_flushed(smtp_session *s)
{
    if (evconn_flushed(s->bev, &s->flush))
        smtp_session_free(s);
}

/* smtp_session_close - final reply; the session ends once it is flushed */
void smtp_session_close(smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    smtp_session_vreply(s, code, enh, fmt, ap);
    va_end(ap);
    smtp_session_set_state(s, SMTP_STATE_CLOSING);
    bufferevent_disable(s->bev, EV_READ);
    smtp_session_free_when_flushed(s);
}

/* smtp_session_error - count an error reply; too many close the session */
int smtp_session_error(smtp_session *s)
{
    if (++s->errors < s->srv->cfg->max_errors)
        return 0;
    smtp_session_close(s, 421, "4.7.0", "%s Error: too many errors (%u); closing connection",
                       s->srv->cfg->hostname, s->errors);
    return 1;
}

/* smtp_session_reset - forget the current transaction */
void smtp_session_reset(smtp_session *s)
{
    smtp_data_abandon(s);
    if (s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT)
        smtp_session_set_state(s, SMTP_STATE_HELO);
}

/* smtp_session_on_write - output drained: finish a close */
static void smtp_session_on_write(struct bufferevent *bev, void *arg)
{
    smtp_session *s = arg;
    if (s->state == SMTP_STATE_CLOSING)
        smtp_session_free_when_flushed(s);
}

/* smtp_session_on_event - EOF, error or timeout on the connection */
static void smtp_session_on_event(struct bufferevent *bev, short what, void *arg)
{
    smtp_session *s = arg;
    if ((what & BEV_EVENT_TIMEOUT) && s->state != SMTP_STATE_CLOSING) {
        log_info(s->id, "event=timeout state=%s", smtp_state_name(s->state));
        bufferevent_enable(s->bev, EV_WRITE);
        smtp_session_close(s, 421, "4.4.2", "%s Error: timeout exceeded; closing connection",
                           s->srv->cfg->hostname);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->state != SMTP_STATE_CLOSING && s->state != SMTP_STATE_HELO &&
            s->state != SMTP_STATE_GREETED)
            log_info(s->id, "event=lost_connection state=%s", smtp_state_name(s->state));
        smtp_session_free(s);
    }
}

/* smtp_session_on_read - new input */
static void smtp_session_on_read(struct bufferevent *bev, void *arg)
{
    smtp_session_process(arg);
}

/* smtp_session_command - one command line (or an overlong one) */
static void smtp_session_command(smtp_session *s, char *line, size_t len)
{
    if (len == SIZE_MAX) {
        smtp_session_reply(s, 500, "5.5.2", "Error: command line too long (the limit is %d octets, "
                           "RFC 5321 4.5.3.1.4)", SMTP_CMD_LINE_MAX);
        smtp_session_error(s);
        return;
    }
    if (memchr(line, '\0', len)) {
        smtp_session_reply(s, 500, "5.5.2", "Error: NUL byte in command line");
        smtp_session_error(s);
        return;
    }
    if (s->state == SMTP_STATE_AUTH) {
        smtp_sasl_input(s, line, len); /* a SASL response, not a command (RFC 4954 4) */
        return;
    }
    smtp_commands_dispatch(s, line, len);
}

/* smtp_session_feed_data - hand buffered message data to DATA/BDAT; 0 if nothing was used */
static size_t smtp_session_feed_data(smtp_session *s, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);
    if (n > SMTP_DATA_CHUNK)
        n = SMTP_DATA_CHUNK;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    size_t used = s->state == SMTP_STATE_DATA ? smtp_data_feed(s, p, n) : smtp_bdat_feed(s, p, n);
    if (s->state != SMTP_STATE_CLOSING)
        evbuffer_drain(in, used);
    return used;
}

/* smtp_session_process - work through buffered input in order until we must wait */
static void smtp_session_process(smtp_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    char line[SMTP_CMD_LINE_MAX];
    while (s->state != SMTP_STATE_CLOSING && !(s->flags & SMTP_FLAG_WAITING)) {
        if (evbuffer_get_length(in) == 0)
            break;
        if (s->state == SMTP_STATE_LOOKUP) {
            log_info(s->id, "event=early_talker client=%s", s->ip);
            smtp_session_close(s, 554, "5.5.1", "%s Error: you sent data before our greeting; "
                               "wait for the 220 banner before sending commands", s->srv->cfg->hostname);
            return;
        }
        if (s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT) {
            smtp_state before = s->state;
            if (smtp_session_feed_data(s, in) == 0 && s->state == before)
                break;
            continue;
        }
        size_t len;
        if (!evconn_read_line(in, line, SMTP_CMD_LINE_MAX, &s->skipping_line, &len))
            break;
        smtp_session_command(s, line, len);
    }
}

/* smtp_session_resume - continue after an async step */
void smtp_session_resume(smtp_session *s)
{
    s->flags &= ~(unsigned)SMTP_FLAG_WAITING;
    if (s->state != SMTP_STATE_CLOSING)
        bufferevent_enable(s->bev, EV_READ);
    smtp_session_process(s);
}

/* smtp_session_greet - send the banner unless the client already talked */
static void smtp_session_greet(smtp_session *s)
{
    if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
        smtp_session_process(s); /* still in LOOKUP: answers as an early talker */
        return;
    }
    smtp_session_set_state(s, SMTP_STATE_GREETED);
    smtp_session_reply(s, 220, NULL, "%s ESMTP pochta", s->srv->cfg->hostname);
}

/* smtp_session_on_greet_pause - the early-talker window is over */
static void smtp_session_on_greet_pause(evutil_socket_t fd, short what, void *arg)
{
    smtp_session_greet(arg);
}

/* smtp_session_checked - the connect policy let the client in: greet, maybe after a pause */
static void smtp_session_checked(smtp_session *s)
{
    unsigned pause = s->srv->cfg->greet_pause_ms;
    if (pause == 0) {
        smtp_session_greet(s);
        return;
    }
    struct timeval tv = {pause / 1000, (pause % 1000) * 1000};
    s->timer = evtimer_new(s->srv->base, smtp_session_on_greet_pause, s);
    evtimer_add(s->timer, &tv);
}

/* smtp_session_lookup_done - the client name is known: connect policy (smtp_policy.c), then greet */
static void smtp_session_lookup_done(smtp_session *s)
{
    log_info(s->id, "event=connect client=%s[%s]", s->client_name, s->ip);
    smtp_policy_connect(s, smtp_session_checked);
}

/* smtp_session_on_forward - forward lookup of the PTR name: confirmed if it lists the client */
static void smtp_session_on_forward(void *arg, const dns_answer *a)
{
    smtp_session *s = arg;
    s->dns_q = NULL;
    s->fwd_status = a->status;
    int confirmed = 0;
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        confirmed |= strcmp(a->rr[i].text, s->ip) == 0;
    if (!confirmed) {
        free(s->client_name);
        s->client_name = xstrdup("unknown");
    }
    smtp_session_lookup_done(s);
}

/* smtp_session_on_ptr - reverse lookup answered: verify the first name forward */
static void smtp_session_on_ptr(void *arg, const dns_answer *a)
{
    smtp_session *s = arg;
    s->dns_q = NULL;
    s->ptr_status = a->status == DNS_OK && (a->count == 0 || a->rr[0].text[0] == '\0') ? DNS_NODATA : a->status;
    if (a->status != DNS_OK || a->count == 0 || a->rr[0].text[0] == '\0') {
        smtp_session_lookup_done(s);
        return;
    }
    free(s->client_name);
    s->client_name = xstrdup(a->rr[0].text);
    s->ptr_name = xstrdup(a->rr[0].text);
    uint16_t type = strchr(s->ip, ':') ? DNS_T_AAAA : DNS_T_A;
    s->dns_q = dns_lookup(s->srv->dns, s->client_name, type, smtp_session_on_forward, s);
}

/* smtp_session_lookup_client - start the forward-confirmed reverse lookup of the client */
static void smtp_session_lookup_client(smtp_session *s)
{
    char rev[128];
    if (dns_reverse_name(s->ip, rev, sizeof rev) < 0) {
        smtp_session_lookup_done(s);
        return;
    }
    s->dns_q = dns_lookup(s->srv->dns, rev, DNS_T_PTR, smtp_session_on_ptr, s);
}

/* smtp_session_accept - a new connection */
void smtp_session_accept(smtp_server *srv, int fd, const char *ip, smtp_service service)
{
    smtp_session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    snprintf(s->id, sizeof s->id, "S%06lX", ++srv->next_session & 0xffffff);
    snprintf(s->ip, sizeof s->ip, "%s", ip);
    s->client_name = xstrdup("unknown");
    s->ptr_status = DNS_NXDOMAIN; /* until the PTR lookup says otherwise */
    s->state = SMTP_STATE_LOOKUP;
    s->service = service;
    srv->sessions++;
    s->next = srv->all;
    if (srv->all)
        srv->all->prev = s;
    srv->all = s;
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->flush.done = smtp_session_free_cb;
    s->flush.arg = s;
    bufferevent_setcb(s->bev, smtp_session_on_read, smtp_session_on_write, smtp_session_on_event, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
    struct timeval idle = {srv->cfg->idle_timeout, 0};
    bufferevent_set_timeouts(s->bev, &idle, &idle);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    if (service == SMTP_SERVICE_SUBMISSIONS) {
        /* RFC 8314 3.3: TLS from the first byte; the banner goes out once the handshake is done. */
        if (smtp_tls_start(s) < 0) {
            smtp_session_free(s);
            return;
        }
        s->flags |= SMTP_FLAG_TLS;
    }
    smtp_session_lookup_client(s);
}
