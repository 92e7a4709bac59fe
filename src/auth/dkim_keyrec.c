/*
 * dkim_keyrec - read a published DKIM key record (RFC 6376 section 3.6.1)
 * into a description a person can act on: key type, size, flags, and the
 * public key itself, so `pochta doctor` can say "key missing", "malformed",
 * "1024 bits, 2048 recommended" or "does not match our private key".
 *
 * The record syntax is the verifier's (dkim_tags_parse, dkim_b64_decode in
 * dkim_parse.c); the key decoding here (dkim_key_decode) is the one the
 * verifier uses: SubjectPublicKeyInfo or bare PKCS#1 for RSA (erratum
 * 3017), 32 raw bytes for Ed25519 (RFC 8463). Limit: DKIM_KEYREC_MAX_DER decoded bytes.
 */
#include "auth/dkim.h"
#include "auth/dkim_internal.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* DKIM_KEYREC_MAX_DER - largest decoded p= (RSA-8192 SPKI is about 1100 bytes) */
#define DKIM_KEYREC_MAX_DER 2048

/* dkim_key_decode - see dkim_internal.h */
EVP_PKEY *dkim_key_decode(int ed25519, const unsigned char *der, size_t len)
{
    if (ed25519)
        return len == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, len) : NULL;
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return NULL;
    }
    if (!k) {
        p = der; /* RFC 6376 says RSAPublicKey; deployed keys are SPKI (erratum 3017) */
        k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    }
    return k;
}

/* dkim_keyrec_parse - fill info from a key record; 0, or -1 with info->error */
int dkim_keyrec_parse(const char *txt, size_t len, dkim_keyrec *info)
{
    memset(info, 0, sizeof *info);
    dkim_taglist tl;
    if (dkim_tags_parse(txt, len, &tl) < 0)
        return snprintf(info->error, sizeof info->error, "malformed tag list"), -1;
    const dkim_tag *v = dkim_tag_get(&tl, "v"), *k = dkim_tag_get(&tl, "k");
    const dkim_tag *t = dkim_tag_get(&tl, "t"), *p = dkim_tag_get(&tl, "p");
    if (v && (v != &tl.t[0] || !dkim_tag_eq(v, "DKIM1")))
        return snprintf(info->error, sizeof info->error, "v= must be DKIM1 and come first"), -1;
    if (k && !dkim_tag_eq(k, "rsa") && !dkim_tag_eq(k, "ed25519"))
        return snprintf(info->error, sizeof info->error, "unknown key type k=%.*s", (int)k->val_len, k->val), -1;
    if (!p)
        return snprintf(info->error, sizeof info->error, "no p= tag (the public key)"), -1;
    info->type = dkim_tag_eq(k, "ed25519") ? DKIM_KEY_ED25519 : DKIM_KEY_RSA;
    info->testing = t && dkim_list_has(t->val, t->val_len, "y");
    if (p->val_len == 0) {
        info->revoked = 1;
        return snprintf(info->error, sizeof info->error, "empty p=: the key is revoked"), -1;
    }
    unsigned char der[DKIM_KEYREC_MAX_DER];
    size_t dlen;
    if (dkim_b64_decode(p->val, p->val_len, der, sizeof der, &dlen) < 0)
        return snprintf(info->error, sizeof info->error, "p= is not valid base64 (or too long)"), -1;
    info->pkey = dkim_key_decode(info->type == DKIM_KEY_ED25519, der, dlen);
    if (!info->pkey)
        return snprintf(info->error, sizeof info->error, "p= does not hold a usable %s public key",
                        info->type == DKIM_KEY_ED25519 ? "ed25519" : "RSA"), -1;
    info->bits = EVP_PKEY_get_bits(info->pkey);
    return 0;
}

/* dkim_keyrec_free - release the public key of info (the struct itself is the caller's) */
void dkim_keyrec_free(dkim_keyrec *info)
{
    EVP_PKEY_free(info->pkey);
    info->pkey = NULL;
}

/* dkim_keyrec_matches - 1 when our private key's public half is the published one, 0 when not, -1 on error */
int dkim_keyrec_matches(const dkim_keyrec *info, const dkim_key *key)
{
    buf rec;
    buf_init(&rec, 8192);
    dkim_keyrec ours;
    int rc = -1;
    if (info->pkey && dkim_key_record(key, &rec) == DKIM_OK && dkim_keyrec_parse(rec.data, rec.len, &ours) == 0) {
        rc = EVP_PKEY_eq(info->pkey, ours.pkey) == 1;
        dkim_keyrec_free(&ours);
    }
    buf_free(&rec);
    return rc;
}
