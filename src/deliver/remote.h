/*
 * remote - deliver one message to one remote recipient over SMTP (RFC 5321),
 * blocking, on a delivery worker thread.
 *
 * MX lookup (RFC 5321 section 5.1: preference order, implicit MX = the
 * domain's own A/AAAA), null MX (RFC 7505) is a permanent failure (5.1.10),
 * IDN domains are converted to A-labels (libidn2). The client says EHLO with
 * our hostname, upgrades with STARTTLS when offered (opportunistic, no
 * certificate check: RFC 7435), passes SIZE/BODY=8BITMIME/SMTPUTF8 and refuses
 * to send an SMTPUTF8 message to a server without that extension (5.6.7).
 * Every connect, read and write has the deadline cfg->remote_timeout.
 * Each attempt is written to the message log (host, IP, TLS, reuse, full reply).
 * Sessions per destination are limited and a connection is kept for the next
 * message to the same host for a few seconds (remote_start, remote_pool.h).
 */
#ifndef POCHTA_DELIVER_REMOTE_H
#define POCHTA_DELIVER_REMOTE_H

#include <stddef.h>

#include "queue/queue.h"

struct pochta_config;

typedef enum {
    REMOTE_OK = 0,        /* the remote server answered 250 at end of data */
    REMOTE_TEMPFAIL = -1, /* retry later (4xx, DNS or network trouble) */
    REMOTE_PERMFAIL = -2, /* bounce (5xx, null MX, no such domain) */
} remote_status;

/*
 * remote_deliver - one attempt for recipient to of m with MAIL
 * FROM:<mail_from> (our VERP return path, bounce_verp.h; NULL = the
 * sender), whose DSN parameters
 * are rd (RFC 3461: when the server offers DSN, MAIL gets RET/ENVID and
 * RCPT gets NOTIFY/ORCPT, and *dsn_passed is set to 1 on success: the next
 * hop sends the notices from then on). On failure, status receives an RFC
 * 3463 code ("5.1.1") and reason a sentence quoting the remote host, IP,
 * stage and full reply; on success reason is the remote reply.
 */
remote_status remote_deliver(const struct pochta_config *cfg, const queue_msg *m, const char *to,
                             const char *mail_from, const queue_rcpt_dsn *rd, int *dsn_passed, char *status, size_t statuslen,
                             char *reason, size_t reasonlen);

/*
 * remote_start - before the first delivery: at most
 * cfg->remote_destination_concurrency sessions per destination at once, and
 * connections kept idle for cfg->remote_connection_reuse_time after a
 * successful transaction, for the next message to the same host
 * (remote_pool.h). Without it: no limit and one connection per attempt.
 */
void remote_start(const struct pochta_config *cfg);

/* remote_stop - after the last delivery: QUIT and close the cached connections */
void remote_stop(void);

#endif
