/*
 * smtp_server - listening socket, connection limits and per-IP counts
 * (see smtp_server.h).
 *
 * The per-IP table is a small chained hash keyed by the address string; it
 * only holds addresses with open sessions, so it stays as small as the
 * number of distinct clients connected right now.
 */
#include "smtp/smtp_server.h"
#include "smtp/smtp_session.h"
#include "smtp/smtp_submit.h"

#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SMTP_IP_BUCKETS 1024

struct smtp_ip_count {
    struct smtp_ip_count *next;
    unsigned count;
    char ip[64];
};

/* smtp_ip_hash - FNV-1a of the address string */
static unsigned smtp_ip_hash(const char *ip)
{
    unsigned h = 2166136261u;
    for (; *ip; ip++)
        h = (h ^ (unsigned char)*ip) * 16777619u;
    return h % SMTP_IP_BUCKETS;
}

/* smtp_server_ip_acquire - count one more session for ip unless over the limit */
int smtp_server_ip_acquire(smtp_server *srv, const char *ip)
{
    smtp_ip_count **bucket = (smtp_ip_count **)srv->ip_counts + smtp_ip_hash(ip);
    smtp_ip_count *e = *bucket;
    while (e && strcmp(e->ip, ip) != 0)
        e = e->next;
    if (e && e->count >= srv->cfg->max_conn_per_ip)
        return -1;
    if (!e) {
        e = xcalloc(1, sizeof *e);
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        e->next = *bucket;
        *bucket = e;
    }
    e->count++;
    return 0;
}

/* smtp_server_ip_release - a session of ip ended */
void smtp_server_ip_release(smtp_server *srv, const char *ip)
{
    smtp_ip_count **link = (smtp_ip_count **)srv->ip_counts + smtp_ip_hash(ip);
    while (*link && strcmp((*link)->ip, ip) != 0)
        link = &(*link)->next;
    smtp_ip_count *e = *link;
    if (e && --e->count == 0) {
        *link = e->next;
        free(e);
    }
}

/* smtp_server_refuse - answer 421 on a connection we will not serve, and close it */
static void smtp_server_refuse(int fd, const char *text)
{
    /* Best effort, non-blocking: a client that does not read loses the text. */
    ssize_t n = send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
    close(fd);
}

/* smtp_server_on_accept - new connection: enforce limits, then start a session */
static void smtp_server_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                                  int salen, void *arg)
{
    smtp_listener *lis = arg;
    smtp_server *srv = lis->srv;
    char ip[64] = "unknown", text[256];
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    evutil_make_socket_nonblocking(fd);
    if (srv->sessions >= srv->cfg->max_connections) {
        log_warn(NULL, "event=refused client=%s reason=server_full sessions=%u", ip, srv->sessions);
        snprintf(text, sizeof text, "421 4.3.2 %s Too many connections to this server; try again later\r\n",
                 srv->cfg->hostname);
        smtp_server_refuse(fd, text);
        return;
    }
    if (smtp_server_ip_acquire(srv, ip) < 0) {
        log_warn(NULL, "event=refused client=%s reason=too_many_connections_from_ip limit=%u", ip,
                 srv->cfg->max_conn_per_ip);
        snprintf(text, sizeof text, "421 4.7.0 %s Too many connections from %s; try again later\r\n",
                 srv->cfg->hostname, ip);
        smtp_server_refuse(fd, text);
        return;
    }
    smtp_session_accept(srv, fd, ip, lis->service);
}

/* smtp_server_parse_listen - "ADDR:PORT", "[V6]:PORT" or "*:PORT" into a sockaddr */
static int smtp_server_parse_listen(const char *spec, struct sockaddr_storage *ss, int *sslen)
{
    char tmp[128];
    if (strncmp(spec, "*:", 2) == 0) {
        snprintf(tmp, sizeof tmp, "0.0.0.0%s", spec + 1);
        spec = tmp;
    }
    *sslen = (int)sizeof *ss;
    return evutil_parse_sockaddr_port(spec, (struct sockaddr *)ss, sslen);
}

/* smtp_server_listen - bind one service's listener on spec; 0 or -1 with err */
static int smtp_server_listen(smtp_server *srv, smtp_service service, const char *spec, char *err,
                              size_t errlen)
{
    static const char *const names[SMTP_SERVICE_COUNT] = {"smtp", "submission", "submissions"};
    struct sockaddr_storage ss;
    int sslen;
    smtp_listener *lis = &srv->listeners[service];
    if (smtp_server_parse_listen(spec, &ss, &sslen) < 0) {
        snprintf(err, errlen, "cannot parse listen address '%s'", spec);
        return -1;
    }
    lis->srv = srv;
    lis->service = service;
    lis->lev = evconnlistener_new_bind(srv->base, smtp_server_on_accept, lis,
                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                       1024, (struct sockaddr *)&ss, sslen);
    if (!lis->lev) {
        snprintf(err, errlen, "cannot listen on %s for %s: %s", spec, names[service], strerror(errno));
        return -1;
    }
    log_info(NULL, "event=listen service=%s address=%s", names[service], spec);
    return 0;
}

/* smtp_server_start - bind and listen for every configured service */
int smtp_server_start(smtp_server *srv, char *err, size_t errlen)
{
    const pochta_config *cfg = srv->cfg;
    srv->ip_counts = xcalloc(SMTP_IP_BUCKETS, sizeof(smtp_ip_count *));
    if (smtp_submit_server_init(srv, err, errlen) < 0)
        return -1;
    if (cfg->submissions_listen && !srv->tls) {
        snprintf(err, errlen, "submissions_listen = %s needs tls_cert and tls_key (implicit TLS)",
                 cfg->submissions_listen);
        return -1;
    }
    if (cfg->smtp_listen && smtp_server_listen(srv, SMTP_SERVICE_MX, cfg->smtp_listen, err, errlen) < 0)
        return -1;
    if (cfg->submission_listen &&
        smtp_server_listen(srv, SMTP_SERVICE_SUBMISSION, cfg->submission_listen, err, errlen) < 0)
        return -1;
    if (cfg->submissions_listen &&
        smtp_server_listen(srv, SMTP_SERVICE_SUBMISSIONS, cfg->submissions_listen, err, errlen) < 0)
        return -1;
    return 0;
}

/* smtp_server_stop - stop accepting and end every session; safe to call twice */
void smtp_server_stop(smtp_server *srv)
{
    for (int i = 0; i < SMTP_SERVICE_COUNT; i++) {
        if (srv->listeners[i].lev)
            evconnlistener_free(srv->listeners[i].lev);
        srv->listeners[i].lev = NULL;
    }
    while (srv->all)
        smtp_session_free(srv->all);
    smtp_submit_server_free(srv); /* after the sessions: finishes their abandoned jobs */
    free(srv->ip_counts);
    srv->ip_counts = NULL;
}
