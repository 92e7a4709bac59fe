/*
 * bounce_store - the bounce collector's memory in the state SQLite
 * database (the same pochta.db as the accounts): every parsed bounce as
 * an event, a per-address count of hard and soft bounces, and the
 * suppression list of addresses that are gone.
 *
 * An address is suppressed after `threshold` hard bounces, or at the first
 * hard bounce whose reason is userunknown or hostunknown (the mailbox or
 * domain does not exist: retrying only hurts the sender's reputation).
 * Soft bounces (full mailbox, block lists, timeouts) are counted, never
 * suppress. Submission asks bounce_store_suppressed() before accepting a
 * recipient (three-valued: a database error is a temporary failure).
 *
 * VERP (return path per message and recipient): bounce_verp_encode() makes
 * "bounces+QUEUEID=local=domain@OURDOMAIN"; bounce_verp_decode() reads it
 * back, so a bounce names its message and recipient even when the report
 * itself is unreadable.
 */
#ifndef POCHTA_BOUNCE_BOUNCE_STORE_H
#define POCHTA_BOUNCE_BOUNCE_STORE_H

#include "bounce/bounce.h"

#include <stddef.h>
#include <stdio.h>

typedef struct bounce_store bounce_store;

typedef enum {
    BSTORE_OK = 0,
    BSTORE_TEMPFAIL = -1,   /* database busy or disk error: try later */
    BSTORE_PERMFAIL = -2,   /* cannot open or the schema is broken */
} bstore_status;

typedef enum {
    BOUNCE_NOT_SUPPRESSED = 0,
    BOUNCE_SUPPRESSED = 1,
    BOUNCE_SUPPRESS_TEMPFAIL = -1,  /* could not tell: answer 4xx, never 5xx */
} bounce_suppress_result;

/* BOUNCE_VERP_PREFIX - local part prefix of the VERP return path */
#define BOUNCE_VERP_PREFIX "bounces+"

/* bounce_store_open - open (and create the tables in) the database at path; NULL after logging why */
bounce_store *bounce_store_open(const char *path);
void bounce_store_close(bounce_store *bs);

/*
 * bounce_store_record - remember one recipient of a parsed bounce:
 * an event row and the address's counters; sets *suppressed (may be NULL)
 * when this bounce put the address on the suppression list.
 * Reports of kind AUTOREPLY and FEEDBACK and "delivered" are not counted.
 */
bstore_status bounce_store_record(bounce_store *bs, const char *queue_id, const bounce_rcpt *rc,
                                  unsigned threshold, int *suppressed);

/*
 * bounce_store_collect - the daemon's entry for an incoming bounce: parse
 * raw, take queue id and recipient from the VERP address rcpt_to (may be
 * NULL or not VERP), record every failed recipient. *counted (may be NULL)
 * gets how many were recorded, *newly (may be NULL) how many became suppressed.
 */
bstore_status bounce_store_collect(bounce_store *bs, const char *raw, size_t len, const char *rcpt_to,
                                   unsigned threshold, size_t *counted, size_t *newly);

/* bounce_store_suppressed - whether addr is on the suppression list; why (may be NULL) gets the reason text */
bounce_suppress_result bounce_store_suppressed(bounce_store *bs, const char *addr, char *why, size_t whylen);

/* bounce_store_list - one line per address (suppressed only unless all), newest first */
bstore_status bounce_store_list(bounce_store *bs, int all, FILE *out);
/* bounce_store_show - counters and events of one address; BSTORE_PERMFAIL when unknown */
bstore_status bounce_store_show(bounce_store *bs, const char *addr, FILE *out);
/* bounce_store_export - every address with counters and state as a JSON array */
bstore_status bounce_store_export(bounce_store *bs, FILE *out);
/* bounce_store_clear - forget addr (NULL = every address and event); *n gets how many addresses */
bstore_status bounce_store_clear(bounce_store *bs, const char *addr, int *n);

/* bounce_verp_encode - "bounces+QID=local=domain@our_domain" into out; -1 if it does not fit a local part (64) */
int bounce_verp_encode(char *out, size_t outlen, const char *queue_id, const char *rcpt, const char *our_domain);
/* bounce_verp_decode - queue id and recipient from a VERP address; -1 if addr is not one */
int bounce_verp_decode(const char *addr, char *qid, size_t qidlen, char *rcpt, size_t rcptlen);

#endif
