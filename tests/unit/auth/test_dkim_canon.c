/*
 * test_dkim_canon - got/want tables for the fast paths of DKIM parsing:
 * relaxed body canonicalisation (with and without a copy), relaxed and
 * simple header canonicalisation with a cut (the DKIM-Signature without
 * its b= value), tag values with FWS and bad bytes, and base64 in groups
 * of four. Inputs are longer than the 16-byte scan steps and put the byte
 * that matters on either side of a step boundary.
 */
#include "auth/dkim_internal.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

/* Relaxed body canonicalisation (RFC 6376 section 3.4.4). */
static const struct {
    const char *in, *want;
} body_cases[] = {
    {"", ""},
    {"\r\n", ""},
    {"\r\n\r\n\r\n", ""},
    {"abc", "abc\r\n"},
    {"abc\r\n", "abc\r\n"},
    {"abc\r\n\r\n\r\n", "abc\r\n"},
    {"a  b\r\n", "a b\r\n"},
    {"a\tb\r\n", "a b\r\n"},
    {"a \t b\r\n", "a b\r\n"},
    {"a b \r\n", "a b\r\n"},
    {"a b\t\t\r\n", "a b\r\n"},
    {"a b ", "a b\r\n"},
    {" a\r\n", " a\r\n"},
    {"  a\r\n", " a\r\n"},
    {"a\r\n  \r\n\t\r\n", "a\r\n"},
    {"a\r\n \r\nb\r\n", "a\r\n\r\nb\r\n"},
    {"a \rb\r\n", "a \rb\r\n"},         /* lone CR is not a line end */
    {"a  \rb\r\n", "a \rb\r\n"},
    {"a \nb\r\n", "a \nb\r\n"},         /* nor is lone LF */
    {"a\r\r\n\r\n", "a\r\r\n"},
    {"a\n\r\n\r\n", "a\n\r\n"},
    {"a\r\n\r\n\r", "a\r\n\r\n\r\r\n"},
    {"\r\r\n\r\n", "\r\r\n"},
    {"0123456789abcde  x\r\n", "0123456789abcde x\r\n"},        /* SP SP at 15, 16 */
    {"0123456789abcdef  x\r\n", "0123456789abcdef x\r\n"},      /* at 16, 17 */
    {"0123456789abcdefghijklmnopqrstu \r\n", "0123456789abcdefghijklmnopqrstu\r\n"},
    {"0123456789abcdefghijklmnopqrstuv\t\r\n", "0123456789abcdefghijklmnopqrstuv\r\n"},
    {"0123456789abcdefghijklmnopqrstuvwxyz ", "0123456789abcdefghijklmnopqrstuvwxyz\r\n"},
    {"0123456789 bcdef 123456789 bcdef 12\r\nx\t\ty z\r\n\r\n",
     "0123456789 bcdef 123456789 bcdef 12\r\nx y z\r\n"},
};

/* body_string - the canonical body as one string (p[0..len) plus the optional CRLF) */
static void body_string(const dkim_body *cb, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.*s%s", (int)cb->len, cb->p ? cb->p : "", cb->add_crlf ? "\r\n" : "");
}

/* test_body - relaxed body cases; unchanged bodies are not copied */
static void test_body(void)
{
    for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
        const char *in = body_cases[i].in;
        dkim_body cb;
        char got[256];
        buf_init(&cb.rel, strlen(in) + 3);
        CHECK(dkim_body_canon(1, in, strlen(in), &cb) == 0, "body case %zu", i);
        body_string(&cb, got, sizeof got);
        CHECK(strcmp(got, body_cases[i].want) == 0, "body case %zu: got \"%s\"", i, got);
        buf_free(&cb.rel);
    }
    const char *clean = "Hello world, this line needs no change.\r\nNor this one.\r\n\r\n";
    dkim_body cb;
    buf_init(&cb.rel, 1024);
    dkim_body_canon(1, clean, strlen(clean), &cb);
    CHECK(cb.p == clean && cb.len == strlen(clean) - 2 && !cb.add_crlf, "clean body described in place");
    CHECK(cb.rel.data == NULL, "clean body: nothing allocated");
    buf_free(&cb.rel);
}

