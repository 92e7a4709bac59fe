/*
 * queue - the durable mail queue: nothing acknowledged is ever lost.
 *
 * A message enters through queue_submit(): a worker thread writes it to
 * queue_dir/tmp/ID, fsyncs the file, renames it to queue_dir/active/ID and
 * fsyncs the directory; only then does done(arg, QUEUE_OK) run on the loop,
 * and only then may the SMTP session answer 250. Concurrent submissions are
 * committed by several workers at once and share directory fsyncs (group
 * commit).
 *
 * The file is a sequence of typed records ending with an END record, so a
 * torn file (crash mid-write) is recognised and discarded on start-up; a
 * file without END was never acknowledged. See docs/internals/queue.md.
 *
 * Per-recipient delivery state (done / deferred with next attempt time and
 * attempt count) is kept durably beside the message, so a restart neither
 * loses nor re-delivers a recipient already marked done (at-least-once: the
 * only duplicate is a delivery that completed just before a crash and was
 * not marked yet).
 */
#ifndef POCHTA_QUEUE_QUEUE_H
#define POCHTA_QUEUE_QUEUE_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

struct event_base;
struct pochta_config;

#define QUEUE_ID_SIZE 17 /* 16 upper-case hex digits + NUL */

typedef struct queue queue;
typedef struct queue_job queue_job;

typedef enum {
    QUEUE_OK = 0,
    QUEUE_TEMPFAIL = -1, /* disk full, I/O error: answer 451 4.3.0 */
} queue_status;

/* DSN parameters of one recipient (RFC 3461 4.1, 4.2); zero/NULL when not given */
typedef struct queue_rcpt_dsn {
    int notify;              /* SMTP_NOTIFY_* flags (mail/smtp_cmd.h); 0 = absent (FAILURE,DELAY implied) */
    char *orcpt;             /* ORCPT as received, "addr-type;xtext", or NULL */
} queue_rcpt_dsn;

typedef struct queue_msg {
    char id[QUEUE_ID_SIZE];  /* from queue_new_id(), set by the session at MAIL */
    char *sender;            /* reverse-path without <>; "" is the null sender */
    char **rcpts;            /* forward-paths without <> */
    size_t nrcpts;
    queue_rcpt_dsn *rcpt_dsn; /* parallel to rcpts, always as long */
    int dsn_ret;             /* RET= (smtp_ret: 0 absent, 1 FULL, 2 HDRS) */
    char *dsn_envid;         /* ENVID= decoded from xtext (printable ASCII), NULL when absent */
    char *client_ip;
    char *client_name;       /* verified PTR name or "unknown" */
    char *helo;
    char *auth_user;         /* NULL unless authenticated */
    time_t arrival;
    int body_8bit;           /* BODY=8BITMIME */
    int smtputf8;            /* SMTPUTF8 given */
    int junk;                /* deliver local copies to the Junk folder (DMARC quarantine) */
    buf data;                /* whole message with our Received: first, CRLF lines */
} queue_msg;

/* queue_msg_new - empty message whose data may grow to max_size bytes; free with queue_msg_free */
queue_msg *queue_msg_new(size_t max_size);
void queue_msg_free(queue_msg *m);
/* queue_msg_add_rcpt - append a recipient (copied) without DSN parameters */
void queue_msg_add_rcpt(queue_msg *m, const char *rcpt);
/* queue_msg_add_rcpt_dsn - append a recipient with its NOTIFY flags and ORCPT (NULL: none), both copied */
void queue_msg_add_rcpt_dsn(queue_msg *m, const char *rcpt, int notify, const char *orcpt);

/* queue_new_id - a fresh ID, unique across restarts (time, counter, randomness) */
void queue_new_id(char out[QUEUE_ID_SIZE]);

typedef void (*queue_committed_fn)(void *arg, const char *id);

/*
 * queue_open - create queue_dir/{tmp,active,...} if missing, discard torn
 * files, start the writer threads. committed(arg, id) runs on the loop after
 * each new message is durable (the daemon points it at the scheduler).
 */
queue *queue_open(struct event_base *base, const struct pochta_config *cfg,
                  queue_committed_fn committed, void *arg, char *err, size_t errlen);
void queue_close(queue *q);

typedef void (*queue_done_fn)(void *arg, queue_status st);

/*
 * queue_submit - make m durable; the queue owns m from here on. done(arg, st)
 * runs on the loop thread when the message is on disk (QUEUE_OK) or could
 * not be written (QUEUE_TEMPFAIL). The returned job may be abandoned if the
 * caller goes away first: done() then never runs (the write still finishes).
 */
queue_job *queue_submit(queue *q, queue_msg *m, queue_done_fn done, void *arg);
void queue_job_abandon(queue_job *job);

#endif
