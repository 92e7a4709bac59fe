/*
 * dkim_parse - the byte-level parts of DKIM shared by verifier and signer
 * (see dkim_internal.h): header-block splitting (RFC 5322 section 2.2),
 * tag lists (RFC 6376 section 3.2), simple and relaxed canonicalisation
 * (section 3.4), picking signed fields bottom-up (section 5.4.2), base64.
 *
 * Limits: DKIM_MAX_FIELDS fields, DKIM_MAX_TAGS tags, DKIM_MAX_H names in h=.
 * Everything works on (pointer, length); nothing needs NUL termination.
 */
#include "auth/dkim_internal.h"
#include "auth/dkim.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')
#define IS_FWS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

/* dkim_field_end - end of the field starting at i: after the CRLF not followed by WSP */
static size_t dkim_field_end(const char *p, size_t len, size_t i)
{
    for (;;) {
        const char *nl = memchr(p + i, '\n', len - i);
        if (!nl)
            return len;
        i = (size_t)(nl - p) + 1;
        if (i >= len || !IS_WSP(p[i]))
            return i;
    }
}

/* dkim_msg_parse - split msg into header fields and body */
int dkim_msg_parse(const char *msg, size_t len, dkim_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t alloc = 0, i = 0;
    while (i < len) {
        if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n') {
            i += 2; /* the empty line: the body follows */
            m->body = msg + i;
            m->body_len = len - i;
            return 0;
        }
        if (IS_WSP(msg[i])) {
            snprintf(err, errlen, "invalid header: bad continuation");
            goto fail;
        }
        size_t end = dkim_field_end(msg, len, i);
        const char *colon = memchr(msg + i, ':', end - i);
        size_t nl = 0;
        while (colon && nl < (size_t)(colon - (msg + i)) && msg[i + nl] > ' ' && msg[i + nl] < 0x7f)
            nl++;
        size_t ws = nl;
        while (colon && ws < (size_t)(colon - (msg + i)) && IS_WSP(msg[i + ws]))
            ws++;
        if (!colon || nl == 0 || msg + i + ws != colon) {
            snprintf(err, errlen, "invalid header: field without name or colon");
            goto fail;
        }
        if (m->nf == DKIM_MAX_FIELDS) {
            snprintf(err, errlen, "invalid header: more than %d fields", DKIM_MAX_FIELDS);
            goto fail;
        }
        if (m->nf == alloc) {
            alloc = alloc ? alloc * 2 : 32;
            m->f = xrealloc(m->f, alloc * sizeof *m->f);
        }
        m->f[m->nf++] = (dkim_field){msg + i, end - i, nl};
        i = end;
    }
    m->body = msg + len; /* header only, no body */
    m->body_len = 0;
    return 0;
fail:
    dkim_msg_free(m);
    return -1;
}

/* dkim_msg_free - release the field array */
void dkim_msg_free(dkim_msg *m)
{
    free(m->f);
    m->f = NULL;
    m->nf = 0;
}

/* dkim_field_is - case-insensitive name match */
int dkim_field_is(const dkim_field *f, const char *name, size_t name_len)
{
    return f->name_len == name_len && strncasecmp(f->p, name, name_len) == 0;
}

/* dkim_tag_name_len - length of a tag-name at p (ALPHA *(ALPHA / DIGIT / "_")), 0 when none */
static size_t dkim_tag_name_len(const char *p, size_t len)
{
    if (len == 0 || !isalpha((unsigned char)p[0]))
        return 0;
    size_t n = 1;
    while (n < len && (isalnum((unsigned char)p[n]) || p[n] == '_'))
        n++;
    return n;
}

