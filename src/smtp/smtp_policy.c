/*
 * smtp_policy - run envelope-policy stages for an SMTP session (see
 * smtp_policy.h). The per-session state (struct smtp_policy) lives as long
 * as the session; the engine's context points into it and into the
 * session, so it stays valid while a stage waits.
 */
#include "smtp/smtp_policy.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_session.h"
#include "smtp/smtp_submit.h"

#include "config/config.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct smtp_policy {
    policy_ctx ctx;
    policy_run *run;
    policy_result early;     /* a connect or HELO refusal, answered at MAIL */
    policy_stage early_stage;
    char local_ip[64];
    char *rcpt;
    smtp_policy_cont cont;
    smtp_policy_next next;
};

/* smtp_policy_state - the session's policy state, made on first use */
static struct smtp_policy *smtp_policy_state(smtp_session *s)
{
    if (!s->pol) {
        s->pol = xcalloc(1, sizeof *s->pol);
        struct sockaddr_storage ss;
        ev_socklen_t len = sizeof ss;
        int fd = bufferevent_getfd(s->bev);
        if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
            evutil_inet_ntop(ss.ss_family,
                             ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                      : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                             s->pol->local_ip, sizeof s->pol->local_ip);
    }
    return s->pol;
}

/* smtp_policy_fill - refresh the engine's view of the session */
static policy_ctx *smtp_policy_fill(smtp_session *s)
{
    struct smtp_policy *p = smtp_policy_state(s);
    policy_ctx *c = &p->ctx;
    const spf_result *spf = s->msg ? smtp_auth_spf(s) : NULL;
    c->id = s->id;
    c->queue_id = s->msg ? s->msg->id : NULL;
    c->ip = s->ip;
    c->local_ip = p->local_ip[0] ? p->local_ip : NULL;
    c->client_name = s->client_name;
    c->ptr_name = s->ptr_name;
    c->ptr_status = s->ptr_status;
    c->fwd_status = s->fwd_status;
    c->helo = s->helo;
    c->sender = s->msg ? s->msg->sender : NULL;
    c->rcpt = p->rcpt;
    c->nrcpts = s->msg ? (unsigned)s->msg->nrcpts : 0;
    c->spf_mail = spf ? (int)spf->code : -1; /* not computed (skipped or not run) counts as none */
    c->authenticated = s->auth_user != NULL;
    c->trusted = smtp_relay_allowed(s) == 1;
    return c;
}

/* smtp_policy_active - only the port-25 service with an engine is checked */
static int smtp_policy_active(smtp_session *s)
{
    return s->srv->policy && s->service == SMTP_SERVICE_MX;
}

/* smtp_policy_deliver - hand a verdict to the waiting continuation; resume if nobody waits */
static void smtp_policy_deliver(smtp_session *s, const policy_result *res)
{
    struct smtp_policy *p = s->pol;
    smtp_policy_cont cont = p->cont;
    p->cont = NULL;
    s->flags &= ~(unsigned)SMTP_FLAG_WAITING;
    cont(s, res);
    if ((s->flags & SMTP_FLAG_WAITING) || s->state == SMTP_STATE_CLOSING)
        return;
    if (s->state == SMTP_STATE_LOOKUP)
        bufferevent_enable(s->bev, EV_READ); /* greet pause: early talkers are still watched */
    else
        smtp_session_resume(s);
}

/* smtp_policy_on_done - a stage that waited finished */
static void smtp_policy_on_done(void *arg, const policy_result *res)
{
    smtp_session *s = arg;
    s->pol->run = NULL;
    smtp_policy_deliver(s, res);
}

/* smtp_policy_run - run stage, answering cont now or after the wait */
static void smtp_policy_run(smtp_session *s, policy_stage stage, smtp_policy_cont cont)
{
    policy_result res;
    if (!smtp_policy_active(s)) {
        memset(&res, 0, sizeof res);
        cont(s, &res);
        return;
    }
    policy_ctx *c = smtp_policy_fill(s);
    struct smtp_policy *p = s->pol;
    p->run = policy_start(s->srv->policy, stage, c, smtp_policy_on_done, s, &res);
    if (!p->run) {
        cont(s, &res);
        return;
    }
    p->cont = cont;
    s->flags |= SMTP_FLAG_WAITING;
    bufferevent_disable(s->bev, EV_READ);
}