/* Header fields: name length, field, cut offset and length, want (relaxed), want (simple). */
static const struct {
    size_t name_len;
    const char *in;
    size_t cut, cut_len;
    const char *rel, *simple;
} hdr_cases[] = {
    {7, "Subject:  Hello   World  \r\n", 99, 0, "subject:Hello World\r\n", "Subject:  Hello   World  \r\n"},
    {1, "X : a\r\n\tb\r\n", 99, 0, "x:a b\r\n", "X : a\r\n\tb\r\n"},
    {1, "X:a\r\nb\r\n", 99, 0, "x:ab\r\n", "X:a\r\nb\r\n"},
    {1, "X:0123456789abcdefghij\x01klmnop qrstuvwxyz0123456789\r\n", 99, 0,
     "x:0123456789abcdefghij\x01klmnop qrstuvwxyz0123456789\r\n",
     "X:0123456789abcdefghij\x01klmnop qrstuvwxyz0123456789\r\n"},
    {1, "X:a", 99, 0, "x:a\r\n", "X:a\r\n"},
    /* cuts, as for b= of a DKIM-Signature */
    {14, "DKIM-Signature: v=1; b=abc\r\n\tdef; d=x\r\n", 23, 9, "dkim-signature:v=1; b=; d=x\r\n",
     "DKIM-Signature: v=1; b=; d=x\r\n"},
    {14, "DKIM-Signature: v=1; d=x; b= abc \r\n", 29, 3, "dkim-signature:v=1; d=x; b=\r\n",
     "DKIM-Signature: v=1; d=x; b=  \r\n"},
    {1, "X: a b\r\n", 5, 1, "x:a\r\n", "X: a \r\n"},
};

/* test_header - relaxed and simple header canonicalisation, with and without a cut */
static void test_header(void)
{
    for (size_t i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
        const char *in = hdr_cases[i].in;
        size_t len = strlen(in), cut = hdr_cases[i].cut > len ? len : hdr_cases[i].cut;
        buf out;
        buf_init(&out, 1024);
        CHECK(dkim_canon_header_cut(1, in, len, hdr_cases[i].name_len, cut, hdr_cases[i].cut_len, &out) == BUF_OK,
              "header case %zu", i);
        CHECK_STR(buf_cstr(&out), hdr_cases[i].rel, "relaxed header");
        buf_reset(&out);
        CHECK(dkim_canon_header_cut(0, in, len, hdr_cases[i].name_len, cut, hdr_cases[i].cut_len, &out) == BUF_OK,
              "header case %zu", i);
        CHECK_STR(buf_cstr(&out), hdr_cases[i].simple, "simple header");
        buf_free(&out);
    }
}

/* ref_relaxed_value - section 3.4.2 spelled out step by step, for comparison: drop the cut, unfold
 * (every CR and LF goes), WSP runs to one SP, none at either end; "x:" before, CRLF after */
static void ref_relaxed_value(const char *in, size_t len, size_t cut, size_t cut_len, char *out)
{
    char unfolded[256];
    size_t u = 0, o = 0;
    for (size_t i = 2; i < len; i++) /* in is "X:" and the value */
        if ((i < cut || i >= cut + cut_len) && in[i] != '\r' && in[i] != '\n')
            unfolded[u++] = in[i];
    out[o++] = 'x';
    out[o++] = ':';
    int pending = 0;
    for (size_t i = 0; i < u; i++) {
        if (unfolded[i] == ' ' || unfolded[i] == '\t') {
            pending = o > 2;
            continue;
        }
        if (pending)
            out[o++] = ' ';
        pending = 0;
        out[o++] = unfolded[i];
    }
    memcpy(out + o, "\r\n", 3);
}

/* test_header_random - the fast path against ref_relaxed_value on generated fields where SP, HTAB,
 * CR and LF fall on every side of the 16-byte scan steps, with and without a cut */
static void test_header_random(void)
{
    static const char alphabet[] = {'a', 'b', ';', '=', ' ', ' ', ' ', '\t', '\r', '\n', '\x01'};
    unsigned seed = 12345;
    int bad = 0;
    for (int n = 0; n < 20000; n++) {
        char in[80], want[200];
        size_t len = 2 + (size_t)n % 70;
        memcpy(in, "X:", 2);
        for (size_t i = 2; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = alphabet[(seed >> 16) % sizeof alphabet];
        }
        size_t cut = len, cut_len = 0;
        if (n % 3 == 0) {
            cut = 2 + (seed >> 8) % (len - 1);
            cut_len = (seed >> 4) % (len - cut + 1);
        }
        ref_relaxed_value(in, len, cut, cut_len, want);
        buf out;
        buf_init(&out, 1024);
        if (dkim_canon_header_cut(1, in, len, 1, cut, cut_len, &out) != BUF_OK || strcmp(buf_cstr(&out), want) != 0)
            bad++;
        buf_free(&out);
    }
    CHECK(bad == 0, "%d of 20000 generated fields differ from the step-by-step canonicalisation", bad);
}

