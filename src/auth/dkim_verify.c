/*
 * dkim_verify - asynchronous DKIM verification (RFC 6376 section 6, RFC
 * 8301, RFC 8463). See dkim.h for the API and the result mapping.
 *
 * dkim_verify_start does all the work that needs the message: parse each
 * DKIM-Signature (section 3.5, strictly), check the body hash (so a broken
 * body costs no DNS query), and compute the SHA-256 of the header hash
 * input (section 3.7). What is left per signature is the digest, the
 * decoded b= and the i= domain; then one TXT lookup per signature and, on
 * its answer, the key record check (section 3.6.1) and one EVP verify.
 *
 * Ownership: the dkim_verify handle owns everything; it is freed after done
 * returns or by dkim_verify_cancel.
 */
#include "auth/dkim.h"
#include "auth/dkim_internal.h"

#include "lib/xalloc.h"

#include <event2/event.h>
#include <pthread.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DKIM_MAX_SIG_BYTES - largest b= accepted (RSA-8192 is 1024 bytes) */
#define DKIM_MAX_SIG_BYTES 1024
/* DKIM_MAX_KEY_BYTES - largest decoded p= accepted (RSA-8192 SPKI is about 1100 bytes) */
#define DKIM_MAX_KEY_BYTES 2048
/* DKIM_MIN_RSA_BITS - RFC 8301 section 3.2: shorter RSA keys must not be accepted */
#define DKIM_MIN_RSA_BITS 1024

typedef enum { ALG_RSA_SHA256 = 1, ALG_ED25519_SHA256 = 2 } dkim_alg;

typedef struct dkim_sig_state {
    struct dkim_verify *v;
    dkim_sig_result *res;
    dkim_alg alg;
    unsigned char digest[32];    /* SHA-256 of the header hash input */
    unsigned char *sig;          /* decoded b=, owned */
    size_t sig_len;
    dns_query *q;                /* in flight, or NULL */
} dkim_sig_state;

struct dkim_verify {
    dns_resolver *r;
    dkim_done_fn done;
    void *arg;
    size_t pending;
    dkim_results res;
    dkim_sig_state st[DKIM_MAX_SIGS];
};

static time_t dkim_now_override;

/* dkim_verify_set_now - fixed clock for tests */
void dkim_verify_set_now(time_t now)
{
    dkim_now_override = now;
}

/* dkim_set - record a final result and its reason */
static void dkim_set(dkim_sig_result *r, dkim_result res, const char *reason)
{
    size_t n = strlen(reason);
    if (n >= sizeof r->reason)
        n = sizeof r->reason - 1;
    r->result = res;
    memcpy(r->reason, reason, n);
    r->reason[n] = '\0';
}

/* dkim_copy_tag - copy a tag value into a fixed field (truncating; for reporting only) */
static void dkim_copy_tag(char *dst, size_t dstlen, const dkim_tag *t)
{
    if (!t) {
        dst[0] = '\0';
        return;
    }
    size_t n = t->val_len < dstlen - 1 ? t->val_len : dstlen - 1;
    memcpy(dst, t->val, n);
    dst[n] = '\0';
}