/* smtp_policy_keep - remember a connect/HELO refusal for MAIL; next */
static void smtp_policy_keep(smtp_session *s, policy_stage stage, const policy_result *res)
{
    struct smtp_policy *p = smtp_policy_state(s);
    if ((res->kind == POLICY_DEFER || res->kind == POLICY_REJECT) && p->early.kind < res->kind) {
        p->early = *res;
        p->early_stage = stage;
    }
    smtp_policy_next next = p->next;
    p->next = NULL;
    next(s);
}

/* smtp_policy_connect_done - connect verdict: close on conn_rate, else keep it */
static void smtp_policy_connect_done(smtp_session *s, const policy_result *res)
{
    if (res->close) {
        smtp_session_close(s, res->code, res->enh, "%s %s", s->srv->cfg->hostname, res->text);
        return;
    }
    smtp_policy_keep(s, POLICY_STAGE_CONNECT, res);
}

/* smtp_policy_connect - run the connect stage */
void smtp_policy_connect(smtp_session *s, smtp_policy_next next)
{
    smtp_policy_state(s)->next = next;
    smtp_policy_run(s, POLICY_STAGE_CONNECT, smtp_policy_connect_done);
}

/* smtp_policy_helo_done - keep a HELO refusal */
static void smtp_policy_helo_done(smtp_session *s, const policy_result *res)
{
    struct smtp_policy *p = s->pol;
    if (p && p->early_stage == POLICY_STAGE_HELO) /* a new HELO replaces the verdict on the old one */
        memset(&p->early, 0, sizeof p->early);
    smtp_policy_keep(s, POLICY_STAGE_HELO, res);
}

/* smtp_policy_helo - run the HELO stage */
void smtp_policy_helo(smtp_session *s, smtp_policy_next next)
{
    smtp_policy_state(s)->next = next;
    smtp_policy_run(s, POLICY_STAGE_HELO, smtp_policy_helo_done);
}

/* smtp_policy_mail - kept refusal first (unless this sender is whitelisted), then the MAIL stage */
void smtp_policy_mail(smtp_session *s, smtp_policy_cont cont)
{
    struct smtp_policy *p = s->pol;
    if (p && p->early.kind && smtp_policy_active(s)) {
        /* the whitelist may name the sender, which was not known at connect/HELO */
        if (!policy_skip_reason(s->srv->policy, smtp_policy_fill(s))) {
            cont(s, &p->early);
            return;
        }
    }
    smtp_policy_run(s, POLICY_STAGE_MAIL, cont);
}

/* smtp_policy_rcpt - the RCPT stage for to */
void smtp_policy_rcpt(smtp_session *s, const char *to, smtp_policy_cont cont)
{
    struct smtp_policy *p = smtp_policy_state(s);
    free(p->rcpt);
    p->rcpt = xstrdup(to);
    smtp_policy_run(s, POLICY_STAGE_RCPT, cont);
}

/* smtp_policy_rcpt_to - the recipient of the RCPT stage */
const char *smtp_policy_rcpt_to(smtp_session *s)
{
    return s->pol && s->pol->rcpt ? s->pol->rcpt : "";
}

/* smtp_policy_data - the DATA stage */
void smtp_policy_data(smtp_session *s, smtp_policy_cont cont)
{
    smtp_policy_run(s, POLICY_STAGE_DATA, cont);
}

/* smtp_policy_free - cancel and forget */
void smtp_policy_free(smtp_session *s)
{
    if (!s->pol)
        return;
    policy_cancel(s->pol->run);
    free(s->pol->rcpt);
    free(s->pol);
    s->pol = NULL;
}
