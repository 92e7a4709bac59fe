/*
 * pop3_server - POP3 listeners, mailbox locks, failed-login throttling and
 * the POP-before-SMTP relay hook (API in pop3_server.h).
 *
 * Throttling (per client address, like SMTP AUTH): every failed login is
 * answered only after a delay that grows with the session's failures; an
 * address with POP3_FAIL_MAX failures within POP3_FAIL_WINDOW seconds is
 * refused further logins until the window passes. At most POP3_FAIL_IPS
 * addresses are remembered (the oldest entry is dropped).
 */
#include "pop3/pop3_server.h"

#include "config/config.h"
#include "event/workq.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "pop3/pop3_session.h"
#include "store/accounts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define POP3_FAIL_IPS 4096      /* addresses remembered */
#define POP3_WORKERS 2          /* yescrypt and Maildir work threads */

/* pop3_server_on_accept - a new connection on either listener */
static void pop3_server_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                                  void *arg)
{
    pop3_server *srv = arg;
    char ip[64] = "unknown";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    evutil_make_socket_nonblocking(fd);
    pop3_session_accept(srv, fd, ip, l == srv->implicit);
}

/* pop3_server_listen - bind one listener on spec ("ADDR:PORT", "[V6]:PORT", "*:PORT"); NULL with err */
static struct evconnlistener *pop3_server_listen(pop3_server *srv, const char *spec, const char *name, char *err,
                                                 size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char tmp[128];
    if (strncmp(spec, "*:", 2) == 0) {
        snprintf(tmp, sizeof tmp, "0.0.0.0%s", spec + 1);
        spec = tmp;
    }
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0) {
        snprintf(err, errlen, "cannot parse listen address '%s'", spec);
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        srv->base, pop3_server_on_accept, srv, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        128, (struct sockaddr *)&ss, sslen);
    if (!l)
        snprintf(err, errlen, "cannot listen on %s for %s: %s", spec, name, strerror(errno));
    else
        log_info(NULL, "event=listen service=%s address=%s", name, spec);
    return l;
}

/* pop3_server_start - the POP3 service */
pop3_server *pop3_server_start(struct event_base *base, const pochta_config *cfg, SSL_CTX *tls, char *err,
                               size_t errlen)
{
    if (cfg->pop3s_listen && !tls) {
        snprintf(err, errlen, "pop3s_listen = %s needs tls_cert and tls_key (implicit TLS)", cfg->pop3s_listen);
        return NULL;
    }
    pop3_server *srv = xcalloc(1, sizeof *srv);
    srv->base = base;
    srv->cfg = cfg;
    srv->tls = tls;
    srv->wq = workq_new(base, "pop3", POP3_WORKERS);
    if ((cfg->pop3_listen && !(srv->plain = pop3_server_listen(srv, cfg->pop3_listen, "pop3", err, errlen))) ||
        (cfg->pop3s_listen && !(srv->implicit = pop3_server_listen(srv, cfg->pop3s_listen, "pop3s", err, errlen)))) {
        pop3_server_stop(srv);
        return NULL;
    }
    return srv;
}

/* pop3_server_stop - end the service: listeners, sessions, workers, tables */
void pop3_server_stop(pop3_server *srv)
{
    if (!srv)
        return;
    if (srv->plain)
        evconnlistener_free(srv->plain);
    if (srv->implicit)
        evconnlistener_free(srv->implicit);
    /* Sessions with a job running are only marked gone; the job's
     * completion (run by workq_free) frees them. */
    for (pop3_session *s = srv->all, *next; s; s = next) {
        next = s->next;
        pop3_session_free(s);
    }
    workq_free(srv->wq);
    while (srv->locks) {
        pop3_lock *l = srv->locks;
        srv->locks = l->next;
        free(l->address);
        free(l);
    }
    while (srv->fails) {
        pop3_fail *f = srv->fails;
        srv->fails = f->next;
        free(f);
    }
    free(srv);
}

/* pop3_server_lock - one session per mailbox */
int pop3_server_lock(pop3_server *srv, const char *address)
{
    for (pop3_lock *l = srv->locks; l; l = l->next)
        if (strcmp(l->address, address) == 0)
            return -1;
    pop3_lock *l = xcalloc(1, sizeof *l);
    l->address = xstrdup(address);
    l->next = srv->locks;
    srv->locks = l;
    return 0;
}

/* pop3_server_unlock - the session holding address ended */
void pop3_server_unlock(pop3_server *srv, const char *address)
{
    for (pop3_lock **p = &srv->locks; *p; p = &(*p)->next)
        if (strcmp((*p)->address, address) == 0) {
            pop3_lock *l = *p;
            *p = l->next;
            free(l->address);
            free(l);
            return;
        }
}

/* pop3_server_find_fail - the entry of ip with a current window, dropping expired ones on the way */
static pop3_fail *pop3_server_find_fail(pop3_server *srv, const char *ip)
{
    time_t now = time(NULL);
    for (pop3_fail **p = &srv->fails; *p;) {
        pop3_fail *f = *p;
        if (now - f->last > POP3_FAIL_WINDOW) {
            *p = f->next;
            free(f);
            srv->nfails--;
            continue;
        }
        if (strcmp(f->ip, ip) == 0)
            return f;
        p = &f->next;
    }
    return NULL;
}

/* pop3_server_failures - failed logins from ip in the current window */
unsigned pop3_server_failures(pop3_server *srv, const char *ip)
{
    pop3_fail *f = pop3_server_find_fail(srv, ip);
    return f ? f->count : 0;
}

/* pop3_server_fail - count one failed login from ip */
unsigned pop3_server_fail(pop3_server *srv, const char *ip)
{
    pop3_fail *f = pop3_server_find_fail(srv, ip);
    if (!f) {
        if (srv->nfails >= POP3_FAIL_IPS) { /* drop the oldest (the list's tail) */
            pop3_fail **p = &srv->fails;
            while ((*p)->next)
                p = &(*p)->next;
            free(*p);
            *p = NULL;
            srv->nfails--;
        }
        f = xcalloc(1, sizeof *f);
        snprintf(f->ip, sizeof f->ip, "%s", ip);
        f->next = srv->fails;
        srv->fails = f;
        srv->nfails++;
    }
    f->count++;
    f->last = time(NULL);
    if (f->count == POP3_FAIL_MAX)
        log_warn(NULL, "event=login_throttled service=pop3 client=%s failures=%u window=%ds", ip, f->count,
                 POP3_FAIL_WINDOW);
    return f->count;
}

/* pop3_relay_hook - POP-before-SMTP: may ip relay (a recent POP3 login)? */
int pop3_relay_hook(void *arg, const char *ip)
{
    acct_status st = accounts_relay_allowed(arg, ip);
    return st == ACCT_OK ? 1 : st == ACCT_TEMPFAIL ? -1 : 0;
}
