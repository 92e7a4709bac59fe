/*
 * collect - the bounce collector's delivery step (worker thread).
 *
 * A queued message whose recipient is one of our signed VERP return paths
 * (bounce_verp.h) is not put in a mailbox: collect_bounce() parses it
 * (src/bounce), records every failed recipient in bounce_store (counts and
 * suppression, threshold bounce_suppress_after) and adds an event
 * "bounce_received" to the ORIGINAL message's log, so `pochta log QUEUE-ID`
 * shows the bounce and its reason. collect_sender() finds who sent that
 * original message (its "queued from=<...>" event) so the caller can still
 * hand the readable bounce to a local sender.
 *
 * Never generates a bounce: what cannot be parsed is dropped with a log
 * line (a bounce to a bounce address must not bounce again).
 */
#ifndef POCHTA_DELIVER_COLLECT_H
#define POCHTA_DELIVER_COLLECT_H

#include <stddef.h>

#include "queue/queue.h"

struct pochta_config;

typedef enum {
    COLLECT_OK = 0,        /* recorded (or nothing to record) */
    COLLECT_TEMPFAIL = -1, /* database busy or broken: retry the delivery later */
} collect_status;

/*
 * collect_bounce - parse m (sent to the VERP address of qid/rcpt; rcpt ""
 * in the short form) and record it; *counted gets how many recipients were
 * counted.
 */
collect_status collect_bounce(const struct pochta_config *cfg, const queue_msg *m, const char *verp_to,
                              const char *qid, const char *rcpt, size_t *counted);

/* collect_sender - envelope sender of qid from the message log: 1 found (out filled), 0 unknown, -1 database error */
int collect_sender(const char *db_path, const char *qid, char *out, size_t outlen);

#endif
