/*
 * pop3_session - connection life cycle of one POP3 session: accept, TLS
 * (implicit or STLS), greeting, reading command lines, replies, throttle
 * delays, timeouts and teardown (state machine in pop3_session.h).
 *
 * Input limits: a line is at most POP3_LINE_MAX octets (longer ones are
 * discarded to their end and answered -ERR); at most POP3_INPUT_MAX bytes
 * are buffered unread; POP3_IDLE_TIMEOUT seconds of silence end the
 * session without applying deletions (RFC 1939 3).
 *
 * TLS close: the session's replies drain into the TLS filter at once, so
 * a closing session waits until the raw socket's output is empty too.
 */
#include "pop3/pop3_session.h"

#include "config/config.h"
#include "event/evconn.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POP3_INPUT_MAX (64 * 1024)

static const char *const pop3_state_names[POP3_STATE_COUNT] = {
    "authorization", "sasl", "transaction", "update", "closing",
};

static void pop3_session_process(pop3_session *s);

/* pop3_state_name - for logs */
const char *pop3_state_name(pop3_state st)
{
    return st < POP3_STATE_COUNT ? pop3_state_names[st] : "?";
}

/* pop3_session_set_state - change state; the only writer of s->state */
void pop3_session_set_state(pop3_session *s, pop3_state st)
{
    log_debug(s->id, "event=state from=%s to=%s", pop3_state_name(s->state), pop3_state_name(st));
    s->state = st;
}

/* pop3_session_release - everything but the connection and the struct */
static void pop3_session_release(pop3_session *s)
{
    if (s->mailbox) {
        pop3_server_unlock(s->srv, s->mailbox);
        free(s->mailbox);
        s->mailbox = NULL;
    }
    pop3_maildrop_free(s->drop);
    s->drop = NULL;
    if (s->user) {
        free(s->user);
        s->user = NULL;
    }
    if (s->delay) {
        event_free(s->delay);
        s->delay = NULL;
    }
    free(s->delayed_reply);
    s->delayed_reply = NULL;
}

