/*
 * pop3_session - one POP3 conversation (RFC 1939, CAPA RFC 2449, STLS RFC
 * 2595, AUTH RFC 5034) as an explicit state machine.
 *
 * Files: pop3_session.c (I/O, reading lines, replies, TLS, the one place
 * the state changes, teardown), pop3_commands.c (the command table and one
 * handler per command), pop3_work.c (what runs on worker threads: password
 * check, listing the maildrop, reading a message, deleting at QUIT).
 *
 * States (RFC 1939 3):
 *   AUTHORIZATION --USER+PASS / AUTH ok, mailbox locked, listed--> TRANSACTION
 *   AUTHORIZATION --AUTH PLAIN without initial response--> SASL --line--> AUTHORIZATION | TRANSACTION
 *   TRANSACTION --QUIT--> UPDATE --deletions applied--> CLOSING
 *   AUTHORIZATION --QUIT--> CLOSING;  any --error/timeout/EOF--> gone (no deletions)
 * While a worker job runs the session takes no input (PIPELINING, RFC 2449:
 * commands are answered strictly in order).
 */
#ifndef POCHTA_POP3_POP3_SESSION_H
#define POCHTA_POP3_POP3_SESSION_H

#include <stddef.h>

#include "event/evconn.h"
#include "pop3/pop3_maildrop.h"
#include "pop3/pop3_server.h"

struct bufferevent;
struct event;
struct evbuffer_cb_entry;

/* RFC 2449 4: a command line is at most 255 octets; SASL responses
 * (RFC 5034 4) may be longer, so lines up to this are read. */
#define POP3_LINE_MAX 1024
#define POP3_MAX_ERRORS 10        /* error replies before we close */
#define POP3_MAX_AUTH_FAILS 3     /* failed logins in one session before we close */
#define POP3_IDLE_TIMEOUT 600     /* RFC 1939 3: an autologout timer of at least 10 minutes */

typedef enum {
    POP3_STATE_AUTHORIZATION,
    POP3_STATE_SASL,          /* waiting for the client's AUTH PLAIN response line */
    POP3_STATE_TRANSACTION,
    POP3_STATE_UPDATE,        /* QUIT: deletions being applied */
    POP3_STATE_CLOSING,       /* final reply written, closing when flushed */
    POP3_STATE_COUNT
} pop3_state;

enum {
    POP3_FLAG_TLS = 0x01,       /* TLS is active */
    POP3_FLAG_WAITING = 0x02,   /* a worker job or a throttle delay is running */
    POP3_FLAG_GONE = 0x08,      /* connection ended while a job ran: free when it finishes */
};

typedef struct pop3_session {
    pop3_server *srv;
    struct pop3_session *next, *prev;   /* srv->all */
    struct bufferevent *bev;
    char id[12];
    char ip[64];
    pop3_state state;
    unsigned flags;
    int skipping_line;          /* discarding the rest of an overlong line */
    unsigned errors;
    unsigned auth_fails;
    char *user;                 /* from USER, until PASS */
    char *mailbox;              /* logged-in address (we hold its lock) */
    pop3_maildrop *drop;        /* TRANSACTION only */
    int jobs;                   /* worker jobs not finished */
    struct event *delay;        /* throttle: a failed login's reply waits on it */
    char *delayed_reply;        /* the reply sent when delay fires */
    int delayed_close;
    evconn_flush flush;         /* closing: waits for the last reply to reach the socket */
} pop3_session;

/* pop3_session_accept - a new connection; implicit_tls starts TLS at once (995-style) */
void pop3_session_accept(pop3_server *srv, int fd, const char *ip, int implicit_tls);
/* pop3_session_free - end now (or once its worker job is done), no deletions */
void pop3_session_free(pop3_session *s);

/* pop3_session_reply - send one line ("+OK ..." or "-ERR ...") */
void pop3_session_reply(pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pop3_session_error - send "-ERR ..." and count it; closes past POP3_MAX_ERRORS. 1 if closed. */
int pop3_session_error(pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pop3_session_close - final reply, then close once flushed */
void pop3_session_close(pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pop3_session_set_state - the one place the state changes (logged at debug) */
void pop3_session_set_state(pop3_session *s, pop3_state st);
/* pop3_session_wait / pop3_session_resume - stop taking input for an async step; go on after it */
void pop3_session_wait(pop3_session *s);
void pop3_session_resume(pop3_session *s);
/* pop3_session_job_done - a worker job ended; 1 when the session is gone (was freed now) */
int pop3_session_job_done(pop3_session *s);
/* pop3_session_delay_reply - send text after secs seconds (failed logins); close after it if asked */
void pop3_session_delay_reply(pop3_session *s, unsigned secs, int close_after, const char *text);
/* pop3_session_start_tls - wrap the connection in TLS (server side); 0 or -1 */
int pop3_session_start_tls(pop3_session *s);
/* pop3_session_login_allowed - USER/PASS/AUTH permitted now (TLS, or clear text allowed) */
int pop3_session_login_allowed(const pop3_session *s);
const char *pop3_state_name(pop3_state st);

/* pop3_commands.c */
void pop3_commands_dispatch(pop3_session *s, char *line, size_t len);
/* pop3_commands_sasl - the client's response line to "+ " in the SASL state */
void pop3_commands_sasl(pop3_session *s, char *line, size_t len);

/* pop3_work.c: each starts a worker job; the session waits until it answered */
void pop3_work_login(pop3_session *s, const char *address, const char *password, const char *method);
void pop3_work_read(pop3_session *s, size_t i, long lines);
void pop3_work_update(pop3_session *s);

#endif
