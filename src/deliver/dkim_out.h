/*
 * dkim_out - DKIM-sign outgoing mail of our domains (RFC 6376) with the
 * keys in cfg->dkim_key_dir (default state_dir/dkim): every file named
 * DOMAIN.SELECTOR.pem whose DOMAIN is the envelope sender's domain signs
 * (at most DKIM_OUT_MAX_KEYS, e.g. one RSA and one Ed25519). Mail of other
 * domains (forwarded mail) is sent unchanged.
 */
#ifndef POCHTA_DELIVER_DKIM_OUT_H
#define POCHTA_DELIVER_DKIM_OUT_H

#include "lib/buf.h"

struct pochta_config;

#define DKIM_OUT_MAX_KEYS 2

/* One key file of a domain: DIR/DOMAIN.SELECTOR.pem */
typedef struct dkim_out_keyfile {
    char selector[64];
    char path[4400];
} dkim_out_keyfile;

/* dkim_out_find - the key files of domain in the key directory, at most max, in directory order; count */
size_t dkim_out_find(const struct pochta_config *cfg, const char *domain, dkim_out_keyfile *out, size_t max);

/* dkim_out_sign - append DKIM-Signature fields for sender's domain to hdr (may stay empty); count signed */
int dkim_out_sign(const struct pochta_config *cfg, const char *id, const char *sender, const char *msg, size_t len,
                  buf *hdr);

#endif
