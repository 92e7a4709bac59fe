/*
 * dkim_sign - DKIM keys and signing for our own domains (RFC 6376 section
 * 5, RFC 8463 for Ed25519). See dkim.h for the API.
 *
 * Signatures are always relaxed/relaxed (survives the header re-folding
 * and trailing-space changes that relays do), rsa-sha256 or
 * ed25519-sha256, with t= and no x= (an expiry only breaks mail delivered
 * late). The field is folded at DKIM_FOLD columns with CRLF TAB.
 *
 * Keys: PEM private keys (PKCS#8 or traditional RSA) via OpenSSL; RSA of
 * at least 1024 bits (RFC 8301; keygen makes 2048) or Ed25519. The public
 * half is published as p= SubjectPublicKeyInfo for RSA and the raw 32
 * bytes for Ed25519 (RFC 8463 section 4.2).
 */
#include "auth/dkim.h"
#include "auth/dkim_internal.h"

#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* DKIM_FOLD - longest line of the produced field (RFC 5322 section 2.1.1 recommends 78) */
#define DKIM_FOLD 78
/* DKIM_KEY_FILE_MAX - largest PEM file read */
#define DKIM_KEY_FILE_MAX 65536

/* The key keeps a context already set up for signing (RSA: PKCS#1 v1.5 with SHA-256; Ed25519:
 * PureEdDSA), duplicated for each signature: setting one up fetches providers and takes locks,
 * which for Ed25519 costs several percent of the signature itself. */
struct dkim_key {
    EVP_PKEY *pkey;         /* owned */
    dkim_key_type type;
    EVP_PKEY_CTX *rsa_tmpl; /* RSA: sign-initialised template, owned; NULL when it could not be built */
    EVP_MD_CTX *ed_tmpl;    /* Ed25519: DigestSignInit'ed template, owned; NULL likewise */
};

/* The signed header set, in h= order; From is listed twice (oversigned). */
static const char *const dkim_sign_fields[] = {
    "from", "to", "cc", "subject", "date", "message-id", "reply-to", "mime-version", "content-type",
    "content-transfer-encoding", "in-reply-to", "references",
};

static time_t dkim_sign_now;

/* dkim_sign_set_now - fixed t= for tests */
void dkim_sign_set_now(time_t now)
{
    dkim_sign_now = now;
}

/* dkim_rsa_sign_ctx - a sign context for pkey: PKCS#1 v1.5 padding, SHA-256 digest; NULL on failure */
static EVP_PKEY_CTX *dkim_rsa_sign_ctx(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_PKEY_CTX_set_signature_md(ctx, dkim_sha256()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

/* dkim_ed_sign_ctx - a PureEdDSA sign context for pkey; NULL on failure */
static EVP_MD_CTX *dkim_ed_sign_ctx(EVP_PKEY *pkey)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1)
        return md;
    EVP_MD_CTX_free(md);
    return NULL;
}

/* dkim_key_new - wrap pkey (ownership taken) with its sign template (caller frees with dkim_key_free) */
static dkim_key *dkim_key_new(EVP_PKEY *pkey, dkim_key_type type)
{
    dkim_key *k = xcalloc(1, sizeof *k);
    k->pkey = pkey;
    k->type = type;
    if (type == DKIM_KEY_RSA)
        k->rsa_tmpl = dkim_rsa_sign_ctx(pkey);
    else
        k->ed_tmpl = dkim_ed_sign_ctx(pkey);
    ERR_clear_error(); /* a missing template only means the slower path per signature */
    return k;
}

/* dkim_key_wrap - check the type and size of pkey and take ownership; NULL (pkey freed) when unusable */
static dkim_key *dkim_key_wrap(EVP_PKEY *pkey, char *err, size_t errlen)
{
    dkim_key_type type;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) >= 1024) {
        type = DKIM_KEY_RSA;
    } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
        type = DKIM_KEY_ED25519;
    } else {
        snprintf(err, errlen, "key is neither RSA (>= 1024 bits) nor Ed25519");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return dkim_key_new(pkey, type);
}

