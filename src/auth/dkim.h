/*
 * dkim - DomainKeys Identified Mail: verify signatures on incoming mail and
 * sign our own (RFC 6376; RFC 8301 algorithm and key-size rules; RFC 8463
 * Ed25519).
 *
 * Verify: dkim_verify_start() parses every DKIM-Signature field (strict tag
 * lists, section 3.2 and 3.5), hashes header and body (simple and relaxed
 * canonicalisation, section 3.4; l= honoured), then looks up each key record
 * S._domainkey.D through the dns_resolver interface and checks the
 * signature with OpenSSL EVP. Results are per signature, in header order,
 * for at most DKIM_MAX_SIGS signatures (the rest are counted, not verified:
 * each costs a DNS query and a public-key operation, a cheap amplification
 * for an attacker otherwise).
 *
 * Result mapping (RFC 8601 section 2.7.1 names):
 *   pass       signature verified
 *   fail       body hash or signature mismatch; rsa-sha1 or an RSA key
 *              under 1024 bits (RFC 8301); x= in the past; key t=s with an
 *              i= domain other than d=
 *   permerror  malformed signature field or key record, unknown algorithm,
 *              no key record (NXDOMAIN/NODATA), revoked key (empty p=)
 *   temperror  DNS timeout / SERVFAIL for the key record
 *   none       (message level) no DKIM-Signature at all: count == 0
 *
 * Sign: dkim_sign() produces a relaxed/relaxed DKIM-Signature field (rsa-sha256
 * or ed25519-sha256) over a fixed header set, From oversigned, to prepend to
 * the message. Call it twice with two keys for dual signing.
 *
 * Messages are byte strings with CRLF line ends (as on the wire after
 * un-dot-stuffing); dkim_crlf() converts a file with bare LF.
 */
#ifndef POCHTA_AUTH_DKIM_H
#define POCHTA_AUTH_DKIM_H

#include "dns/dns.h"
#include "lib/buf.h"

#include <stddef.h>
#include <time.h>

struct event_base;

/* DKIM_MAX_SIGS - signatures verified per message; later ones are only counted */
#define DKIM_MAX_SIGS 5
/* DKIM_MAX_MSG - largest message handled (the body is canonicalised in memory) */
#define DKIM_MAX_MSG (64u * 1024 * 1024)

typedef enum {
    DKIM_NONE = 0,
    DKIM_PASS,
    DKIM_FAIL,
    DKIM_NEUTRAL,
    DKIM_TEMPERROR,
    DKIM_PERMERROR,
} dkim_result;

typedef struct dkim_sig_result {
    dkim_result result;
    char domain[256];   /* d= (as written), "" when unparsable */
    char selector[256]; /* s= */
    char auid[256];     /* i= or "@" d= when absent */
    char algo[32];      /* a= */
    char b_prefix[16];  /* first 12 characters of b=, for A-R header.b (RFC 6008) */
    char reason[128];   /* why, for logs and A-R comments; "" on pass */
    int testing;        /* key record has t=y */
} dkim_sig_result;

typedef struct dkim_results {
    size_t found;    /* DKIM-Signature fields in the message */
    size_t count;    /* entries in sig[] (min(found, DKIM_MAX_SIGS)) */
    dkim_sig_result sig[DKIM_MAX_SIGS];
    char error[128]; /* message-level problem (bad header block); "" normally */
} dkim_results;

/* dkim_result_name - "none", "pass", "fail", "neutral", "temperror", "permerror" */
const char *dkim_result_name(dkim_result r);

/* dkim_done_fn - verification finished; res is valid only during the call */
typedef void (*dkim_done_fn)(void *arg, const dkim_results *res);

typedef struct dkim_verify dkim_verify;

/*
 * dkim_verify_start - verify every DKIM signature of msg. msg is only read
 * during the call (all hashing happens here; later only key records and
 * signatures are checked), so the caller may free it on return.
 * When no key lookup is needed (no signature, or none that parses), done
 * runs before this returns and the result is NULL; otherwise done runs
 * later on r's loop, exactly once unless dkim_verify_cancel() is called,
 * and the handle is freed after done returns.
 */
