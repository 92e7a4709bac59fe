/*
 * dsn - delivery status notifications (RFC 3464, multipart/report of
 * RFC 6522) for the recipients of one delivery run, put in the queue.
 *
 * A run collects what happened to each final address in a dsn_list
 * (dsn_list_add), which applies the recipient's NOTIFY (RFC 3461 4.1:
 * absent means FAILURE,DELAY; NEVER means nothing) and never notifies the
 * null sender (no bounce loops, RFC 5321 4.5.5 / 6.1). dsn_send then queues
 * at most one notice per kind: one for every failed address, one for every
 * delayed one, one for every delivered or relayed one. Each notice has a
 * plain-language part (which addresses, the remote host, stage and full
 * remote reply, what the status usually means), message/delivery-status
 * (Original-Envelope-Id from ENVID, Original-Recipient from ORCPT) and the
 * original message: text/rfc822-headers, or message/rfc822 when the sender
 * asked RET=FULL and it is at most DSN_RETURN_MAX bytes. It is injected
 * through queue_inject (pickup/), so it is delivered like any other message.
 */
#ifndef POCHTA_DELIVER_DSN_H
#define POCHTA_DELIVER_DSN_H

#include <stddef.h>

#include "queue/queue.h"

struct pochta_config;

#define DSN_HEADER_MAX (64 * 1024)    /* header returned, cut at a line end */
#define DSN_RETURN_MAX (1024 * 1024)  /* RET=FULL: a larger message is returned as its header only */

typedef enum {
    DSN_FAILED,     /* Action: failed (RFC 3464 2.3.3), NOTIFY FAILURE */
    DSN_DELAYED,    /* Action: delayed, NOTIFY DELAY */
    DSN_DELIVERED,  /* Action: delivered (into a local mailbox), NOTIFY SUCCESS */
    DSN_RELAYED,    /* Action: relayed (the next hop does not do DSN), NOTIFY SUCCESS */
} dsn_action;

typedef struct dsn_entry {
    dsn_action action;
    size_t rcpt;         /* index into m->rcpts (its NOTIFY and ORCPT) */
    char *orig_to;       /* recipient as received (differs from to after alias expansion) */
    char *to;            /* final address */
    char *status;        /* RFC 3463 code, e.g. "5.1.1" */
    char *reason;        /* sentence; "HOST[IP] said: REPLY (stage)" for remote replies */
} dsn_entry;

typedef struct dsn_list {
    dsn_entry *e;        /* heap, owned; free with dsn_list_free */
    size_t n;
} dsn_list;

/* dsn_wanted - 1 when NOTIFY flags (0 = absent) ask for a notice of this action */
int dsn_wanted(int notify, dsn_action a);

/* dsn_list_add - remember one outcome when the sender wants to hear of it; 1 when added, 0 when not */
int dsn_list_add(dsn_list *l, const queue_msg *m, size_t rcpt, dsn_action a, const char *orig_to, const char *to,
                 const char *status, const char *reason);

/* dsn_list_free - release the entries (the list itself is the caller's) */
void dsn_list_free(dsn_list *l);

/*
 * dsn_send - queue one notice per kind in l (failed, delayed, delivered or
 * relayed) to to, or to m->sender when to is NULL (to: our VERP return path,
 * so the bounce collector records the notice and hands it to the sender;
 * the To: field names the sender either way). QUEUE_OK when every notice is durable, else
 * QUEUE_TEMPFAIL (logged event=dsn_error). msglog event=dsn per notice.
 */
queue_status dsn_send(const struct pochta_config *cfg, const queue_msg *m, const dsn_list *l, const char *to);

#endif
