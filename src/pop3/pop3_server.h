/*
 * pop3_server - the POP3 service (RFC 1939) of pochtad: listeners, what
 * every POP3 session shares, mailbox locks and failed-login throttling.
 *
 * Two listeners: cfg->pop3_listen (110-style: clear text, STLS upgrades,
 * RFC 2595) and cfg->pop3s_listen (995-style: TLS from the first byte,
 * RFC 8314). Both need tls_cert for TLS; without it port 110 offers no STLS
 * and logins are possible only with pop3_cleartext_login = allow.
 *
 * Mailbox lock: one session per mailbox at a time (RFC 1939 8: the server
 * must keep the maildrop exclusive); the second login gets -ERR [IN-USE].
 * The lock lives in this process (pochtad is one process).
 *
 * Slow or disk-bound work (yescrypt, listing the Maildir, reading a
 * message, deleting at QUIT, POP-before-SMTP grants) runs on the server's
 * own worker queue; the event loop never blocks on it.
 */
#ifndef POCHTA_POP3_POP3_SERVER_H
#define POCHTA_POP3_POP3_SERVER_H

#include <stddef.h>
#include <time.h>

struct event_base;
struct evconnlistener;
struct pochta_config;
struct workq;
struct pop3_session;
typedef struct ssl_ctx_st SSL_CTX;

#define POP3_FAIL_MAX 10        /* failed logins per address and window, then refused */
#define POP3_FAIL_WINDOW 600    /* seconds */

/* A client address with recent failed logins (throttling, RFC 1939 13 and
 * the same idea as SMTP AUTH: slow down and then refuse password guessing). */
typedef struct pop3_fail {
    struct pop3_fail *next;
    char ip[64];
    unsigned count;
    time_t last;
} pop3_fail;

/* A mailbox some session holds (its lowercase address). */
typedef struct pop3_lock {
    struct pop3_lock *next;
    char *address;
} pop3_lock;

typedef struct pop3_server {
    struct event_base *base;
    const struct pochta_config *cfg;
    SSL_CTX *tls;                     /* borrowed from the daemon; NULL = no TLS */
    struct evconnlistener *plain, *implicit;
    struct workq *wq;
    unsigned sessions;
    struct pop3_session *all;
    pop3_lock *locks;
    pop3_fail *fails;
    unsigned nfails;
    unsigned long next_session;
} pop3_server;

/* pop3_server_start - listen on pop3_listen / pop3s_listen; NULL with err on failure */
pop3_server *pop3_server_start(struct event_base *base, const struct pochta_config *cfg, SSL_CTX *tls,
                               char *err, size_t errlen);
/* pop3_server_stop - stop listening, end every session (no deletions: only QUIT applies them), free */
void pop3_server_stop(pop3_server *srv);

/* pop3_server_lock - take the mailbox for a session; 0, or -1 when another session holds it */
int pop3_server_lock(pop3_server *srv, const char *address);
void pop3_server_unlock(pop3_server *srv, const char *address);

/* pop3_server_fail - count a failed login from ip; returns the count in the current window */
unsigned pop3_server_fail(pop3_server *srv, const char *ip);
/* pop3_server_failures - failed logins from ip in the current window */
unsigned pop3_server_failures(pop3_server *srv, const char *ip);

/*
 * pop3_relay_hook - POP-before-SMTP check for the SMTP server's relay hook
 * (smtp_server.relay_hook): arg is the loop thread's accounts handle; 1
 * while ip holds an unexpired grant from a POP3 login, 0 when not, -1 when
 * the database cannot say (the SMTP side answers 451 4.3.0).
 */
int pop3_relay_hook(void *arg, const char *ip);

#endif