/* dkim_tags_parse - tag-list = tag-spec *( ";" tag-spec ) [ ";" ] */
int dkim_tags_parse(const char *p, size_t len, dkim_taglist *tl)
{
    size_t i = 0;
    tl->n = 0;
    for (;;) {
        while (i < len && IS_FWS(p[i]))
            i++;
        if (i == len)
            return 0;
        size_t nl = dkim_tag_name_len(p + i, len - i);
        if (nl == 0 || tl->n == DKIM_MAX_TAGS)
            return -1;
        dkim_tag *t = &tl->t[tl->n];
        t->name = p + i;
        t->name_len = nl;
        i += nl;
        while (i < len && IS_FWS(p[i]))
            i++;
        if (i == len || p[i] != '=')
            return -1;
        i++;
        while (i < len && IS_FWS(p[i]))
            i++;
        t->val = p + i;
        size_t vend = i;
        for (;;) { /* runs of VCHARs, separated by FWS */
            size_t j = dkim_scan_tagval(p, i, len);
            if (j > i)
                vend = j;
            i = j;
            if (i == len || p[i] == ';')
                break;
            if (!IS_FWS(p[i]))
                return -1;
            i++;
        }
        t->val_len = vend - (size_t)(t->val - p);
        for (size_t k = 0; k < tl->n; k++)
            if (tl->t[k].name_len == nl && tl->t[k].name[0] == t->name[0] && memcmp(tl->t[k].name, t->name, nl) == 0)
                return -1; /* section 3.2: duplicate tags make the list invalid */
        tl->n++;
        if (i == len)
            return 0;
        i++; /* the ';' */
    }
}

/* dkim_tag_get - find a tag by exact (case-sensitive) name */
const dkim_tag *dkim_tag_get(const dkim_taglist *tl, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < tl->n; i++) /* first byte before memcmp: most tag names are one letter */
        if (tl->t[i].name_len == nl && tl->t[i].name[0] == name[0] && memcmp(tl->t[i].name, name, nl) == 0)
            return &tl->t[i];
    return NULL;
}

/* dkim_tag_eq - exact value comparison */
int dkim_tag_eq(const dkim_tag *t, const char *s)
{
    return t && t->val_len == strlen(s) && memcmp(t->val, s, t->val_len) == 0;
}

/* dkim_list_has - colon list membership, items trimmed of FWS */
int dkim_list_has(const char *p, size_t len, const char *item)
{
    size_t il = strlen(item), i = 0;
    while (i <= len) {
        size_t s = i;
        while (i < len && p[i] != ':')
            i++;
        size_t e = i;
        while (s < e && IS_FWS(p[s]))
            s++;
        while (e > s && IS_FWS(p[e - 1]))
            e--;
        if (e - s == il && strncasecmp(p + s, item, il) == 0)
            return 1;
        i++;
    }
    return 0;
}

/* dkim_relaxed_range - relaxed-canonicalise the value bytes p[i..end) to w+n (section 3.4.2: unfold,
 * WSP runs to one SP, none at the start or end); *pending and *started carry over between ranges.
 * Stretches that need no change (words with single spaces between them) are copied whole.
 * Returns the new output length. */
static size_t dkim_relaxed_range(const char *p, size_t i, size_t end, char *w, size_t n, int *pending, int *started)
{
    while (i < end) {
        char c = p[i];
        if (c == '\r' || c == '\n') {
            i++;
            continue; /* unfold */
        }
        if (IS_WSP(c)) {
            *pending = *started;
            i++;
            continue;
        }
        size_t j = dkim_scan_hdr_dirty(p, i, end); /* > i: p[i] is none of the bytes it stops at */
        if (*pending)
            w[n++] = ' ';
        *pending = 0;
        *started = 1;
        memcpy(w + n, p + i, j - i);
        n += j - i;
        i = j;
    }
    return n;
}