/* pop3_session_free - end the session (deferred while a worker job holds it) */
void pop3_session_free(pop3_session *s)
{
    if (s->jobs > 0) {
        s->flags |= POP3_FLAG_GONE;
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
        return;
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    log_info(s->id, "event=disconnect client=%s state=%s errors=%u", s->ip, pop3_state_name(s->state), s->errors);
    pop3_session_release(s);
    s->srv->sessions--;
    evconn_flush_cancel(s->bev, &s->flush);
    bufferevent_free(s->bev);
    free(s);
}

/* pop3_session_job_done - a worker job ended */
int pop3_session_job_done(pop3_session *s)
{
    s->jobs--;
    if (!(s->flags & POP3_FLAG_GONE))
        return 0;
    if (s->jobs == 0)
        pop3_session_free(s);
    return 1;
}

/* pop3_session_vreply - format one reply line into the output buffer */
static void pop3_session_vreply(pop3_session *s, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void pop3_session_vreply(pop3_session *s, const char *fmt, va_list ap)
{
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n", text);
    if (text[0] == '-')
        log_info(s->id, "event=reply state=%s text=\"%.80s\"", pop3_state_name(s->state), text);
}

/* pop3_session_reply - send one reply line */
void pop3_session_reply(pop3_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pop3_session_vreply(s, fmt, ap);
    va_end(ap);
}

/* pop3_session_free_cb - pop3_session_free for a void * callback */
static void pop3_session_free_cb(void *arg)
{
    pop3_session_free(arg);
}

/* pop3_session_free_when_flushed - free now if every reply reached the socket, else once it has */
static void pop3_session_free_when_flushed(pop3_session *s)
{
    if (evconn_flushed(s->bev, &s->flush))
        pop3_session_free(s);
}

/* pop3_session_close - final reply; the session ends once it is flushed */
void pop3_session_close(pop3_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pop3_session_vreply(s, fmt, ap);
    va_end(ap);
    pop3_session_set_state(s, POP3_STATE_CLOSING);
    bufferevent_disable(s->bev, EV_READ);
    pop3_session_free_when_flushed(s);
}

/* pop3_session_error - an -ERR reply that counts towards POP3_MAX_ERRORS */
int pop3_session_error(pop3_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pop3_session_vreply(s, fmt, ap);
    va_end(ap);
    if (++s->errors < POP3_MAX_ERRORS)
        return 0;
    pop3_session_close(s, "-ERR Too many errors (%u); closing connection", s->errors);
    return 1;
}

/* pop3_session_wait - stop reading input until pop3_session_resume */
void pop3_session_wait(pop3_session *s)
{
    s->flags |= POP3_FLAG_WAITING;
    bufferevent_disable(s->bev, EV_READ);
}

/* pop3_session_resume - continue with buffered input after an async step */
void pop3_session_resume(pop3_session *s)
{
    s->flags &= ~(unsigned)POP3_FLAG_WAITING;
    if (s->state == POP3_STATE_CLOSING)
        return;
    bufferevent_enable(s->bev, EV_READ);
    pop3_session_process(s);
}

/* pop3_session_on_delay - a throttled reply is due */
static void pop3_session_on_delay(evutil_socket_t fd, short what, void *arg)
{
    pop3_session *s = arg;
    char *text = s->delayed_reply;
    s->delayed_reply = NULL;
    if (s->delayed_close) {
        pop3_session_close(s, "%s", text);
    } else {
        pop3_session_reply(s, "%s", text);
        pop3_session_resume(s);
    }
    free(text);
}

/* pop3_session_delay_reply - answer a failed login only after secs seconds */
void pop3_session_delay_reply(pop3_session *s, unsigned secs, int close_after, const char *text)
{
    free(s->delayed_reply);
    s->delayed_reply = xstrdup(text);
    s->delayed_close = close_after;
    if (!s->delay)
        s->delay = evtimer_new(s->srv->base, pop3_session_on_delay, s);
    struct timeval tv = {secs, 0};
    pop3_session_wait(s);
    evtimer_add(s->delay, &tv);
}

/* pop3_session_login_allowed - clear-text credentials only over TLS unless configured */
int pop3_session_login_allowed(const pop3_session *s)
{
    const char *v = s->srv->cfg->pop3_cleartext_login;
    return (s->flags & POP3_FLAG_TLS) || (v && strcmp(v, "allow") == 0);
}

/* pop3_session_on_write - output drained: finish a close */
static void pop3_session_on_write(struct bufferevent *bev, void *arg)
{
    pop3_session *s = arg;
    if (s->state == POP3_STATE_CLOSING)
        pop3_session_free_when_flushed(s);
}

/* pop3_session_on_event - EOF, error or timeout */
static void pop3_session_on_event(struct bufferevent *bev, short what, void *arg)
{
    pop3_session *s = arg;
    if (s->flags & POP3_FLAG_GONE)
        return;
    if ((what & BEV_EVENT_TIMEOUT) && s->state != POP3_STATE_CLOSING) {
        log_info(s->id, "event=timeout state=%s", pop3_state_name(s->state));
        bufferevent_enable(s->bev, EV_WRITE);
        pop3_session_close(s, "-ERR Autologout: idle for %d seconds; no messages were deleted",
                           POP3_IDLE_TIMEOUT);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->state == POP3_STATE_TRANSACTION)
            log_info(s->id, "event=lost_connection state=%s deleted=none", pop3_state_name(s->state));
        pop3_session_free(s);
    }
}

/* pop3_session_on_read - new input */
static void pop3_session_on_read(struct bufferevent *bev, void *arg)
{
    pop3_session_process(arg);
}

/* pop3_session_process - work through buffered lines in order until we must wait */
static void pop3_session_process(pop3_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    char line[POP3_LINE_MAX];
    while (s->state != POP3_STATE_CLOSING && !(s->flags & (POP3_FLAG_WAITING | POP3_FLAG_GONE))) {
        size_t len;
        if (!evconn_read_line(in, line, POP3_LINE_MAX, &s->skipping_line, &len))
            break;
        if (len == SIZE_MAX) {
            if (s->state == POP3_STATE_SASL)
                pop3_session_set_state(s, POP3_STATE_AUTHORIZATION);
            pop3_session_error(s, "-ERR Line too long (the limit is %d octets, RFC 2449 4)", POP3_LINE_MAX);
            continue;
        }
        if (memchr(line, '\0', len)) {
            pop3_session_error(s, "-ERR NUL byte in command line");
            continue;
        }
        if (s->state == POP3_STATE_SASL)
            pop3_commands_sasl(s, line, len);
        else
            pop3_commands_dispatch(s, line, len);
    }
    explicit_bzero(line, sizeof line); /* may have held a password */
}

/* pop3_session_start_tls - put a TLS filter over the connection */
int pop3_session_start_tls(pop3_session *s)
{
    struct bufferevent *tls = evconn_tls_accept(s->srv->base, s->bev, s->srv->tls, POP3_IDLE_TIMEOUT, POP3_INPUT_MAX);
    if (!tls) {
        log_error(s->id, "event=tls_error error=\"cannot start TLS\"");
        return -1;
    }
    s->bev = tls;
    s->flags |= POP3_FLAG_TLS;
    return 0;
}

/* pop3_session_accept - a new connection: greet (over TLS at once for 995-style) */
void pop3_session_accept(pop3_server *srv, int fd, const char *ip, int implicit_tls)
{
    pop3_session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    snprintf(s->id, sizeof s->id, "P%06lX", ++srv->next_session & 0xffffff);
    snprintf(s->ip, sizeof s->ip, "%s", ip);
    s->state = POP3_STATE_AUTHORIZATION;
    srv->sessions++;
    s->next = srv->all;
    if (srv->all)
        srv->all->prev = s;
    srv->all = s;
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->flush.done = pop3_session_free_cb;
    s->flush.arg = s;
    bufferevent_setcb(s->bev, pop3_session_on_read, pop3_session_on_write, pop3_session_on_event, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, POP3_INPUT_MAX);
    struct timeval idle = {POP3_IDLE_TIMEOUT, 0};
    bufferevent_set_timeouts(s->bev, &idle, &idle);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    log_info(s->id, "event=connect client=%s service=%s", ip, implicit_tls ? "pop3s" : "pop3");
    if (implicit_tls && pop3_session_start_tls(s) < 0) {
        pop3_session_free(s);
        return;
    }
    if (srv->sessions > srv->cfg->max_connections) {
        pop3_session_close(s, "-ERR [SYS/TEMP] Too many connections (the limit is %u); try again later",
                           srv->cfg->max_connections);
        return;
    }
    unsigned same = 0; /* a linear count: POP3 sessions are few and short */
    for (pop3_session *o = srv->all; o; o = o->next)
        same += strcmp(o->ip, ip) == 0 && !(o->flags & POP3_FLAG_GONE);
    if (same > srv->cfg->max_conn_per_ip) {
        log_warn(s->id, "event=refused client=%s reason=too_many_connections_from_ip limit=%u", ip,
                 srv->cfg->max_conn_per_ip);
        pop3_session_close(s, "-ERR [SYS/TEMP] Too many connections from %s (the limit is %u); close some "
                           "and try again", ip, srv->cfg->max_conn_per_ip);
        return;
    }
    pop3_session_reply(s, "+OK %s POP3 pochta ready", srv->cfg->hostname);
}
