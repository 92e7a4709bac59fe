/*
 * bounce_verp - signed VERP return paths for outgoing mail.
 *
 * Mail that our users send to other domains leaves with the return path
 *     bounces+QUEUEID=local=domain=MAC@OURDOMAIN
 * (QUEUEID: our queue ID; local=domain: the recipient with '@' written '=';
 * MAC: 10 base32 characters, the first 50 bits of HMAC-SHA256 keyed with
 * the 32-byte secret in STATE_DIR/verp.key over "QUEUEID\nrecipient", both
 * lower case). When that local part would pass 64 octets (RFC 5321
 * 4.5.3.1.1), or the recipient is not plain ASCII without quotes (the
 * return path must not need SMTPUTF8 or quoting), the short form
 * bounces+QUEUEID=MAC@OURDOMAIN (MAC over
 * "QUEUEID\n") is used and the recipient comes from the report itself.
 *
 * Why a MAC: port 25 accepts these addresses without a mailbox and counts
 * what arrives there toward suppressing recipients; without a MAC anyone
 * could suppress any address by mailing a made-up bounce. 50 bits make a
 * blind guess hopeless (each guess is one SMTP RCPT); queue IDs are not
 * secret, the key is. Addresses are compared lower case because RCPT
 * arguments are lower-cased on receipt.
 *
 * The key is created (mode 0600, fsync'ed) by `pochta init` and, when
 * missing, by the daemon at start-up; it is read once into memory and
 * only read afterwards, so worker threads may use it freely.
 */
#ifndef POCHTA_BOUNCE_BOUNCE_VERP_H
#define POCHTA_BOUNCE_BOUNCE_VERP_H

#include <stddef.h>

/* BOUNCE_VERP_KEY_FILE - name of the secret under state_dir */
#define BOUNCE_VERP_KEY_FILE "verp.key"

typedef enum {
    VERP_NONE = 0,    /* not a bounces+ address at all */
    VERP_VALID = 1,   /* our signature: qid (and rcpt, "" in the short form) filled */
    VERP_FORGED = -1, /* bounces+ address whose MAC or layout is wrong: treat as an unknown user */
} bounce_verp_result;

/* bounce_verp_key_load - read STATE_DIR/verp.key (create it when create and missing); 0 or -1 with err */
int bounce_verp_key_load(const char *state_dir, int create, char *err, size_t errlen);
/* bounce_verp_key_create - write a fresh random key to STATE_DIR/verp.key unless it exists; 0 or -1 with err */
int bounce_verp_key_create(const char *state_dir, char *err, size_t errlen);
/* bounce_verp_ready - 1 when a key is loaded */
int bounce_verp_ready(void);

/* bounce_verp_make - the signed return path for (qid, rcpt) at domain into out; -1 without key or room */
int bounce_verp_make(char *out, size_t outlen, const char *qid, const char *rcpt, const char *domain);
/* bounce_verp_make_short - the short form for qid alone (the report names the recipients); as above */
int bounce_verp_make_short(char *out, size_t outlen, const char *qid, const char *domain);
/* bounce_verp_check - is addr (local@domain) one of our signed return paths? (see bounce_verp_result) */
bounce_verp_result bounce_verp_check(const char *addr, char *qid, size_t qidlen, char *rcpt, size_t rcptlen);

#endif