/* dkim_key_from_pem - parse a PEM private key from memory */
dkim_key *dkim_key_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    if (len > DKIM_KEY_FILE_MAX) {
        snprintf(err, errlen, "key file too big");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        snprintf(err, errlen, "not a PEM private key");
        ERR_clear_error();
        return NULL;
    }
    return dkim_key_wrap(pkey, err, errlen);
}

/* dkim_key_load - read and parse a PEM file */
dkim_key *dkim_key_load(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = xmalloc(DKIM_KEY_FILE_MAX + 1);
    size_t n = fread(data, 1, DKIM_KEY_FILE_MAX + 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    dkim_key *k = NULL;
    if (bad)
        snprintf(err, errlen, "%s: read error", path);
    else
        k = dkim_key_from_pem(data, n, err, errlen);
    OPENSSL_cleanse(data, DKIM_KEY_FILE_MAX + 1);
    free(data);
    return k;
}

/* dkim_key_generate - fresh RSA-2048 or Ed25519 key */
dkim_key *dkim_key_generate(dkim_key_type type)
{
    EVP_PKEY *pkey = type == DKIM_KEY_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                          : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey)
        return NULL;
    return dkim_key_new(pkey, type);
}

/* dkim_key_free - release the key; NULL is fine */
void dkim_key_free(dkim_key *key)
{
    if (!key)
        return;
    EVP_PKEY_CTX_free(key->rsa_tmpl);
    EVP_MD_CTX_free(key->ed_tmpl);
    EVP_PKEY_free(key->pkey);
    free(key);
}

/* dkim_key_get_type - RSA or Ed25519 */
dkim_key_type dkim_key_get_type(const dkim_key *key)
{
    return key->type;
}

/* dkim_key_write_pem - PKCS#8 PEM to a new 0600 file */
int dkim_key_write_pem(const dkim_key *key, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    int ok = PEM_write_PrivateKey(fp, key->pkey, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fflush(fp) == 0 && ok;
    ok = fsync(fd) == 0 && ok;
    ok = fclose(fp) == 0 && ok;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed", path);
        unlink(path);
        return -1;
    }
    return 0;
}

/* dkim_key_record - "v=DKIM1; k=...; p=..." for the DNS */
dkim_status dkim_key_record(const dkim_key *key, buf *out)
{
    unsigned char raw[32], *der = NULL;
    size_t len = sizeof raw;
    const unsigned char *pub = raw;
    if (key->type == DKIM_KEY_ED25519) {
        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &len) != 1)
            return DKIM_ERR_KEY;
    } else {
        int n = i2d_PUBKEY(key->pkey, &der);
        if (n <= 0)
            return DKIM_ERR_KEY;
        pub = der;
        len = (size_t)n;
    }
    buf_status st = buf_printf(out, "v=DKIM1; k=%s; p=", key->type == DKIM_KEY_RSA ? "rsa" : "ed25519");
    if (st == BUF_OK)
        st = dkim_b64_encode(pub, len, out);
    OPENSSL_free(der);
    return st == BUF_OK ? DKIM_OK : DKIM_ERR_KEY;
}

typedef struct dkim_folder {
    buf *out;
    size_t col; /* length of the current line */
} dkim_folder;

/* dkim_fold_word - append word, first breaking the line (CRLF TAB) if it would pass DKIM_FOLD */
static buf_status dkim_fold_word(dkim_folder *f, const char *word, size_t len, int space)
{
    if (f->col + (space ? 1 : 0) + len > DKIM_FOLD) {
        if (buf_append(f->out, "\r\n\t", 3) != BUF_OK)
            return BUF_TOO_BIG;
        f->col = 1;
    } else if (space) {
        if (buf_append_char(f->out, ' ') != BUF_OK)
            return BUF_TOO_BIG;
        f->col++;
    }
    f->col += len;
    return buf_append(f->out, word, len);
}