/* dkim_canon_header_cut - section 3.4.1 (simple) and 3.4.2 (relaxed), p[cut..cut+cut_len) left out */
buf_status dkim_canon_header_cut(int relaxed, const char *p, size_t len, size_t name_len, size_t cut, size_t cut_len,
                                 buf *out)
{
    size_t start = out->len;
    if (cut > len)
        cut = len;
    if (cut_len > len - cut)
        cut_len = len - cut;
    if (!relaxed) {
        if (buf_append(out, p, cut) != BUF_OK || buf_append(out, p + cut + cut_len, len - cut - cut_len) != BUF_OK)
            return BUF_TOO_BIG;
        const char *e = out->data ? out->data + out->len : NULL;
        if (out->len - start < 2 || e[-2] != '\r' || e[-1] != '\n')
            return buf_append(out, "\r\n", 2);
        return BUF_OK;
    }
    /* the output is never longer than the field plus ':' and CRLF: reserve once, write directly */
    size_t n = 0;
    if (buf_append(out, p, len) != BUF_OK || buf_append(out, ":\r\n", 3) != BUF_OK)
        return BUF_TOO_BIG;
    char *w = out->data + start;
    for (size_t i = 0; i < name_len; i++)
        w[n++] = (char)tolower((unsigned char)p[i]);
    w[n++] = ':';
    const char *colon = memchr(p, ':', len);
    size_t v = colon ? (size_t)(colon - p) + 1 : len, resume = cut + cut_len > v ? cut + cut_len : v;
    int pending = 0, started = 0;
    n = dkim_relaxed_range(p, v, cut > v ? cut : v, w, n, &pending, &started);
    n = dkim_relaxed_range(p, resume, len, w, n, &pending, &started);
    w[n++] = '\r';
    w[n++] = '\n';
    out->len = start + n;
    out->data[out->len] = '\0';
    return BUF_OK;
}

/* dkim_canon_header - the whole field */
buf_status dkim_canon_header(int relaxed, const char *p, size_t len, size_t name_len, buf *out)
{
    return dkim_canon_header_cut(relaxed, p, len, name_len, len, 0, out);
}

/* dkim_body_rewrite - copy body to w from i on (w[0..i) already equals body), each WSP run turned
 * into one SP, or dropped before a CRLF or the end; returns the output length */
static size_t dkim_body_rewrite(const char *body, size_t len, size_t i, char *w)
{
    size_t n = i;
    while (i < len) {
        size_t j = i;
        while (j < len && IS_WSP(body[j]))
            j++;
        if (j < len && !(body[j] == '\r' && j + 1 < len && body[j + 1] == '\n'))
            w[n++] = ' ';
        size_t d = dkim_scan_wsp_dirty(body, j, len);
        memcpy(w + n, body + j, d - j);
        n += d - j;
        i = d;
    }
    return n;
}

/*
 * dkim_body_relaxed - section 3.4.4: WSP runs to one SP, none at line end, no trailing empty
 * lines, a final CRLF. When no WSP run needs changing (most bodies), the canonical body is a
 * prefix of the message and nothing is copied; otherwise it is built in cb->rel.
 */
