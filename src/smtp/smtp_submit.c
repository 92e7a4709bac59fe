/*
 * smtp_submit - relay decision, submission checks at MAIL and at end of
 * data, send counting, and the database pool of the auth workers (see
 * smtp_submit.h).
 *
 * Replies (RFC 6409, RFC 3463):
 *   530 5.7.0  MAIL on the submission service before AUTH
 *   550 5.7.1  the account's sending is disabled
 *   553 5.7.1  MAIL FROM is not the user's address, alias or identity
 *   550 5.7.1  From: header not the user's (end of data)
 *   451 4.7.1  daily send limit reached, with the time it resets
 *   451 4.3.0  database trouble (never a 5xx)
 *
 * What a user owns: their own address, every alias whose expansion
 * reaches them (postmaster -> alice lets alice send as postmaster), and
 * the extra identities in the `identities` table. The null sender <> is
 * allowed (auto-replies); the From: header check still applies.
 */
#include "smtp/smtp_submit.h"
#include "smtp/smtp_session.h"

#include "config/config.h"
#include "event/workq.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/hdr_addr.h"
#include "queue/queue.h"
#include "store/accounts.h"
#include "store/sending.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUBMIT_WORKERS 2       /* yescrypt is CPU-bound: more threads than cores buy nothing */
#define SUBMIT_FROM_MAX 20     /* From: addresses checked per message */
#define SUBMIT_RATE_WINDOW 86400 /* send_limit_per_day counts over one day */

struct smtp_submit_pool {
    pthread_mutex_t mu;
    smtp_submit_handles sets[SUBMIT_WORKERS];
    smtp_submit_handles *free[SUBMIT_WORKERS];
    size_t nfree;
    sending *snd;              /* loop-thread handles for the checks at MAIL */
    sendrate *rate;
};

/* smtp_submit_pool_get - a handle set for a worker job (never empty: at most one job per worker) */
smtp_submit_handles *smtp_submit_pool_get(smtp_server *srv)
{
    struct smtp_submit_pool *p = srv->pool;
    pthread_mutex_lock(&p->mu);
    smtp_submit_handles *h = p->nfree ? p->free[--p->nfree] : NULL;
    pthread_mutex_unlock(&p->mu);
    return h;
}

/* smtp_submit_pool_put - give a handle set back */
void smtp_submit_pool_put(smtp_server *srv, smtp_submit_handles *h)
{
    struct smtp_submit_pool *p = srv->pool;
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = h;
    pthread_mutex_unlock(&p->mu);
}

/* smtp_submit_pool_open - every handle the pool holds; 0 or -1 with err */
static int smtp_submit_pool_open(smtp_server *srv, char *err, size_t errlen)
{
    struct smtp_submit_pool *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    srv->pool = p;
    const char *db = srv->cfg->db_path;
    if (!(p->snd = sending_open(db, err, errlen)) || !(p->rate = sendrate_open_sqlite(db, err, errlen)))
        return -1;
    for (size_t i = 0; i < SUBMIT_WORKERS; i++) {
        if (!(p->sets[i].accounts = accounts_open(db, err, errlen)) ||
            !(p->sets[i].rate = sendrate_open_sqlite(db, err, errlen)))
            return -1;
        p->free[p->nfree++] = &p->sets[i];
    }
    return 0;
}

/* smtp_submit_server_init - trusted networks always; workers and pool when a submission service is on */
int smtp_submit_server_init(smtp_server *srv, char *err, size_t errlen)
{
    const pochta_config *cfg = srv->cfg;
    srv->trusted = xcalloc(1, sizeof *srv->trusted);
    if (cidr_list_parse(cfg->trusted_networks, srv->trusted, err, errlen) < 0)
        return -1;
    if (!cfg->submission_listen && !cfg->submissions_listen)
        return 0;
    if (smtp_submit_pool_open(srv, err, errlen) < 0)
        return -1;
    srv->auth_wq = workq_new(srv->base, "auth", SUBMIT_WORKERS);
    srv->throttle = smtp_sasl_throttle_new();
    return 0;
}

