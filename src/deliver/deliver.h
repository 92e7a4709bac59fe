/*
 * deliver - one delivery run for one queued message (worker thread).
 *
 * deliver_message() loads active/ID and its state, tries every recipient
 * that is not final and is due, records each outcome durably in state/ID,
 * and removes the message once every recipient is final. Each recipient is
 * expanded through aliases (accounts_expand); duplicate final addresses
 * within a message are delivered once; a local mailbox gets a Maildir copy;
 * a remote final address gets one SMTP attempt (remote.h): 250 done, 4xx
 * deferred, 5xx bounced; a local address that no longer exists bounces
 * with 5.1.1. The notices the sender asked for (RFC 3461 NOTIFY: failures,
 * delays, successes) are collected over the run and sent as one notice per
 * kind (dsn.h) before the outcomes they report are recorded. Deferred recipients back off from retry_min doubling to
 * retry_max; after queue_lifetime the last failed attempt makes them
 * final ("expired", bounced with 4.4.7).
 */
#ifndef POCHTA_DELIVER_DELIVER_H
#define POCHTA_DELIVER_DELIVER_H

#include <time.h>

#include "queue/queue.h"

struct pochta_config;
struct accounts;

typedef struct deliver_result {
    int gone;      /* no such message (already removed, or quarantined as corrupt) */
    int finished;  /* every recipient final, message removed */
    time_t next;   /* otherwise: when to run again */
    int held;      /* on hold (pochta queue hold): run again only when released */
} deliver_result;

/*
 * deliver_message - run delivery of id at time now; acct may be NULL
 * (database down: all defer). force: try deferred recipients even before
 * their retry time (pochta queue flush). The run holds the message's lock
 * (queue_admin.h) throughout and stops before any recipient while the
 * message is on hold.
 */
void deliver_message(const struct pochta_config *cfg, struct accounts *acct, const char *id, time_t now, int force,
                     deliver_result *res);

/* deliver_backoff - seconds to wait after the attempts-th failure: retry_min doubling up to retry_max */
unsigned deliver_backoff(const struct pochta_config *cfg, unsigned attempts);

#endif