static int dkim_body_relaxed(const char *body, size_t len, dkim_body *cb)
{
    size_t i = dkim_scan_wsp_dirty(body, 0, len), n = len;
    const char *p = body;
    if (i < len) {
        /* the output is never longer than the input: reserve once, write directly */
        buf_reset(&cb->rel);
        if (buf_append(&cb->rel, body, len) != BUF_OK)
            return -1;
        n = dkim_body_rewrite(body, len, i, cb->rel.data);
        cb->rel.len = n;
        cb->rel.data[n] = '\0';
        p = cb->rel.data;
    }
    cb->add_crlf = n > 0 && !(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
    if (!cb->add_crlf) { /* drop empty lines at the end (every CRLF in p ends a line) */
        while (n >= 4 && memcmp(p + n - 4, "\r\n\r\n", 4) == 0)
            n -= 2;
        if (n == 2)
            n = 0; /* only an empty line was left */
    }
    cb->p = p;
    cb->len = n;
    return 0;
}

/* dkim_body_canon - canonical body for one algorithm */
int dkim_body_canon(int relaxed, const char *body, size_t len, dkim_body *cb)
{
    if (relaxed)
        return dkim_body_relaxed(body, len, cb);
    /* section 3.4.3: drop trailing CRLFs, then end with exactly one */
    size_t n = len;
    while (n >= 2 && body[n - 2] == '\r' && body[n - 1] == '\n')
        n -= 2;
    cb->p = body;
    cb->len = n;
    cb->add_crlf = 1;
    return 0;
}

static EVP_MD *dkim_sha256_md;
static pthread_once_t dkim_sha256_once = PTHREAD_ONCE_INIT;

/* dkim_sha256_fetch - explicit fetch from the default library context, kept for the process */
static void dkim_sha256_fetch(void)
{
    dkim_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* dkim_sha256 - see dkim_internal.h; falls back to EVP_sha256() if the fetch failed */
const EVP_MD *dkim_sha256(void)
{
    pthread_once(&dkim_sha256_once, dkim_sha256_fetch);
    return dkim_sha256_md ? dkim_sha256_md : EVP_sha256();
}

/* dkim_body_hash - SHA-256 over the canonical body, cut at limit (l=), on md or a context of its own */
int dkim_body_hash(EVP_MD_CTX *md, const dkim_body *cb, size_t limit, unsigned char out[32])
{
    size_t total = cb->len + (cb->add_crlf ? 2 : 0);
    if (limit == (size_t)-1)
        limit = total;
    if (limit > total)
        return -1;
    EVP_MD_CTX *own = md ? NULL : EVP_MD_CTX_new();
    if (!md && !(md = own))
        return -1;
    size_t first = limit < cb->len ? limit : cb->len;
    int ok = EVP_DigestInit_ex(md, dkim_sha256(), NULL) == 1 && EVP_DigestUpdate(md, cb->p ? cb->p : "", first) == 1 &&
             EVP_DigestUpdate(md, "\r\n", limit - first) == 1 && EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(own);
    return ok ? 0 : -1;
}

/* dkim_hash_fields - section 5.4.2: each listed name takes the lowest unused field of that name;
 * the canonical fields are gathered in scratch and hashed at once */
int dkim_hash_fields(EVP_MD_CTX *md, const dkim_msg *m, int relaxed, const char *h, size_t hlen, buf *scratch)
{
    uint64_t used[(DKIM_MAX_FIELDS + 63) / 64] = {0}; /* bit k: field k already taken */
    size_t i = 0, names = 0;
    buf_reset(scratch);
    while (i <= hlen) {
        size_t s = i;
        while (i < hlen && h[i] != ':')
            i++;
        size_t e = i++;
        while (s < e && IS_FWS(h[s]))
            s++;
        while (e > s && IS_FWS(h[e - 1]))
            e--;
        if (e == s || ++names > DKIM_MAX_H)
            return -1;
        for (size_t k = m->nf; k-- > 0;) {
            if ((used[k / 64] >> (k % 64) & 1) || !dkim_field_is(&m->f[k], h + s, e - s))
                continue;
            used[k / 64] |= (uint64_t)1 << (k % 64);
            if (dkim_canon_header(relaxed, m->f[k].p, m->f[k].len, m->f[k].name_len, scratch) != BUF_OK)
                return -1;
            break;
        }
    }
    return EVP_DigestUpdate(md, scratch->data ? scratch->data : "", scratch->len) == 1 ? 0 : -1;
}

/* dkim_name_ok - LDH labels (and '_', for selectors and _domainkey), at most 253 bytes */
int dkim_name_ok(const char *s)
{
    size_t label = 0, n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* dkim_b64_table - value+1 of each base64 character (0 = not base64); built once */
static unsigned char dkim_b64_table[256];
/* dkim_b64_quad_table - for position k of a group of four, each character's 6 bits already shifted
 * into place (k = 0 highest), or DKIM_B64_BAD: a group decodes with four loads and three ORs */
static uint32_t dkim_b64_quad_table[4][256];
#define DKIM_B64_BAD 0x1000000u
static pthread_once_t dkim_b64_once = PTHREAD_ONCE_INIT;

/* dkim_b64_init - fill both tables from the alphabet */
static void dkim_b64_init(void)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 256; c++)
            dkim_b64_quad_table[k][c] = DKIM_B64_BAD;
    for (int i = 0; i < 64; i++) {
        unsigned char c = (unsigned char)alpha[i];
        dkim_b64_table[c] = (unsigned char)(i + 1);
        for (int k = 0; k < 4; k++)
            dkim_b64_quad_table[k][c] = (uint32_t)i << (18 - 6 * k);
    }
}

/* dkim_b64_value - 0..63 for a base64 character, -1 otherwise (table lookup: keys and b= are decoded per message) */
static inline int dkim_b64_value(unsigned char c)
{
    return (int)dkim_b64_table[c] - 1;
}

/* dkim_b64_quad - decode 4 base64 characters at s into 3 bytes at out; 0, or -1 when one is not
 * in the alphabet (padding and FWS included: the caller goes character by character then) */
static inline int dkim_b64_quad(const unsigned char *s, unsigned char *out)
{
    uint32_t v = dkim_b64_quad_table[0][s[0]] | dkim_b64_quad_table[1][s[1]] | dkim_b64_quad_table[2][s[2]] |
                 dkim_b64_quad_table[3][s[3]];
    if (v & DKIM_B64_BAD)
        return -1;
    out[0] = (unsigned char)(v >> 16);
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)v;
    return 0;
}

