/*
 * dkim_internal - pieces shared by dkim_verify.c and dkim_sign.c (and their
 * unit tests and fuzz target): header-block splitting, tag lists (RFC 6376
 * section 3.2), canonicalisation (section 3.4), the header hash input
 * (section 3.7) and base64. Not part of the public API.
 */
#ifndef POCHTA_AUTH_DKIM_INTERNAL_H
#define POCHTA_AUTH_DKIM_INTERNAL_H

#include "lib/buf.h"

#include <openssl/evp.h>
#include <stddef.h>

/* DKIM_MAX_FIELDS - header fields read; a message with more is refused (bounds the h= search) */
#define DKIM_MAX_FIELDS 1000
/* DKIM_MAX_TAGS - tags in one tag list; more is a malformed list (the RFC defines 14) */
#define DKIM_MAX_TAGS 32
/* DKIM_MAX_H - names in h=; more is refused (each costs a search through the header) */
#define DKIM_MAX_H 64

/* One header field: p points at its name; len covers the whole field including its final CRLF. */
typedef struct dkim_field {
    const char *p;
    size_t len;
    size_t name_len; /* name without trailing WSP */
} dkim_field;

typedef struct dkim_msg {
    dkim_field *f; /* heap array, owned; freed by dkim_msg_free */
    size_t nf;
    const char *body; /* after the empty line; points into the message */
    size_t body_len;
} dkim_msg;

/* dkim_msg_parse - split msg into fields and body; 0, or -1 with err ("invalid header: ...") */
int dkim_msg_parse(const char *msg, size_t len, dkim_msg *m, char *err, size_t errlen);
void dkim_msg_free(dkim_msg *m);
/* dkim_field_is - whether field f has name (case-insensitive) */
int dkim_field_is(const dkim_field *f, const char *name, size_t name_len);

typedef struct dkim_tag {
    const char *name;
    size_t name_len;
    const char *val; /* without surrounding FWS; may hold inner FWS */
    size_t val_len;
} dkim_tag;

typedef struct dkim_taglist {
    dkim_tag t[DKIM_MAX_TAGS];
    size_t n;
} dkim_taglist;

/* dkim_tags_parse - strict tag-list parse; 0, or -1 on syntax error or duplicate tag */
int dkim_tags_parse(const char *p, size_t len, dkim_taglist *tl);
/* dkim_tag_get - the tag named name, or NULL */
const dkim_tag *dkim_tag_get(const dkim_taglist *tl, const char *name);
/* dkim_tag_eq - whether the tag's value equals s exactly (NULL tag: false) */
int dkim_tag_eq(const dkim_tag *t, const char *s);
/* dkim_list_has - whether a colon-separated list (FWS allowed around items) holds item (case-insensitive) */
int dkim_list_has(const char *p, size_t len, const char *item);

/* Byte scanners (dkim_scan.c): the first index from i on, or len, where the caller must look at a
 * byte. wsp_dirty: relaxed body canonicalisation changes something (an HTAB, or an SP followed by
 * SP, HTAB, CR or the end); hdr_dirty: relaxed header canonicalisation may change something (an
 * HTAB, CR or LF, or an SP followed by SP, HTAB, CR, LF or the end); tagval: a byte that is not a
 * VCHAR, or ';'. */
size_t dkim_scan_wsp_dirty(const char *p, size_t i, size_t len);
size_t dkim_scan_hdr_dirty(const char *p, size_t i, size_t len);
size_t dkim_scan_tagval(const char *p, size_t i, size_t len);

/* dkim_canon_header - append field f canonicalised (relaxed or simple), with its CRLF */
buf_status dkim_canon_header(int relaxed, const char *p, size_t len, size_t name_len, buf *out);
/* dkim_canon_header_cut - the same with p[cut..cut+cut_len) left out (a DKIM-Signature without its b= value) */
buf_status dkim_canon_header_cut(int relaxed, const char *p, size_t len, size_t name_len, size_t cut, size_t cut_len,
                                 buf *out);

/*
 * Canonical body: simple is a prefix of the body plus an optional CRLF,
 * so it is described without a copy; so is relaxed when no WSP run needs
 * changing (most bodies); otherwise relaxed is built in rel.
 */
typedef struct dkim_body {
    const char *p;  /* canonical bytes: into the message (simple, and relaxed when nothing changed), else into rel */
    size_t len;
    int add_crlf;   /* simple: a CRLF follows p[0..len) */
    buf rel;        /* relaxed storage, owned */
} dkim_body;

/* dkim_body_canon - canonicalise body (relaxed or simple) into cb; cb->rel must be buf_init'ed; 0 or -1 past cap */
int dkim_body_canon(int relaxed, const char *body, size_t len, dkim_body *cb);
/* dkim_sha256 - SHA-256 fetched once per process (EVP_sha256() in an Init fetches it again each time) */
const EVP_MD *dkim_sha256(void);

/* dkim_body_hash - SHA-256 of the first limit bytes (all when limit is (size_t)-1) on md (NULL: a context
 * of its own); 0 or -1 when limit exceeds the body */
int dkim_body_hash(EVP_MD_CTX *md, const dkim_body *cb, size_t limit, unsigned char out[32]);

/*
 * dkim_hash_fields - feed md the fields named in h (colon list) picked
 * bottom-up as section 5.4.2 says (a name listed more often than present
 * contributes nothing the extra times). 0, or -1 when h is malformed.
 */
int dkim_hash_fields(EVP_MD_CTX *md, const dkim_msg *m, int relaxed, const char *h, size_t hlen, buf *scratch);

/* DKIM_ROOM - most dkim_buf_room reserves: a usual signed header, a base64 RSA-4096 signature;
 * the allocation is then 1024 bytes, which glibc serves from its per-thread cache */
#define DKIM_ROOM 1000
/* dkim_buf_room - make b hold n more bytes with one allocation (b's contents unchanged) */
void dkim_buf_room(buf *b, size_t n);

/* dkim_name_ok - whether s can be queried: dot-separated labels of letters, digits, '-', '_' */
int dkim_name_ok(const char *s);

/* dkim_b64_decode - decode base64 ignoring FWS; 0 with *outlen, or -1 when malformed or longer than outmax */
int dkim_b64_decode(const char *p, size_t len, unsigned char *out, size_t outmax, size_t *outlen);
/* dkim_b64_encode - append base64 of data to out */
buf_status dkim_b64_encode(const unsigned char *data, size_t len, buf *out);

/* dkim_key_decode - p= bytes to an Ed25519 key (ed25519 set) or an RSA key (SPKI or bare
 * PKCS#1); NULL when unusable. The caller frees it with EVP_PKEY_free. */
EVP_PKEY *dkim_key_decode(int ed25519, const unsigned char *der, size_t len);

#endif