/* dkim_sign_hlist - the h= names to sign: from twice, then those present */
static void dkim_sign_hlist(const dkim_msg *m, buf *h)
{
    buf_append_str(h, "from");
    for (size_t i = 0; i < sizeof dkim_sign_fields / sizeof dkim_sign_fields[0]; i++) {
        const char *n = dkim_sign_fields[i];
        for (size_t k = 0; k < m->nf; k++)
            if (dkim_field_is(&m->f[k], n, strlen(n))) {
                buf_append_char(h, ':');
                buf_append_str(h, n);
                break;
            }
    }
}

/* dkim_fold_tag - dkim_fold_word of pre + val[0..vlen) + post (each piece under 300 bytes) */
static buf_status dkim_fold_tag(dkim_folder *f, const char *pre, const char *val, size_t vlen, const char *post,
                                int space)
{
    char w[900];
    size_t pl = strlen(pre), ql = strlen(post);
    if (pl >= 300 || vlen >= 300 || ql >= 300)
        return BUF_TOO_BIG;
    memcpy(w, pre, pl);
    memcpy(w + pl, val, vlen);
    memcpy(w + pl + vlen, post, ql);
    return dkim_fold_word(f, w, pl + vlen + ql, space);
}

/* dkim_build_unsigned - append the field up to and including "b=", folded, to f->out */
static buf_status dkim_build_unsigned(const dkim_key *key, const char *domain, const char *selector, const char *hl,
                                      const unsigned char bh[32], dkim_folder *f)
{
    buf_status st = buf_append_str(f->out, "DKIM-Signature:");
    f->col = 15;
    const char *alg = key->type == DKIM_KEY_RSA ? "rsa-sha256" : "ed25519-sha256";
    char now[32];
    snprintf(now, sizeof now, "%lld", (long long)(dkim_sign_now ? dkim_sign_now : time(NULL)));
    const char *tags[][2] = {{"v=", "1"}, {"a=", alg}, {"c=", "relaxed/relaxed"}, {"d=", domain}, {"s=", selector},
                             {"t=", now}};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0] && st == BUF_OK; i++)
        st = dkim_fold_tag(f, tags[i][0], tags[i][1], strlen(tags[i][1]), ";", 1);
    /* h= may break after any colon (FWS is allowed around them) */
    const char *p = hl;
    int first = 1;
    while (st == BUF_OK && *p) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) + 1 : strlen(p);
        st = dkim_fold_tag(f, first ? "h=" : "", p, n, c ? "" : ";", first);
        first = 0;
        p += n;
    }
    buf b64;
    buf_init(&b64, 128);
    dkim_b64_encode(bh, 32, &b64);
    if (st == BUF_OK)
        st = dkim_fold_tag(f, "bh=", b64.data, b64.len, ";", 1);
    buf_free(&b64);
    if (st == BUF_OK)
        st = dkim_fold_word(f, "b=", 2, 1);
    return st;
}

/* dkim_sign_digest - the private-key operation over the SHA-256 digest, on a copy of the key's template */
static int dkim_sign_digest(const dkim_key *key, const unsigned char dg[32], unsigned char *sig, size_t *siglen)
{
    int ok;
    if (key->type == DKIM_KEY_RSA) {
        EVP_PKEY_CTX *ctx = key->rsa_tmpl ? EVP_PKEY_CTX_dup(key->rsa_tmpl) : dkim_rsa_sign_ctx(key->pkey);
        ok = ctx && EVP_PKEY_sign(ctx, sig, siglen, dg, 32) == 1;
        EVP_PKEY_CTX_free(ctx);
    } else {
        EVP_MD_CTX *md = NULL;
        if (key->ed_tmpl) {
            md = EVP_MD_CTX_new();
            if (md && EVP_MD_CTX_copy_ex(md, key->ed_tmpl) != 1) {
                EVP_MD_CTX_free(md);
                md = NULL;
            }
        } else {
            md = dkim_ed_sign_ctx(key->pkey);
        }
        ok = md && EVP_DigestSign(md, sig, siglen, dg, 32) == 1;
        EVP_MD_CTX_free(md);
    }
    return ok ? 0 : -1;
}