/* smtp_submit_server_free - workers first (their jobs use the pool), then the handles */
void smtp_submit_server_free(smtp_server *srv)
{
    if (srv->auth_wq)
        workq_free(srv->auth_wq);
    srv->auth_wq = NULL;
    struct smtp_submit_pool *p = srv->pool;
    if (p) {
        for (size_t i = 0; i < SUBMIT_WORKERS; i++) {
            accounts_close(p->sets[i].accounts);
            sendrate_close(p->sets[i].rate);
        }
        sending_close(p->snd);
        sendrate_close(p->rate);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    srv->pool = NULL;
    smtp_sasl_throttle_free(srv->throttle);
    srv->throttle = NULL;
    free(srv->trusted);
    srv->trusted = NULL;
}

/* smtp_relay_allowed - authenticated, trusted network, or the relay hook (POP-before-SMTP) */
int smtp_relay_allowed(smtp_session *s)
{
    smtp_server *srv = s->srv;
    if (s->auth_user)
        return 1;
    if (srv->trusted && cidr_list_match(srv->trusted, s->ip))
        return 1;
    return srv->relay_hook ? srv->relay_hook(srv->relay_hook_arg, s->ip) : 0;
}

/* smtp_submit_owns - does the session's user own addr? ACCT_OK / ACCT_NOTFOUND / ACCT_TEMPFAIL */
static acct_status smtp_submit_owns(smtp_session *s, const char *addr)
{
    const char *user = s->auth_user;
    if (strcasecmp(addr, user) == 0)
        return ACCT_OK;
    char **final = NULL;
    acct_status st = accounts_expand(s->srv->accounts, addr, &final);
    if (st == ACCT_TEMPFAIL)
        return st;
    for (char **p = final; st == ACCT_OK && p && *p; p++)
        if (strcasecmp(*p, user) == 0) {
            accounts_list_free(final);
            return ACCT_OK;
        }
    accounts_list_free(final);
    return sending_identity_allowed(s->srv->pool->snd, user, addr);
}

/* smtp_submit_tempfail - 451 for a database problem */
static int smtp_submit_tempfail(smtp_session *s)
{
    smtp_session_reply(s, 451, "4.3.0", "Temporary lookup failure in our account database; try again later");
    smtp_session_error(s);
    return 0;
}

/* smtp_submit_rate - under the daily limit? 1 = yes, 0 = replied */
static int smtp_submit_rate(smtp_session *s, long user_limit)
{
    unsigned limit = user_limit >= 0 ? (unsigned)user_limit : s->srv->cfg->send_limit_per_day;
    if (limit == 0 && user_limit < 0)
        return 1; /* default 0 = no limit; a per-user 0 blocks (but then sending is better disabled) */
    unsigned count;
    time_t end, now = time(NULL);
    char key[300], when[40];
    snprintf(key, sizeof key, "user:%s", s->auth_user);
    sendrate *r = s->srv->pool->rate;
    if (r->be->count(r->impl, key, now, SUBMIT_RATE_WINDOW, &count, &end) != ACCT_OK)
        return smtp_submit_tempfail(s);
    if (count < limit)
        return 1;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&end, &tm));
    log_info(s->id, "event=send_limit user=%s count=%u limit=%u until=%lld", s->auth_user, count, limit,
             (long long)end);
    smtp_session_reply(s, 451, "4.7.1", "Daily sending limit of %u messages reached for %s; try again after %s",
                       limit, s->auth_user, when);
    smtp_session_error(s);
    return 0;
}

