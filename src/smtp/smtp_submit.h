/*
 * smtp_submit - the submission service's rules on top of the SMTP session
 * (RFC 6409, RFC 8314): who may relay, who may send as whom, and how much.
 *
 * Files: smtp_submit.c (relay decision, MAIL checks, From: check, send
 * counts, the worker pool), smtp_sasl.c (AUTH PLAIN/LOGIN, RFC 4954 and
 * RFC 4616, with failed-login throttling).
 *
 * Relay: a recipient outside our domains is accepted only when the session
 * authenticated, the client is in trusted_networks, or the server's
 * relay_hook says yes (POP-before-SMTP). Everything else is refused with
 * 554 5.7.1 exactly as on port 25.
 *
 * Slow work (yescrypt, counter writes) runs on srv->auth_wq; each job takes
 * database handles from a pool with one set per worker thread.
 */
#ifndef POCHTA_SMTP_SMTP_SUBMIT_H
#define POCHTA_SMTP_SMTP_SUBMIT_H

#include <stddef.h>

#include "mail/addr.h"
#include "smtp/smtp_server.h"

struct smtp_session;
struct smtp_cmd;
struct accounts;
struct sendrate;

/* smtp_submit_server_init - parse trusted_networks, start the auth workers and pool; 0 or -1 with err */
int smtp_submit_server_init(smtp_server *srv, char *err, size_t errlen);
/* smtp_submit_server_free - stop the workers (running pending completions) and close the handles */
void smtp_submit_server_free(smtp_server *srv);

/* smtp_relay_allowed - may this session send to domains that are not ours?
 * 1 yes, 0 no, -1 cannot tell now (the relay hook's database failed): 4xx */
int smtp_relay_allowed(struct smtp_session *s);

/* smtp_submit_mail - MAIL checks for the submission service and for
 * authenticated sessions; 1 = go on, 0 = refused (reply sent) */
int smtp_submit_mail(struct smtp_session *s, const mail_addr *from);
/* smtp_submit_check_from - end of data: the From: header of an authenticated
 * session must name addresses the user owns; 0 = fine, else the reply code
 * (550, or 451 for a database problem) with its text in text */
int smtp_submit_check_from(struct smtp_session *s, char *text, size_t textlen);
/* smtp_submit_sent - a message of an authenticated user was queued: count it (worker) */
void smtp_submit_sent(struct smtp_session *s);

/* Pool handles for worker jobs: one set per worker thread. */
typedef struct smtp_submit_handles {
    struct accounts *accounts;
    struct sendrate *rate;
} smtp_submit_handles;
smtp_submit_handles *smtp_submit_pool_get(smtp_server *srv);
void smtp_submit_pool_put(smtp_server *srv, smtp_submit_handles *h);

/* smtp_sasl.c */
/* smtp_sasl_ehlo - the EHLO line for AUTH ("AUTH PLAIN LOGIN\n") or "" when not offered */
const char *smtp_sasl_ehlo(struct smtp_session *s);
/* smtp_sasl_auth - the AUTH command */
void smtp_sasl_auth(struct smtp_session *s, struct smtp_cmd *cmd);
/* smtp_sasl_input - a client line during the AUTH exchange */
void smtp_sasl_input(struct smtp_session *s, char *line, size_t len);
/* smtp_sasl_abandon - the session goes away: forget the exchange, let a running check finish alone */
void smtp_sasl_abandon(struct smtp_session *s);
/* smtp_sasl_throttle_new / _free - failed-login counters of a server */
struct smtp_sasl_throttle *smtp_sasl_throttle_new(void);
void smtp_sasl_throttle_free(struct smtp_sasl_throttle *t);

#endif
