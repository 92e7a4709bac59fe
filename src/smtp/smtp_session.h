/*
 * smtp_session - one inbound SMTP conversation (RFC 5321) as an explicit
 * state machine.
 *
 * Files: smtp_session.c (I/O, reading lines, replies, timeouts, state
 * changes, teardown), smtp_commands.c (the command table and one handler
 * per command), smtp_data.c (DATA and BDAT: reading the message, the
 * Received: header, handing it to the queue), smtp_reply.c (every reply
 * text and the mapping from lower-layer results to reply codes).
 *
 * Commands are handled strictly in order (PIPELINING, RFC 2920): when a
 * handler has to wait (DNS, the queue's fsync) the session stops taking
 * input until the answer came, then carries on with what is buffered.
 *
 * Memory: an idle session is this struct plus its bufferevent; the message
 * buffer exists only between MAIL and the end of the transaction.
 */
#ifndef POCHTA_SMTP_SESSION_H
#define POCHTA_SMTP_SESSION_H

#include <stddef.h>

#include "event/evconn.h"
#include "lib/buf.h"
#include "mail/data_reader.h"
#include "smtp/smtp_server.h"

struct bufferevent;
struct event;
struct queue_msg;
struct queue_job;
struct dns_query;

typedef enum {
    SMTP_STATE_LOOKUP,   /* connected; resolving the client name before the banner */
    SMTP_STATE_GREETED,  /* banner sent, waiting for HELO/EHLO */
    SMTP_STATE_HELO,     /* greeted; no transaction */
    SMTP_STATE_MAIL,     /* MAIL accepted, no recipient yet */
    SMTP_STATE_RCPT,     /* at least one recipient */
    SMTP_STATE_DATA,     /* reading DATA content */
    SMTP_STATE_BDAT,     /* reading BDAT chunks */
    SMTP_STATE_QUEUEING, /* message complete, waiting for the queue's fsync */
    SMTP_STATE_AUTH,     /* AUTH exchange: lines are SASL responses (smtp_sasl.c) */
    SMTP_STATE_CLOSING,  /* final reply written, closing when flushed */
    SMTP_STATE_COUNT
} smtp_state;

enum {
    SMTP_FLAG_EHLO = 0x01,      /* client used EHLO: ESMTP */
    SMTP_FLAG_TLS = 0x02,       /* TLS is active */
    SMTP_FLAG_WAITING = 0x04,   /* a handler waits for an async answer */
    SMTP_FLAG_BDAT_LAST = 0x08, /* the current BDAT chunk is the last */
    SMTP_FLAG_DISCARD = 0x10,   /* BDAT chunk is read and thrown away */
};

typedef struct smtp_session {
    smtp_server *srv;
    struct smtp_session *next, *prev; /* srv->all */
    struct bufferevent *bev;
    char id[12];                /* session ID in logs */
    char ip[64];
    char *client_name;          /* forward-confirmed PTR name or "unknown" */
    char *helo;
    smtp_state state;
    unsigned flags;
    int skipping_line;          /* discarding the rest of an overlong line */
    unsigned errors;
    unsigned long transactions;
    struct dns_query *dns_q;
    struct event *timer;        /* greet pause */
    evconn_flush flush;         /* closing: waits for the last reply to reach the socket */
    smtp_service service;       /* the listener that accepted us: MX, submission, submissions */
    char *auth_user;            /* account that authenticated (SASL), NULL before */
    struct smtp_sasl *sasl;     /* AUTH exchange or password check in progress, NULL otherwise */
    unsigned auth_failures;     /* failed AUTH attempts in this session (smtp_sasl.c closes at 3) */
    struct smtp_auth *authn;    /* SPF/DKIM/DMARC checks and results (smtp_auth.c), NULL before the first */
    char *ptr_name;             /* first PTR name of the client, confirmed or not; NULL when none */
    int ptr_status, fwd_status; /* dns_status of the PTR lookup and of the forward lookup of ptr_name */
    struct smtp_policy *pol;    /* envelope policy state (smtp_policy.c), NULL before the first check */

    /* the current transaction (NULL outside one) */
    struct queue_msg *msg;
    struct queue_job *job;
    data_reader reader;
    size_t received_len;        /* bytes of our Received: header at the start of msg->data */
    int too_big;                /* BDAT went over the size limit */
    unsigned long long bdat_size;   /* size of the current BDAT chunk */
    unsigned long long bdat_left;
    smtp_state bdat_return;     /* state to go back to after a refused BDAT chunk */
    unsigned rcpt_refused;
    int rcpt_notify;            /* NOTIFY= of the RCPT waiting for policy (RFC 3461), 0 when absent */
    char rcpt_orcpt[501];       /* its ORCPT= as received ("" when absent; SMTP_ORCPT_MAX is 500) */
    char queued_id[17];         /* ID of the message being committed */
    /* the last 4xx/5xx reply, so that a MAIL refused before its transaction exists
     * still gets a message-log row (smtp_commands.c) */
    int last_code;
    char last_enh[16];
    char last_text[512];
} smtp_session;

/* smtp_session_accept - start a session on a connected socket (the server counted it already) */
void smtp_session_accept(smtp_server *srv, int fd, const char *ip, smtp_service service);
/* smtp_session_free - end the session now, without a reply */
void smtp_session_free(smtp_session *s);

/* smtp_session_reply - send "CODE ENH text" (text may hold "\n" for multi-line replies) */
void smtp_session_reply(smtp_session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* smtp_session_set_state - the one place the state changes (and is logged at debug) */
void smtp_session_set_state(smtp_session *s, smtp_state st);
/* smtp_session_close - send a final reply, then close once flushed */
void smtp_session_close(smtp_session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* smtp_session_resume - an async step finished: go on with buffered input */
void smtp_session_resume(smtp_session *s);
/* smtp_session_reset - forget the transaction (RSET, after DATA, after HELO) */
void smtp_session_reset(smtp_session *s);
/* smtp_session_error - count an error reply; closes with 421 past the limit. Returns 1 if closed. */
int smtp_session_error(smtp_session *s);
const char *smtp_state_name(smtp_state st);

/* smtp_commands.c */
void smtp_commands_dispatch(smtp_session *s, char *line, size_t len);

/* smtp_data.c */
void smtp_data_begin(smtp_session *s);                      /* after 354 */
size_t smtp_data_feed(smtp_session *s, const char *p, size_t n);
void smtp_bdat_begin(smtp_session *s, unsigned long long size, int last);
size_t smtp_bdat_feed(smtp_session *s, const char *p, size_t n);
/* smtp_data_new_transaction - make s->msg for a MAIL command */
void smtp_data_new_transaction(smtp_session *s);
void smtp_data_abandon(smtp_session *s);

/* smtp_tls.c */
SSL_CTX *smtp_tls_context(const char *cert, const char *key, char *err, size_t errlen);
/* smtp_tls_start - wrap the session's connection in TLS (server side); 0 or -1 */
int smtp_tls_start(smtp_session *s);
/* smtp_tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384 256" for Received: and logs, or NULL */
int smtp_tls_describe(smtp_session *s, char *out, size_t outlen);

#endif
