/*
 * smtp_server - the SMTP listeners and what every session shares.
 *
 * One smtp_server per daemon: it owns the listening sockets, the per-IP
 * connection counts (RFC 5321 lets a server refuse with 421 when busy),
 * the TLS context, and the handles sessions use (accounts, queue, DNS).
 * Each accepted connection becomes an smtp_session (smtp_session.h).
 *
 * Limits: cfg->max_connections in total, cfg->max_conn_per_ip per client
 * address; over either the client gets a 421 4.7.0/4.3.2 and is closed.
 */
#ifndef POCHTA_SMTP_SERVER_H
#define POCHTA_SMTP_SERVER_H

#include <stddef.h>

struct event_base;
struct evconnlistener;
struct pochta_config;
struct accounts;
struct bounce_store;
struct queue;
struct dns_resolver;
typedef struct ssl_ctx_st SSL_CTX;

typedef struct smtp_ip_count smtp_ip_count;
struct smtp_session;
struct cidr_list;
struct workq;
struct smtp_sasl_throttle;
struct smtp_submit_pool;

/* The services one server runs; each has its own listener, all share the session code. */
typedef enum {
    SMTP_SERVICE_MX = 0,       /* port 25: mail for our domains, no AUTH */
    SMTP_SERVICE_SUBMISSION,   /* port 587: STARTTLS, AUTH required before MAIL (RFC 6409) */
    SMTP_SERVICE_SUBMISSIONS,  /* port 465: TLS from the first byte (RFC 8314), then as 587 */
    SMTP_SERVICE_COUNT
} smtp_service;

/*
 * smtp_relay_hook - extra "may this client relay without AUTH" check, asked
 * after trusted_networks (POP-before-SMTP plugs in here: return 1 when ip
 * logged in recently, 0 when not, -1 when its lookup failed). Runs on the
 * loop thread, must not block.
 */
typedef int (*smtp_relay_hook)(void *arg, const char *ip);

typedef struct smtp_listener {
    struct smtp_server *srv;
    smtp_service service;
    struct evconnlistener *lev;
} smtp_listener;

typedef struct smtp_server {
    struct event_base *base;
    const struct pochta_config *cfg;
    struct accounts *accounts;      /* main-thread handle for RCPT lookups */
    struct bounce_store *bounces;   /* suppression list for relayed RCPT (bounce_store.h); NULL = none */
    struct queue *queue;
    struct dns_resolver *dns;
    SSL_CTX *tls;                   /* NULL when no certificate is configured */
    smtp_listener listeners[SMTP_SERVICE_COUNT]; /* lev NULL when the service is off */
    struct cidr_list *trusted;      /* parsed cfg->trusted_networks */
    smtp_relay_hook relay_hook;     /* set by the daemon before start; NULL = none */
    void *relay_hook_arg;
    struct workq *auth_wq;          /* password checks and send-count writes (slow, off the loop) */
    struct smtp_submit_pool *pool;  /* database handles for auth_wq jobs */
    struct smtp_sasl_throttle *throttle; /* failed-login counts per IP and per account */
    struct policy_engine *policy;   /* envelope policy (src/policy/); NULL = no checks */
    unsigned sessions;              /* open sessions */
    struct smtp_session *all;       /* every open session, for shutdown */
    smtp_ip_count *ip_counts;       /* open sessions per client address */
    unsigned long next_session;     /* for session IDs */
} smtp_server;

/* smtp_server_start - listen on cfg->smtp_listen, submission_listen and
 * submissions_listen (each when set); 0 or -1 with err */
int smtp_server_start(smtp_server *srv, char *err, size_t errlen);
/* smtp_server_stop - stop listening and end every open session (nothing unacknowledged is kept) */
void smtp_server_stop(smtp_server *srv);

/* smtp_server_ip_acquire - count a session for ip; 0, or -1 when ip is over its limit */
int smtp_server_ip_acquire(smtp_server *srv, const char *ip);
void smtp_server_ip_release(smtp_server *srv, const char *ip);

#endif