/* dkim_fold_b64 - append the base64 of sig to f->out, filling each line up to the fold column */
static void dkim_fold_b64(dkim_folder *f, const unsigned char *sig, size_t siglen)
{
    buf b64;
    buf_init(&b64, 4096);
    dkim_buf_room(&b64, DKIM_ROOM);
    dkim_b64_encode(sig, siglen, &b64);
    for (size_t off = 0; off < b64.len;) {
        size_t room = f->col < DKIM_FOLD ? DKIM_FOLD - f->col : 0;
        if (room == 0) {
            buf_append(f->out, "\r\n\t", 3);
            f->col = 1;
            continue;
        }
        size_t n = b64.len - off < room ? b64.len - off : room;
        buf_append(f->out, b64.data + off, n);
        f->col += n;
        off += n;
    }
    buf_free(&b64);
}

/* dkim_sign - build, hash and sign the DKIM-Signature field */
dkim_status dkim_sign(const dkim_key *key, const char *domain, const char *selector, const char *msg, size_t len,
                      buf *header_out)
{
    if (!dkim_name_ok(domain) || !dkim_name_ok(selector))
        return DKIM_ERR_ARG;
    if (len > DKIM_MAX_MSG)
        return DKIM_ERR_MSG;
    char err[128];
    dkim_msg m;
    if (dkim_msg_parse(msg, len, &m, err, sizeof err) < 0)
        return DKIM_ERR_MSG;
    dkim_status rc = DKIM_ERR_MSG;
    buf hl, hdr, scratch;
    buf_init(&hl, 4096);
    buf_init(&hdr, 8192);
    buf_init(&scratch, len + 65536); /* also holds our own field */
    dkim_buf_room(&hdr, DKIM_ROOM);  /* one allocation each for the usual sizes */
    dkim_buf_room(&scratch, DKIM_ROOM);
    dkim_body body;
    buf_init(&body.rel, len + 3);
    unsigned char bh[32], dg[32], sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new(); /* body hash, then header hash */
    int has_from = 0;
    for (size_t i = 0; i < m.nf; i++)
        has_from |= dkim_field_is(&m.f[i], "from", 4);
    if (!has_from || !md || dkim_body_canon(1, m.body, m.body_len, &body) < 0 ||
        dkim_body_hash(md, &body, (size_t)-1, bh) < 0)
        goto done;
    dkim_sign_hlist(&m, &hl);
    dkim_folder f = {&hdr, 0};
    rc = DKIM_ERR_KEY;
    if (dkim_build_unsigned(key, domain, selector, buf_cstr(&hl), bh, &f) != BUF_OK)
        goto done;
    if (EVP_DigestInit_ex(md, dkim_sha256(), NULL) != 1 || dkim_hash_fields(md, &m, 1, hl.data, hl.len, &scratch) < 0)
        goto done;
    buf_reset(&scratch);
    if (dkim_canon_header(1, hdr.data, hdr.len, 14, &scratch) != BUF_OK ||
        EVP_DigestUpdate(md, scratch.data, scratch.len - 2) != 1 || EVP_DigestFinal_ex(md, dg, NULL) != 1 ||
        dkim_sign_digest(key, dg, sig, &siglen) < 0)
        goto done;
    dkim_fold_b64(&f, sig, siglen);
    if (buf_append(&hdr, "\r\n", 2) == BUF_OK && buf_append(header_out, hdr.data, hdr.len) == BUF_OK)
        rc = DKIM_OK;
done:
    EVP_MD_CTX_free(md);
    buf_free(&hl);
    buf_free(&hdr);
    buf_free(&scratch);
    buf_free(&body.rel);
    dkim_msg_free(&m);
    return rc;
}