/* dkim_parse_u64 - decimal up to 20 digits; 0 or -1 */
static int dkim_parse_u64(const dkim_tag *t, unsigned long long *out)
{
    if (t->val_len == 0 || t->val_len > 20)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < t->val_len; i++) {
        if (t->val[i] < '0' || t->val[i] > '9')
            return -1;
        unsigned d = (unsigned)(t->val[i] - '0');
        if (v > (~0ULL - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* dkim_auid_ok - section 3.5 i=: its domain must be d= or a subdomain of it */
static int dkim_auid_ok(const char *auid, const char *d)
{
    const char *at = strrchr(auid, '@');
    if (!at)
        return 0;
    const char *dom = at + 1;
    size_t dl = strlen(dom), l = strlen(d);
    if (dl == l)
        return strcasecmp(dom, d) == 0;
    return dl > l && dom[dl - l - 1] == '.' && strcasecmp(dom + dl - l, d) == 0;
}

/* Per-message hashing state shared by the signatures of one message */
typedef struct dkim_bodies {
    dkim_body b[2]; /* [0] simple, [1] relaxed */
    int have[2];
    EVP_MD_CTX *md; /* body and header hashes, one after another; owned */
} dkim_bodies;

/* The tags of one DKIM-Signature that verification reads, each NULL when absent. Picked in one
 * pass over the tag list, as every message needs a dozen of them. */
typedef struct dkim_sig_tags {
    const dkim_tag *v, *a, *b, *bh, *c, *d, *h, *i, *l, *q, *s, *t, *x;
} dkim_sig_tags;

/* dkim_sig_tags_pick - fill *st from tl (names are case-sensitive, section 3.2; others are ignored) */
static void dkim_sig_tags_pick(const dkim_taglist *tl, dkim_sig_tags *st)
{
    memset(st, 0, sizeof *st);
    for (size_t k = 0; k < tl->n; k++) {
        const dkim_tag *t = &tl->t[k];
        if (t->name_len == 2 && t->name[0] == 'b' && t->name[1] == 'h') {
            st->bh = t;
            continue;
        }
        if (t->name_len != 1)
            continue;
        switch (t->name[0]) {
        case 'v': st->v = t; break;
        case 'a': st->a = t; break;
        case 'b': st->b = t; break;
        case 'c': st->c = t; break;
        case 'd': st->d = t; break;
        case 'h': st->h = t; break;
        case 'i': st->i = t; break;
        case 'l': st->l = t; break;
        case 'q': st->q = t; break;
        case 's': st->s = t; break;
        case 't': st->t = t; break;
        case 'x': st->x = t; break;
        default: break;
        }
    }
}

/* dkim_check_tags - section 6.1.1 checks that need no DNS; returns the failing result or DKIM_PASS */
static dkim_result dkim_check_tags(dkim_sig_state *st, const dkim_sig_tags *tg, int *hrel, int *brel, char *why,
                                   size_t whylen)
{
    dkim_sig_result *r = st->res;
    const dkim_tag *a = tg->a, *c = tg->c, *q = tg->q, *h = tg->h, *i = tg->i, *t = tg->t, *x = tg->x;
    if (!dkim_tag_eq(tg->v, "1"))
        return snprintf(why, whylen, "invalid version"), DKIM_PERMERROR;
    if (!a || !h || !tg->b || !tg->bh || !r->domain[0] || !r->selector[0])
        return snprintf(why, whylen, "missing required tag"), DKIM_PERMERROR;
    if (dkim_tag_eq(a, "rsa-sha256"))
        st->alg = ALG_RSA_SHA256;
    else if (dkim_tag_eq(a, "ed25519-sha256"))
        st->alg = ALG_ED25519_SHA256;
    else if (dkim_tag_eq(a, "rsa-sha1"))
        return snprintf(why, whylen, "rsa-sha1 not accepted (RFC 8301)"), DKIM_FAIL;
    else
        return snprintf(why, whylen, "unsupported algorithm"), DKIM_PERMERROR;
    *hrel = *brel = 0;
    if (c) {
        const char *slash = memchr(c->val, '/', c->val_len);
        size_t hl = slash ? (size_t)(slash - c->val) : c->val_len;
        const char *bp = slash ? slash + 1 : "simple";
        size_t bl = slash ? c->val_len - hl - 1 : 6;
        if (hl == 7 && memcmp(c->val, "relaxed", 7) == 0)
            *hrel = 1;
        else if (!(hl == 6 && memcmp(c->val, "simple", 6) == 0))
            return snprintf(why, whylen, "unsupported canonicalization"), DKIM_PERMERROR;
        if (bl == 7 && memcmp(bp, "relaxed", 7) == 0)
            *brel = 1;
        else if (!(bl == 6 && memcmp(bp, "simple", 6) == 0))
            return snprintf(why, whylen, "unsupported canonicalization"), DKIM_PERMERROR;
    }
    if (q && !dkim_list_has(q->val, q->val_len, "dns/txt"))
        return snprintf(why, whylen, "unsupported query method"), DKIM_PERMERROR;
    if (!dkim_list_has(h->val, h->val_len, "from"))
        return snprintf(why, whylen, "From not signed"), DKIM_PERMERROR;
    if (!dkim_name_ok(r->domain) || !dkim_name_ok(r->selector))
        return snprintf(why, whylen, "bad d= or s="), DKIM_PERMERROR;
    if (i && !dkim_auid_ok(r->auid, r->domain))
        return snprintf(why, whylen, "i= not within d="), DKIM_PERMERROR;
    unsigned long long tv = 0, xv = 0;
    if ((t && dkim_parse_u64(t, &tv) < 0) || (x && dkim_parse_u64(x, &xv) < 0))
        return snprintf(why, whylen, "bad t= or x="), DKIM_PERMERROR;
    if (t && x && xv < tv)
        return snprintf(why, whylen, "x= before t="), DKIM_PERMERROR;
    time_t now = dkim_now_override ? dkim_now_override : time(NULL);
    if (x && xv < (unsigned long long)now)
        return snprintf(why, whylen, "signature expired"), DKIM_FAIL;
    return DKIM_PASS;
}

/* dkim_hash_sig_field - feed md the DKIM-Signature field itself with b='s value removed, no final CRLF */
static int dkim_hash_sig_field(EVP_MD_CTX *md, const dkim_field *f, const dkim_tag *b, int hrel, buf *scratch)
{
    buf_reset(scratch);
    if (dkim_canon_header_cut(hrel, f->p, f->len, f->name_len, (size_t)(b->val - f->p), b->val_len, scratch) != BUF_OK)
        return -1;
    return EVP_DigestUpdate(md, scratch->data, scratch->len - 2) == 1 ? 0 : -1; /* canon always ends in CRLF */
}

/* dkim_report_tags - fill r's d=, s=, a=, i= (or "@" d=) and the b= prefix for reporting */
static void dkim_report_tags(dkim_sig_result *r, const dkim_sig_tags *tg)
{
    const dkim_tag *b = tg->b;
    dkim_copy_tag(r->domain, sizeof r->domain, tg->d);
    dkim_copy_tag(r->selector, sizeof r->selector, tg->s);
    dkim_copy_tag(r->algo, sizeof r->algo, tg->a);
    if (tg->i) {
        dkim_copy_tag(r->auid, sizeof r->auid, tg->i);
    } else {
        size_t n = strlen(r->domain) < sizeof r->auid - 2 ? strlen(r->domain) : sizeof r->auid - 2;
        r->auid[0] = '@';
        memcpy(r->auid + 1, r->domain, n);
        r->auid[n + 1] = '\0';
    }
    if (b) {
        size_t k = 0;
        for (size_t j = 0; j < b->val_len && k < 12; j++)
            if (b->val[j] > ' ')
                r->b_prefix[k++] = b->val[j];
        r->b_prefix[k] = '\0';
    }
}

/* dkim_prepare - parse one signature and do the hashing; DKIM_PASS means "now look up the key" */
static dkim_result dkim_prepare(dkim_sig_state *st, const dkim_msg *m, const dkim_field *f, dkim_bodies *bodies,
                                buf *scratch, char *why, size_t whylen)
{
    dkim_sig_result *r = st->res;
    dkim_taglist tl;
    dkim_sig_tags tg;
    const char *colon = memchr(f->p, ':', f->len);
    if (dkim_tags_parse(colon + 1, f->len - (size_t)(colon + 1 - f->p), &tl) < 0)
        return snprintf(why, whylen, "malformed tag list"), DKIM_PERMERROR;
    dkim_sig_tags_pick(&tl, &tg);
    const dkim_tag *b = tg.b, *bh = tg.bh, *l = tg.l, *h = tg.h;
    dkim_report_tags(r, &tg);
    int hrel, brel;
    dkim_result res = dkim_check_tags(st, &tg, &hrel, &brel, why, whylen);
    if (res != DKIM_PASS)
        return res;
    unsigned char want_bh[64], got_bh[32];
    size_t bhlen;
    if (dkim_b64_decode(bh->val, bh->val_len, want_bh, sizeof want_bh, &bhlen) < 0 || bhlen != 32)
        return snprintf(why, whylen, "bad bh="), DKIM_PERMERROR;
    unsigned char sig[DKIM_MAX_SIG_BYTES];
    if (dkim_b64_decode(b->val, b->val_len, sig, sizeof sig, &st->sig_len) < 0 || st->sig_len == 0)
        return snprintf(why, whylen, "bad b="), DKIM_PERMERROR;
    st->sig = xmalloc(st->sig_len); /* its own size: a small block is cheaper to get than the largest */
    memcpy(st->sig, sig, st->sig_len);
    unsigned long long lv = (unsigned long long)-1;
    if (l && dkim_parse_u64(l, &lv) < 0)
        return snprintf(why, whylen, "bad l="), DKIM_PERMERROR;
    if (!bodies->have[brel]) {
        if (dkim_body_canon(brel, m->body, m->body_len, &bodies->b[brel]) < 0)
            return snprintf(why, whylen, "body too big"), DKIM_PERMERROR;
        bodies->have[brel] = 1;
    }
    size_t limit = lv > (unsigned long long)SIZE_MAX - 1 ? (size_t)-2 : (size_t)lv;
    if (!l)
        limit = (size_t)-1;
    if (!bodies->md)
        return snprintf(why, whylen, "out of memory"), DKIM_TEMPERROR;
    if (dkim_body_hash(bodies->md, &bodies->b[brel], limit, got_bh) < 0)
        return snprintf(why, whylen, "l= longer than body"), DKIM_FAIL;
    if (memcmp(got_bh, want_bh, 32) != 0)
        return snprintf(why, whylen, "body hash mismatch"), DKIM_FAIL;
    EVP_MD_CTX *md = bodies->md;
    int ok = EVP_DigestInit_ex(md, dkim_sha256(), NULL) == 1 &&
             dkim_hash_fields(md, m, hrel, h->val, h->val_len, scratch) == 0 &&
             dkim_hash_sig_field(md, f, b, hrel, scratch) == 0 && EVP_DigestFinal_ex(md, st->digest, NULL) == 1;
    if (!ok)
        return snprintf(why, whylen, "bad h="), DKIM_PERMERROR;
    return DKIM_PASS;
}

/* DKIM_KEY_CACHE - decoded public keys kept: OpenSSL 3 key decoding costs several
 * times an RSA verify, and mail from one sender reuses one key. Entries are keyed
 * by the whole key record as published (a hit parses no tags and decodes no base64;
 * only records that passed every check are kept) and hold a verify context already
 * set up (RSA: PKCS#1 v1.5 with SHA-256; Ed25519: PureEdDSA): duplicating it is
 * cheaper than building one per message (provider fetches, locks). */
#define DKIM_KEY_CACHE 32
/* DKIM_KEY_TEXT_MAX - longest key record cached (base64 of DKIM_MAX_KEY_BYTES plus tags) */
#define DKIM_KEY_TEXT_MAX 4096

/* A usable public key with its verify context (exactly one of rsa/ed set; either may be NULL
 * when it could not be built, then dkim_check_sig builds one). Owned by whoever holds it. */
typedef struct dkim_vkey {
    EVP_PKEY *key;
    EVP_PKEY_CTX *rsa; /* verify-initialised for RSA */
    EVP_MD_CTX *ed;    /* DigestVerifyInit'ed for Ed25519 */
} dkim_vkey;

typedef struct dkim_cached_key {
    char text[DKIM_KEY_TEXT_MAX];
    size_t len;
    dkim_alg alg;
    dkim_vkey k;           /* templates, owned by the cache (one reference to the key) */
    int strict, testing;   /* t=s, t=y */
    unsigned long used;
} dkim_cached_key;

static dkim_cached_key dkim_cache[DKIM_KEY_CACHE];
static unsigned long dkim_cache_clock;
static pthread_mutex_t dkim_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* dkim_rsa_vctx - a verify context for key: PKCS#1 v1.5 padding, SHA-256 digest; NULL on failure */
static EVP_PKEY_CTX *dkim_rsa_vctx(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    if (ctx && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_PKEY_CTX_set_signature_md(ctx, dkim_sha256()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

/* dkim_ed_vctx - a PureEdDSA verify context for key; NULL on failure */
static EVP_MD_CTX *dkim_ed_vctx(EVP_PKEY *key)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1)
        return md;
    EVP_MD_CTX_free(md);
    return NULL;
}

/* dkim_vkey_clear - release what k holds */
static void dkim_vkey_clear(dkim_vkey *k)
{
    EVP_PKEY_CTX_free(k->rsa);
    EVP_MD_CTX_free(k->ed);
    EVP_PKEY_free(k->key);
    memset(k, 0, sizeof *k);
}

/* dkim_vkey_copy - out gets a reference to in's key and duplicates of its contexts; 0 or -1 */
static int dkim_vkey_copy(const dkim_vkey *in, dkim_vkey *out)
{
    memset(out, 0, sizeof *out);
    if (EVP_PKEY_up_ref(in->key) != 1)
        return -1;
    out->key = in->key;
    if (in->rsa)
        out->rsa = EVP_PKEY_CTX_dup(in->rsa);
    if (in->ed && (out->ed = EVP_MD_CTX_new()) && EVP_MD_CTX_copy_ex(out->ed, in->ed) != 1) {
        EVP_MD_CTX_free(out->ed);
        out->ed = NULL;
    }
    return 0;
}

/* dkim_key_hit - the cached entry for record txt copied into *k (dkim_vkey_copy), flags[0..1]
 * strict and testing; 1 on a hit. Takes the lock. */
static int dkim_key_hit(dkim_alg alg, const char *txt, size_t len, dkim_vkey *k, int *flags)
{
    int hit = 0;
    memset(k, 0, sizeof *k);
    if (len > DKIM_KEY_TEXT_MAX)
        return 0;
    pthread_mutex_lock(&dkim_cache_lock);
    for (size_t i = 0; i < DKIM_KEY_CACHE && !hit; i++) {
        dkim_cached_key *c = &dkim_cache[i];
        if (!c->k.key || c->alg != alg || c->len != len || memcmp(c->text, txt, len) != 0)
            continue;
        c->used = ++dkim_cache_clock;
        flags[0] = c->strict;
        flags[1] = c->testing;
        hit = dkim_vkey_copy(&c->k, k) == 0;
    }
    pthread_mutex_unlock(&dkim_cache_lock);
    return hit;
}

/* dkim_key_insert - decode p= into *k (key and verify context, the caller's) and keep a copy under
 * record txt; 0, or -1 when p= is unusable */
static int dkim_key_insert(dkim_alg alg, const char *txt, size_t len, const dkim_tag *p, const int *flags,
                           dkim_vkey *k)
{
    unsigned char der[DKIM_MAX_KEY_BYTES];
    size_t dlen;
    memset(k, 0, sizeof *k);
    if (dkim_b64_decode(p->val, p->val_len, der, sizeof der, &dlen) < 0 ||
        !(k->key = dkim_key_decode(alg == ALG_ED25519_SHA256, der, dlen)))
        return -1;
    if (alg == ALG_ED25519_SHA256)
        k->ed = dkim_ed_vctx(k->key);
    else
        k->rsa = dkim_rsa_vctx(k->key);
    dkim_vkey kept;
    if (len > DKIM_KEY_TEXT_MAX || dkim_vkey_copy(k, &kept) < 0)
        return 0;
    pthread_mutex_lock(&dkim_cache_lock);
    dkim_cached_key *victim = &dkim_cache[0];
    for (size_t i = 1; i < DKIM_KEY_CACHE; i++)
        if (dkim_cache[i].used < victim->used)
            victim = &dkim_cache[i];
    dkim_vkey_clear(&victim->k); /* a racing insert may pick the same slot: last one wins, no leak */
    memcpy(victim->text, txt, len);
    victim->len = len;
    victim->alg = alg;
    victim->k = kept;
    victim->strict = flags[0];
    victim->testing = flags[1];
    victim->used = ++dkim_cache_clock;
    pthread_mutex_unlock(&dkim_cache_lock);
    return 0;
}

/* dkim_key_check - parse one key record (section 3.6.1); DKIM_PASS with *key filled, or the error */
static dkim_result dkim_key_check(dkim_sig_state *st, const char *txt, size_t len, dkim_vkey *key, int *strict,
                                   char *why, size_t whylen)
{
    dkim_taglist tl;
    int flags[2];
    if (dkim_key_hit(st->alg, txt, len, key, flags)) {
        *strict = flags[0];
        st->res->testing = flags[1];
        return DKIM_PASS;
    }
    if (dkim_tags_parse(txt, len, &tl) < 0)
        return snprintf(why, whylen, "malformed key record"), DKIM_PERMERROR;
    const dkim_tag *v = dkim_tag_get(&tl, "v"), *h = dkim_tag_get(&tl, "h"), *k = dkim_tag_get(&tl, "k");
    const dkim_tag *s = dkim_tag_get(&tl, "s"), *t = dkim_tag_get(&tl, "t"), *p = dkim_tag_get(&tl, "p");
    if (v && (v != &tl.t[0] || !dkim_tag_eq(v, "DKIM1")))
        return snprintf(why, whylen, "bad key record version"), DKIM_PERMERROR;
    if (!p)
        return snprintf(why, whylen, "key record without p="), DKIM_PERMERROR;
    if (p->val_len == 0)
        return snprintf(why, whylen, "key revoked"), DKIM_PERMERROR;
    if (h && !dkim_list_has(h->val, h->val_len, "sha256"))
        return snprintf(why, whylen, "key does not allow sha256"), DKIM_PERMERROR;
    int want_ed = st->alg == ALG_ED25519_SHA256;
    if (k && !dkim_tag_eq(k, "rsa") && !dkim_tag_eq(k, "ed25519"))
        return snprintf(why, whylen, "unknown key type"), DKIM_PERMERROR;
    if (want_ed != dkim_tag_eq(k, "ed25519"))
        return snprintf(why, whylen, "key type does not match a="), DKIM_PERMERROR;
    if (s && !dkim_list_has(s->val, s->val_len, "*") && !dkim_list_has(s->val, s->val_len, "email"))
        return snprintf(why, whylen, "key not for email"), DKIM_PERMERROR;
    *strict = flags[0] = t && dkim_list_has(t->val, t->val_len, "s");
    st->res->testing = flags[1] = t && dkim_list_has(t->val, t->val_len, "y");
    if (dkim_key_insert(st->alg, txt, len, p, flags, key) < 0)
        return snprintf(why, whylen, "bad p= or unusable public key"), DKIM_PERMERROR;
    return DKIM_PASS;
}

/* dkim_check_sig - the public-key operation over the prepared digest, on k's context (built here when missing) */
static dkim_result dkim_check_sig(dkim_sig_state *st, dkim_vkey *k, char *why, size_t whylen)
{
    int ok = 0;
    if (st->alg == ALG_RSA_SHA256) {
        if (EVP_PKEY_get_bits(k->key) < DKIM_MIN_RSA_BITS)
            return snprintf(why, whylen, "RSA key shorter than %d bits (RFC 8301)", DKIM_MIN_RSA_BITS), DKIM_FAIL;
        if (!k->rsa)
            k->rsa = dkim_rsa_vctx(k->key);
        ok = k->rsa && EVP_PKEY_verify(k->rsa, st->sig, st->sig_len, st->digest, sizeof st->digest) == 1;
    } else {
        /* RFC 8463 section 3: PureEdDSA over the SHA-256 of the header hash input */
        if (!k->ed)
            k->ed = dkim_ed_vctx(k->key);
        ok = k->ed && EVP_DigestVerify(k->ed, st->sig, st->sig_len, st->digest, sizeof st->digest) == 1;
    }
    if (!ok)
        return snprintf(why, whylen, "signature did not verify"), DKIM_FAIL;
    return DKIM_PASS;
}

/* dkim_verify_free - release v and the decoded signatures of the slots in use */
static void dkim_verify_free(dkim_verify *v)
{
    for (size_t i = 0; i < v->res.count; i++)
        free(v->st[i].sig);
    free(v);
}

/* dkim_finish_one - one lookup less; the last one reports and frees */
static void dkim_finish_one(dkim_verify *v)
{
    if (--v->pending > 0)
        return;
    v->done(v->arg, &v->res);
    dkim_verify_free(v);
}

/* dkim_key_answer - DNS callback: pick the key record matching a= and verify */
static void dkim_key_answer(void *arg, const dns_answer *ans)
{
    dkim_sig_state *st = arg;
    dkim_sig_result *r = st->res;
    char why[128] = "";
    st->q = NULL;
    if (ans->status == DNS_TEMPFAIL) {
        dkim_set(r, DKIM_TEMPERROR, "key lookup failed temporarily");
    } else if (ans->status != DNS_OK || ans->count == 0) {
        dkim_set(r, DKIM_PERMERROR, ans->status == DNS_PERMFAIL ? "key lookup failed" : "no key record");
    } else {
        dkim_result res = DKIM_PERMERROR;
        dkim_vkey key = {0};
        int strict = 0;
        /* several records: use the first that suits a= (section 3.6.2.2 leaves this open) */
        for (size_t i = 0; i < ans->count && !key.key; i++) {
            char w[128];
            res = dkim_key_check(st, ans->rr[i].text, ans->rr[i].len, &key, &strict, w, sizeof w);
            if (i == 0 || res == DKIM_PASS)
                memcpy(why, w, sizeof why);
        }
        if (key.key) {
            const char *at = strrchr(r->auid, '@');
            if (strict && strcasecmp(at ? at + 1 : "", r->domain) != 0) {
                res = DKIM_FAIL;
                snprintf(why, sizeof why, "key t=s forbids i= subdomain");
            } else {
                res = dkim_check_sig(st, &key, why, sizeof why);
            }
            dkim_vkey_clear(&key);
        }
        dkim_set(r, res, res == DKIM_PASS ? "" : why);
    }
    dkim_finish_one(st->v);
}

/* dkim_prepare_all - parse and hash every DKIM-Signature of m (at most DKIM_MAX_SIGS); the number
 * that now need a key lookup */
static size_t dkim_prepare_all(dkim_verify *v, const dkim_msg *m, size_t len)
{
    dkim_bodies bodies;
    memset(&bodies, 0, sizeof bodies);
    buf_init(&bodies.b[0].rel, len + 3);
    buf_init(&bodies.b[1].rel, len + 3);
    bodies.md = EVP_MD_CTX_new();
    buf scratch; /* signed header fields, canonicalised: sized once for the usual header (it grows past that) */
    buf_init(&scratch, len + 3);
    dkim_buf_room(&scratch, DKIM_ROOM);
    size_t lookups = 0;
    for (size_t i = 0; i < m->nf; i++) {
        if (!dkim_field_is(&m->f[i], "DKIM-Signature", 14))
            continue;
        if (v->res.found++ >= DKIM_MAX_SIGS)
            continue;
        dkim_sig_state *st = &v->st[v->res.count];
        memset(st, 0, sizeof *st);
        st->v = v;
        st->res = &v->res.sig[v->res.count++];
        memset(st->res, 0, sizeof *st->res);
        char why[128] = "";
        dkim_result res = dkim_prepare(st, m, &m->f[i], &bodies, &scratch, why, sizeof why);
        if (res == DKIM_PASS)
            lookups++;
        else
            dkim_set(st->res, res, why);
    }
    buf_free(&bodies.b[0].rel);
    buf_free(&bodies.b[1].rel);
    EVP_MD_CTX_free(bodies.md);
    buf_free(&scratch);
    return lookups;
}

/* dkim_verify_start - hash everything now, then look up the keys */
dkim_verify *dkim_verify_start(dns_resolver *r, const char *msg, size_t len, dkim_done_fn done, void *arg)
{
    /* not zeroed whole (several KB): each signature slot is cleared when it is taken */
    dkim_verify *v = xmalloc(sizeof *v);
    v->pending = 0;
    v->res.found = v->res.count = 0;
    v->res.error[0] = '\0';
    v->r = r;
    v->done = done;
    v->arg = arg;
    dkim_msg m;
    if (len > DKIM_MAX_MSG) {
        snprintf(v->res.error, sizeof v->res.error, "message too big");
        goto sync;
    }
    if (dkim_msg_parse(msg, len, &m, v->res.error, sizeof v->res.error) < 0)
        goto sync;
    size_t lookups = dkim_prepare_all(v, &m, len);
    dkim_msg_free(&m);
    if (lookups == 0)
        goto sync;
    v->pending = lookups; /* dns.h: no callback runs from inside dns_lookup */
    for (size_t i = 0; i < v->res.count; i++) {
        dkim_sig_state *st = &v->st[i];
        if (st->res->result != DKIM_NONE)
            continue;
        char name[600]; /* selector and domain are each under 256 bytes */
        size_t sl = strlen(st->res->selector), dl = strlen(st->res->domain);
        memcpy(name, st->res->selector, sl);
        memcpy(name + sl, "._domainkey.", 12);
        memcpy(name + sl + 12, st->res->domain, dl + 1);
        st->q = dns_lookup(r, name, DNS_T_TXT, dkim_key_answer, st);
    }
    return v;
sync:
    done(arg, &v->res);
    dkim_verify_free(v);
    return NULL;
}

/* dkim_verify_cancel - stop the lookups, no callback */
void dkim_verify_cancel(dkim_verify *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->res.count; i++)
        if (v->st[i].q)
            dns_cancel(v->r, v->st[i].q);
    dkim_verify_free(v);
}

typedef struct dkim_sync {
    int done;
    dkim_results *out;
} dkim_sync;

/* dkim_sync_done - copy the results for dkim_verify_sync */
static void dkim_sync_done(void *arg, const dkim_results *res)
{
    dkim_sync *s = arg; /* copy only the entries in use */
    s->out->found = res->found;
    s->out->count = res->count;
    memcpy(s->out->sig, res->sig, res->count * sizeof res->sig[0]);
    memcpy(s->out->error, res->error, sizeof res->error);
    s->done = 1;
}

/* dkim_verify_sync - run one verification to completion on base */
void dkim_verify_sync(struct event_base *base, dns_resolver *r, const char *msg, size_t len, dkim_results *out)
{
    dkim_sync s = {0, out};
    out->found = out->count = 0; /* the entries past count are never read */
    out->error[0] = '\0';
    dkim_verify_start(r, msg, len, dkim_sync_done, &s);
    while (!s.done)
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            break;
}