/* dkim_b64_decode - strict base64 (padding optional, nothing after it) with FWS skipped; whole
 * groups of four go through dkim_b64_quad (b= and p= are decoded for every message) */
int dkim_b64_decode(const char *p, size_t len, unsigned char *out, size_t outmax, size_t *outlen)
{
    pthread_once(&dkim_b64_once, dkim_b64_init);
    const unsigned char *s = (const unsigned char *)p;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        while (bits == 0 && !pad && len - i >= 4 && outmax - n >= 3 && dkim_b64_quad(s + i, out + n) == 0) {
            i += 4;
            n += 3;
        }
        if (i == len)
            break;
        unsigned char c = s[i];
        if (IS_FWS(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = dkim_b64_value(c);
        if (v < 0 || pad)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == outmax)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (pad > 2 || bits >= 6 || (pad && (bits / 2) != pad))
        return -1;
    *outlen = n;
    return 0;
}

/* dkim_b64_encode - standard base64 with padding */
buf_status dkim_b64_encode(const unsigned char *data, size_t len, buf *out)
{
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        size_t rem = len - i;
        if (rem > 1)
            v |= (unsigned)data[i + 1] << 8;
        if (rem > 2)
            v |= data[i + 2];
        char q[4] = {b64_alphabet[(v >> 18) & 63], b64_alphabet[(v >> 12) & 63],
                     rem > 1 ? b64_alphabet[(v >> 6) & 63] : '=', rem > 2 ? b64_alphabet[v & 63] : '='};
        if (buf_append(out, q, 4) != BUF_OK)
            return BUF_TOO_BIG;
    }
    return BUF_OK;
}

/* dkim_crlf - bare LF to CRLF (files written on Unix) */
buf_status dkim_crlf(const char *in, size_t len, buf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\n' || (i > 0 && in[i - 1] == '\r'))
            continue;
        if (buf_append(out, in + start, i - start) != BUF_OK || buf_append(out, "\r\n", 2) != BUF_OK)
            return BUF_TOO_BIG;
        start = i + 1;
    }
    return buf_append(out, in + start, len - start);
}

/* dkim_buf_room - make b hold n more bytes (n <= DKIM_ROOM) with one allocation instead of doubling
 * from 64 bytes; b stays as it was (nothing happens when the cap is too small) */
void dkim_buf_room(buf *b, size_t n)
{
    static const char room[DKIM_ROOM];
    size_t len = b->len;
    if (n <= DKIM_ROOM && buf_append(b, room, n) == BUF_OK) {
        b->len = len;
        b->data[len] = '\0';
    }
}

/* dkim_result_name - RFC 8601 result keyword */
const char *dkim_result_name(dkim_result r)
{
    switch (r) {
    case DKIM_NONE: return "none";
    case DKIM_PASS: return "pass";
    case DKIM_FAIL: return "fail";
    case DKIM_NEUTRAL: return "neutral";
    case DKIM_TEMPERROR: return "temperror";
    case DKIM_PERMERROR: return "permerror";
    }
    return "permerror";
}