/* smtp_submit_mail - AUTH required on submission; then state, ownership and rate of the user */
int smtp_submit_mail(smtp_session *s, const mail_addr *from)
{
    if (s->service != SMTP_SERVICE_MX && !s->auth_user) {
        smtp_session_reply(s, 530, "5.7.0", "Authentication required: log in with AUTH before MAIL "
                           "(this is the submission service, RFC 6409)");
        smtp_session_error(s);
        return 0;
    }
    if (!s->auth_user)
        return 1;
    int disabled;
    long limit;
    if (sending_get(s->srv->pool->snd, s->auth_user, &disabled, &limit) != ACCT_OK)
        return smtp_submit_tempfail(s);
    if (disabled) {
        log_info(s->id, "event=send_refused user=%s reason=disabled", s->auth_user);
        smtp_session_reply(s, 550, "5.7.1", "message sending for this account is disabled; "
                           "ask the administrator of %s", s->srv->cfg->hostname);
        smtp_session_error(s);
        return 0;
    }
    if (!from->is_null) {
        char addr[MAIL_PATH_MAX * 4];
        mail_addr_format(from, addr, sizeof addr);
        acct_status st = from->is_literal ? ACCT_NOTFOUND : smtp_submit_owns(s, addr);
        if (st == ACCT_TEMPFAIL)
            return smtp_submit_tempfail(s);
        if (st != ACCT_OK) {
            log_info(s->id, "event=send_refused user=%s reason=sender_not_owned from=<%s>", s->auth_user, addr);
            smtp_session_reply(s, 553, "5.7.1", "Sender address rejected: not owned by user %s; send as "
                               "your own address or an alias of yours", s->auth_user);
            smtp_session_error(s);
            return 0;
        }
    }
    return smtp_submit_rate(s, limit);
}

/* smtp_submit_check_from - every From: address must be the user's */
int smtp_submit_check_from(smtp_session *s, char *text, size_t textlen)
{
    static _Thread_local char addrs[SUBMIT_FROM_MAX][MAIL_PATH_MAX];
    if (!s->auth_user)
        return 0;
    const buf *d = &s->msg->data;
    size_t n;
    hdr_from_status hs = hdr_from_addrs(d->data + s->received_len, d->len - s->received_len, addrs,
                                        SUBMIT_FROM_MAX, &n);
    const char *why = hs != HDR_FROM_OK ? hdr_from_error(hs) : NULL;
    for (size_t i = 0; !why && i < n; i++) {
        acct_status st = smtp_submit_owns(s, addrs[i]);
        if (st == ACCT_TEMPFAIL) {
            snprintf(text, textlen, "Temporary lookup failure in our account database; try again later");
            return 451;
        }
        if (st != ACCT_OK)
            why = "it names an address that is not yours";
    }
    if (!why)
        return 0;
    log_info(s->id, "event=send_refused user=%s reason=from_header detail=\"%s\"", s->auth_user, why);
    snprintf(text, textlen, "From: header must match the authenticated user %s: %s", s->auth_user, why);
    return 550;
}

/* One counter update for a worker. */
typedef struct smtp_submit_count {
    smtp_server *srv;
    time_t now;
    char key[300];
} smtp_submit_count;

/* smtp_submit_count_work - worker: add one to the user's counter */
static void smtp_submit_count_work(void *arg)
{
    smtp_submit_count *c = arg;
    smtp_submit_handles *h = smtp_submit_pool_get(c->srv);
    if (!h)
        return;
    if (h->rate->be->add(h->rate->impl, c->key, c->now, SUBMIT_RATE_WINDOW) != ACCT_OK)
        log_warn(NULL, "event=send_count_lost key=%s", c->key);
    smtp_submit_pool_put(c->srv, h);
}

/* smtp_submit_count_done - loop: nothing waits for the count */
static void smtp_submit_count_done(void *arg)
{
    free(arg);
}

/* smtp_submit_sent - count a queued message of the session's user */
void smtp_submit_sent(smtp_session *s)
{
    if (!s->auth_user || !s->srv->auth_wq)
        return;
    smtp_submit_count *c = xcalloc(1, sizeof *c);
    c->srv = s->srv;
    c->now = time(NULL);
    snprintf(c->key, sizeof c->key, "user:%s", s->auth_user);
    workq_submit(s->srv->auth_wq, smtp_submit_count_work, smtp_submit_count_done, c);
}