dkim_verify *dkim_verify_start(dns_resolver *r, const char *msg, size_t len, dkim_done_fn done, void *arg);
/* dkim_verify_cancel - cancel the lookups in flight and free v; done is not called */
void dkim_verify_cancel(dkim_verify *v);
/* dkim_verify_set_now - clock used for x= checks by verifications started later (0 = time()); for tests */
void dkim_verify_set_now(time_t now);

/* dkim_verify_sync - dkim_verify_start and loop on base until done (CLI and tests) */
void dkim_verify_sync(struct event_base *base, dns_resolver *r, const char *msg, size_t len, dkim_results *out);

/* --- signing --------------------------------------------------------------------------------- */

typedef enum {
    DKIM_KEY_RSA = 1,
    DKIM_KEY_ED25519 = 2,
} dkim_key_type;

typedef struct dkim_key dkim_key;

typedef enum {
    DKIM_OK = 0,
    DKIM_ERR_MSG = -1,  /* message unusable: no header block, no From, too big */
    DKIM_ERR_KEY = -2,  /* key unusable or crypto failure */
    DKIM_ERR_ARG = -3,  /* bad domain or selector */
} dkim_status;

/*
 * dkim_key_load - read a PEM private key (PKCS#8 or traditional RSA,
 * RSA >= 1024 bits or Ed25519). NULL with err filled on failure; the key is
 * freed with dkim_key_free().
 */
dkim_key *dkim_key_load(const char *path, char *err, size_t errlen);
/* dkim_key_from_pem - the same from memory */
dkim_key *dkim_key_from_pem(const char *pem, size_t len, char *err, size_t errlen);
/* dkim_key_generate - new RSA-2048 or Ed25519 key (caller frees), NULL on crypto failure */
dkim_key *dkim_key_generate(dkim_key_type type);
void dkim_key_free(dkim_key *key);
dkim_key_type dkim_key_get_type(const dkim_key *key);
/* dkim_key_write_pem - write the private key as PKCS#8 PEM to a new file, mode 0600 (O_EXCL); 0 or -1 with err */
int dkim_key_write_pem(const dkim_key *key, const char *path, char *err, size_t errlen);
/* dkim_key_record - append the key record "v=DKIM1; k=rsa; p=BASE64" to out; DKIM_OK or DKIM_ERR_KEY */
dkim_status dkim_key_record(const dkim_key *key, buf *out);

/*
 * dkim_sign - sign msg (CRLF lines) for domain/selector with key and append
 * to header_out the complete "DKIM-Signature: ...\r\n" field, folded at 78
 * columns, to prepend to the message unchanged. Signed: From twice
 * (oversigned, so a second From cannot be added), then those of To, Cc,
 * Subject, Date, Message-ID, Reply-To, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, In-Reply-To, References that are present.
 * t= is now (or dkim_sign_set_now's clock).
 */
dkim_status dkim_sign(const dkim_key *key, const char *domain, const char *selector, const char *msg, size_t len,
                      buf *header_out);
/* dkim_sign_set_now - clock for t= (0 = time()); for reproducible tests */
void dkim_sign_set_now(time_t now);

/* dkim_crlf - append in to out with every bare LF turned into CRLF; BUF_TOO_BIG past out's cap */
buf_status dkim_crlf(const char *in, size_t len, buf *out);

/* --- published key records (for `pochta doctor`) ---------------------------------------------- */

typedef struct dkim_keyrec {
    dkim_key_type type; /* k= (rsa when absent) */
    int bits;           /* key size in bits (RSA modulus; 256 for Ed25519) */
    int testing;        /* t=y */
    int revoked;        /* empty p= */
    void *pkey;         /* EVP_PKEY of the public key, owned; NULL on error */
    char error[128];    /* why the record is unusable */
} dkim_keyrec;

/* dkim_keyrec_parse - read a key record TXT (section 3.6.1); 0, or -1 with info->error. Free with dkim_keyrec_free. */
int dkim_keyrec_parse(const char *txt, size_t len, dkim_keyrec *info);
void dkim_keyrec_free(dkim_keyrec *info);
/* dkim_keyrec_matches - 1 when key's public half is the one published in info, 0 when not, -1 on error */
int dkim_keyrec_matches(const dkim_keyrec *info, const dkim_key *key);

#endif