/* Tag values: input, whether it parses, and the value of tag b. */
static const struct {
    const char *in;
    int ok;
    const char *b;
} tagval_cases[] = {
    {"a=1; b=0123456789abcdefghijklmnopqrstuvwxyz", 1, "0123456789abcdefghijklmnopqrstuvwxyz"},
    {"a=1; b=0123456789abcdef\r\n\t0123456789abcdef  ; c=2", 1, "0123456789abcdef\r\n\t0123456789abcdef"},
    {"b=0123456789abcde;c=0123456789abcdefghij", 1, "0123456789abcde"},
    {"b=0123456789abcdef;c=0123456789abcdefghij", 1, "0123456789abcdef"},
    {"b=0123456789abcdefghij\x80klmnop", 0, NULL},
    {"b=0123456789abcdefghij\x7fklmnop", 0, NULL},
    {"b=0123456789abcdefghij\x01klmnop", 0, NULL},
    {"b=0123456789abcdefghij~!klmnop", 1, "0123456789abcdefghij~!klmnop"},
    {"a=1; b=", 1, ""},
    {"a=1; b=   \r\n ", 1, ""},
};

/* test_tagval - values longer than a scan step */
static void test_tagval(void)
{
    for (size_t i = 0; i < sizeof tagval_cases / sizeof tagval_cases[0]; i++) {
        dkim_taglist tl;
        int rc = dkim_tags_parse(tagval_cases[i].in, strlen(tagval_cases[i].in), &tl);
        CHECK((rc == 0) == tagval_cases[i].ok, "tagval case %zu", i);
        if (rc == 0)
            CHECK(dkim_tag_eq(dkim_tag_get(&tl, "b"), tagval_cases[i].b), "tagval case %zu value", i);
    }
}

/* Base64: input, whether it decodes, and the decoded text. */
static const struct {
    const char *in;
    int ok;
    const char *want;
} b64_cases[] = {
    {"VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==", 1,
     "The quick brown fox jumps over the lazy dog"},
    {"VGhlIHF1aWNrIGJyb3du\r\n\tIGZveCBqdW1wcyBv dmVy IHRoZSBsYXp5IGRvZw", 1,
     "The quick brown fox jumps over the lazy dog"},
    {"V Gh lI HF1 aWNr", 1, "The quick"},
    {"VGhlIHF1aWNr=", 0, NULL},
    {"VGhlIHF1aWN=", 1, "The quic"},
    {"VGhlIHF1aW==", 1, "The qui"},
    {"VGhlIHF1aW===", 0, NULL},
    {"VGhlIHF1aW==VGhl", 0, NULL},
    {"VGhlIHF1a!Nr", 0, NULL},
    {"VGhlIHF1aWNrIGJyb3du.GZveA", 0, NULL},
    {"", 1, ""},
};

/* test_b64 - decoding in groups of four, FWS anywhere, strict padding, output bound */
static void test_b64(void)
{
    for (size_t i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
        unsigned char out[128];
        size_t n = 0;
        int rc = dkim_b64_decode(b64_cases[i].in, strlen(b64_cases[i].in), out, sizeof out, &n);
        CHECK((rc == 0) == b64_cases[i].ok, "b64 case %zu", i);
        if (rc == 0)
            CHECK(n == strlen(b64_cases[i].want) && memcmp(out, b64_cases[i].want, n) == 0, "b64 case %zu text", i);
    }
    unsigned char out[9];
    size_t n;
    const char *s = "VGhlIHF1aWNrIGJy"; /* 12 bytes */
    CHECK(dkim_b64_decode(s, strlen(s), out, 9, &n) < 0, "b64 longer than the output");
    CHECK(dkim_b64_decode(s, 12, out, 9, &n) == 0 && n == 9 && memcmp(out, "The quick", 9) == 0, "b64 exactly fits");
}

int main(void)
{
    test_body();
    test_header();
    test_header_random();
    test_tagval();
    test_b64();
    return check_summary();
}
