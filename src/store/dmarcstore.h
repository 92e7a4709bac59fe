/*
 * dmarcstore - per-message DMARC results in the state database (table
 * dmarc_results in pochta.db), kept so that RFC 7489 aggregate reports
 * (section 7.2, appendix C: source IP, identifiers, policy published,
 * policy evaluated, auth results) can be produced later.
 *
 * dmarcstore_add() is safe from any thread and never waits for the disk:
 * rows go to the batched writer thread of sqlwriter.h, as the message
 * log's do. Before dmarcstore_start()
 * (CLI, tests) rows are dropped. At most DMARCSTORE_PENDING_MAX rows wait;
 * past that they are dropped with a warning (the log line of the message
 * stays the record).
 */
#ifndef POCHTA_STORE_DMARCSTORE_H
#define POCHTA_STORE_DMARCSTORE_H

#include <stddef.h>
#include <time.h>

#define DMARCSTORE_PENDING_MAX 50000

/* One evaluated message; every text may be NULL (stored as NULL). Copied by dmarcstore_add. */
typedef struct dmarcstore_row {
    const char *id;             /* queue ID */
    time_t ts;
    const char *source_ip;
    const char *header_from;
    const char *envelope_from;  /* MAIL FROM ("" for <>) */
    const char *policy_domain;  /* where the record was found */
    const char *p, *sp;         /* published policy */
    unsigned pct;
    const char *adkim, *aspf;   /* "r" or "s" */
    const char *rua;
    const char *result;         /* dmarc: pass, fail, none, temperror, permerror */
    const char *disposition;    /* applied: none, quarantine, reject */
    const char *override;       /* trusted_forwarder, local_policy, sampled_out or NULL */
    int dkim_aligned, spf_aligned;
    const char *spf_domain, *spf_scope, *spf_result;
    const char *dkim;           /* "DOMAIN SELECTOR RESULT" per signature, ";"-separated */
} dmarcstore_row;

/* dmarcstore_start - open db_path, create the table, start the writer; 0 or -1 with err */
int dmarcstore_start(const char *db_path, char *err, size_t errlen);
/* dmarcstore_stop - write what is pending and stop */
void dmarcstore_stop(void);
/* dmarcstore_add - queue one row */
void dmarcstore_add(const dmarcstore_row *row);

#endif
