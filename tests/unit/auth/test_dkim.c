/*
 * test_dkim - DKIM parser tables (tag lists, canonicalisation, base64) and
 * sign/verify round trips with fresh RSA and Ed25519 keys through the
 * static resolver, including tampering, dual signing and bad key records.
 */
#include "auth/dkim.h"
#include "auth/dkim_internal.h"
#include "check.h"
#include "dkim_testlib.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *in;
    int ok;
    size_t n;
} tag_cases[] = {
    {"v=1; a=rsa-sha256", 1, 2},
    {"v=1; a=rsa-sha256;", 1, 2},
    {" v = 1 ;\r\n\ta=rsa-sha256 ; ", 1, 2},
    {"", 1, 0},
    {"v=1;;a=b", 0, 0},
    {"v=1; v=2", 0, 0},
    {"=1", 0, 0},
    {"1v=1", 0, 0},
    {"v", 0, 0},
    {"v=a\x01" "b", 0, 0},
    {"v=1; z=a b  c", 1, 2},
    {"_x=1", 0, 0},
};

/* test_tags - tag-list syntax */
static void test_tags(void)
{
    for (size_t i = 0; i < sizeof tag_cases / sizeof tag_cases[0]; i++) {
        dkim_taglist tl;
        int rc = dkim_tags_parse(tag_cases[i].in, strlen(tag_cases[i].in), &tl);
        CHECK((rc == 0) == tag_cases[i].ok, "tags case %zu '%s'", i, tag_cases[i].in);
        if (rc == 0)
            CHECK(tl.n == tag_cases[i].n, "tags case %zu count %zu", i, tl.n);
    }
    dkim_taglist tl;
    const char *s = " v = 1 ;\r\n\tz=a b  c ; ";
    CHECK(dkim_tags_parse(s, strlen(s), &tl) == 0, "parse");
    CHECK(dkim_tag_eq(dkim_tag_get(&tl, "v"), "1"), "v value trimmed");
    CHECK(dkim_tag_eq(dkim_tag_get(&tl, "z"), "a b  c"), "inner FWS kept");
    CHECK(dkim_list_has("from : To:subject", 17, "to"), "list has to");
    CHECK(!dkim_list_has("from:tox", 8, "to"), "list not to");
}

/* test_canon - RFC 6376 section 3.4.6 example and edge cases */
static void test_canon(void)
{
    const char *h1 = "A: X\r\n", *h2 = "B : Y\t\r\n\tZ  \r\n";
    buf out;
    buf_init(&out, 1024);
    dkim_canon_header(1, h1, strlen(h1), 1, &out);
    dkim_canon_header(1, h2, strlen(h2), 1, &out);
    CHECK_STR(buf_cstr(&out), "a:X\r\nb:Y Z\r\n", "relaxed headers");
    buf_reset(&out);
    dkim_canon_header(0, h2, strlen(h2), 1, &out);
    CHECK_STR(buf_cstr(&out), h2, "simple header unchanged");

    const char *body = " C \r\nD \t E\r\n\r\n\r\n";
    dkim_body cb;
    buf_init(&cb.rel, 1024);
    dkim_body_canon(1, body, strlen(body), &cb);
    CHECK(cb.len == 9 && memcmp(cb.p, " C\r\nD E\r\n", 9) == 0, "relaxed body len %zu", cb.len);
    buf_free(&cb.rel);
    buf_init(&cb.rel, 1024);
    dkim_body_canon(0, body, strlen(body), &cb);
    CHECK(cb.len == 10 && cb.add_crlf, "simple body len %zu", cb.len);
    buf_free(&cb.rel);

    /* empty bodies: simple hashes "\r\n", relaxed hashes "" (section 3.4.3, 3.4.4) */
    unsigned char h[32];
    buf_init(&cb.rel, 16);
    dkim_body_canon(0, "", 0, &cb);
    dkim_body_hash(NULL, &cb, (size_t)-1, h);
    buf b64;
    buf_init(&b64, 100);
    dkim_b64_encode(h, 32, &b64);
    CHECK_STR(buf_cstr(&b64), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=", "empty simple body hash");
    buf_free(&cb.rel);
    buf_init(&cb.rel, 16);
    dkim_body_canon(1, "\r\n\r\n", 4, &cb);
    dkim_body_hash(NULL, &cb, (size_t)-1, h);
    buf_reset(&b64);
    dkim_b64_encode(h, 32, &b64);
    CHECK_STR(buf_cstr(&b64), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "empty relaxed body hash");
    CHECK(dkim_body_hash(NULL, &cb, 5, h) < 0, "l= past body");
    buf_free(&cb.rel);
    buf_free(&b64);
    buf_free(&out);
}

/* test_b64 - strict decoding */
static void test_b64(void)
{
    unsigned char out[16];
    size_t n;
    CHECK(dkim_b64_decode("aGVs bG8=", 9, out, sizeof out, &n) == 0 && n == 5 && memcmp(out, "hello", 5) == 0,
          "b64 hello");
    CHECK(dkim_b64_decode("aGVsbG8", 7, out, sizeof out, &n) == 0 && n == 5, "b64 no padding");
    CHECK(dkim_b64_decode("aGVsbG8=x", 9, out, sizeof out, &n) < 0, "data after padding");
    CHECK(dkim_b64_decode("a", 1, out, sizeof out, &n) < 0, "one char");
    CHECK(dkim_b64_decode("a!==", 4, out, sizeof out, &n) < 0, "bad char");
}

/* test_msg_parse - header block splitting */
static void test_msg_parse(void)
{
    dkim_msg m;
    char err[128];
    const char *ok = "From: a\r\nSubject: x\r\n y\r\n\r\nbody\r\n";
    CHECK(dkim_msg_parse(ok, strlen(ok), &m, err, sizeof err) == 0 && m.nf == 2, "two fields");
    CHECK(m.body_len == 6, "body len %zu", m.body_len);
    dkim_msg_free(&m);
    CHECK(dkim_msg_parse(" x\r\n\r\n", 6, &m, err, sizeof err) < 0, "leading continuation");
    CHECK(dkim_msg_parse("nocolon\r\n\r\n", 11, &m, err, sizeof err) < 0, "no colon");
}

static const char sample[] = "From: Joe <joe@example.org>\r\n"
                             "To: Ann <ann@example.net>\r\n"
                             "Subject: lunch   at noon?\r\n"
                             "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
                             "Message-ID: <1@example.org>\r\n"
                             "\r\n"
                             "Hi Ann,  \r\n\r\nlunch?\r\n\r\n";

/* sign_msg - sign sample (or msg) and return header+msg in out (initialised here) */
static int sign_msg(const dkim_key *k, const char *sel, const char *msg, buf *out)
{
    buf_init(out, 1u << 20);
    if (dkim_sign(k, "example.org", sel, msg, strlen(msg), out) != DKIM_OK)
        return -1;
    return buf_append_str(out, msg) == BUF_OK ? 0 : -1;
}

/* add_key - publish k under sel._domainkey.example.org */
static void add_key(dns_resolver *r, const dkim_key *k, const char *sel)
{
    buf rec;
    buf_init(&rec, 4096);
    CHECK(dkim_key_record(k, &rec) == DKIM_OK, "key record");
    char name[256];
    snprintf(name, sizeof name, "%s._domainkey.example.org", sel);
    dns_static_add(r, name, DNS_T_TXT, 0, rec.data, rec.len);
    buf_free(&rec);
}

/* replace_once - copy of s with the first occurrence of a replaced by b (caller frees) */
static char *replace_once(const char *s, const char *a, const char *b)
{
    const char *p = strstr(s, a);
    if (!p)
        return strdup(s);
    size_t n = strlen(s) - strlen(a) + strlen(b);
    char *o = malloc(n + 1);
    size_t pre = (size_t)(p - s);
    memcpy(o, s, pre);
    memcpy(o + pre, b, strlen(b));
    memcpy(o + pre + strlen(b), p + strlen(a), strlen(p + strlen(a)) + 1);
    return o;
}

/* test_roundtrip - sign with both key types, verify, tamper, dual sign */
static void test_roundtrip(struct event_base *base)
{
    dns_resolver *r = dns_static_new(base);
    dkim_key *rsa = dkim_key_generate(DKIM_KEY_RSA), *ed = dkim_key_generate(DKIM_KEY_ED25519);
    CHECK(rsa && ed, "keygen");
    add_key(r, rsa, "rsa");
    add_key(r, ed, "ed");
    dns_static_add(r, "revoked._domainkey.example.org", DNS_T_TXT, 0, "v=DKIM1; p=", 11);
    dns_static_timeout(r, "slow._domainkey.example.org");

    buf s1, s2;
    CHECK(sign_msg(rsa, "rsa", sample, &s1) == 0, "rsa sign");
    CHECK(sign_msg(ed, "ed", buf_cstr(&s1), &s2) == 0, "dual sign");
    /* every line of our field fits in 78 columns */
    const char *p = buf_cstr(&s2);
    size_t col = 0, maxcol = 0;
    for (; *p && strncmp(p, "\r\nFrom:", 7) != 0 && p < buf_cstr(&s2) + 2000; p++) {
        if (*p == '\r')
            col = 0;
        else if (*p != '\n' && ++col > maxcol)
            maxcol = col;
    }
    CHECK(maxcol <= 78, "folded at 78, got %zu", maxcol);
    CHECK(strstr(buf_cstr(&s2), "h=from:from:to:subject:date:message-id;") != NULL, "h= list: %s", buf_cstr(&s2));

    dkim_results res;
    dkim_verify_sync(base, r, s2.data, s2.len, &res);
    CHECK(res.count == 2 && res.sig[0].result == DKIM_PASS && res.sig[1].result == DKIM_PASS,
          "dual pass: %s / %s", res.sig[0].reason, res.sig[1].reason);
    CHECK_STR(res.sig[0].algo, "ed25519-sha256", "first is ed25519");
    CHECK_STR(res.sig[1].algo, "rsa-sha256", "second is rsa");
    CHECK_STR(res.sig[0].auid, "@example.org", "auid default");
    CHECK(strlen(res.sig[0].b_prefix) == 12, "b prefix");

    /* relaxed: re-folding and whitespace changes still pass */
    char *t = replace_once(s2.data, "Subject: lunch   at noon?", "subject:  lunch at\r\n noon?  ");
    dkim_verify_sync(base, r, t, strlen(t), &res);
    CHECK(res.sig[0].result == DKIM_PASS && res.sig[1].result == DKIM_PASS, "relaxed survives refold");
    free(t);
    t = replace_once(s2.data, "lunch?", "dinner?");
    dkim_verify_sync(base, r, t, strlen(t), &res);
    CHECK(res.sig[0].result == DKIM_FAIL && res.sig[1].result == DKIM_FAIL, "body tamper fails");
    CHECK_STR(res.sig[0].reason, "body hash mismatch", "body tamper reason");
    free(t);
    t = replace_once(s2.data, "noon?", "one?");
    dkim_verify_sync(base, r, t, strlen(t), &res);
    CHECK(res.sig[0].result == DKIM_FAIL && res.sig[1].result == DKIM_FAIL, "header tamper fails");
    free(t);
    /* oversigned From: adding a second From breaks the signature */
    char *t2 = xasprintf("From: evil@example.com\r\n%s", s2.data);
    dkim_verify_sync(base, r, t2, strlen(t2), &res);
    CHECK(res.sig[0].result == DKIM_FAIL, "added From fails");
    free(t2);

    buf s3;
    CHECK(sign_msg(ed, "revoked", sample, &s3) == 0, "sign revoked");
    dkim_verify_sync(base, r, s3.data, s3.len, &res);
    CHECK(res.sig[0].result == DKIM_PERMERROR && strcmp(res.sig[0].reason, "key revoked") == 0, "revoked: %s",
          res.sig[0].reason);
    buf_free(&s3);
    CHECK(sign_msg(ed, "slow", sample, &s3) == 0, "sign slow");
    dkim_verify_sync(base, r, s3.data, s3.len, &res);
    CHECK(res.sig[0].result == DKIM_TEMPERROR, "timeout -> temperror");
    buf_free(&s3);
    CHECK(sign_msg(ed, "absent", sample, &s3) == 0, "sign absent");
    dkim_verify_sync(base, r, s3.data, s3.len, &res);
    CHECK(res.sig[0].result == DKIM_PERMERROR, "no key -> permerror");
    buf_free(&s3);
    CHECK(sign_msg(ed, "rsa", sample, &s3) == 0, "sign with wrong key type");
    dkim_verify_sync(base, r, s3.data, s3.len, &res);
    CHECK(res.sig[0].result == DKIM_PERMERROR, "k= mismatch -> permerror: %s", res.sig[0].reason);
    buf_free(&s3);

    dkim_verify_sync(base, r, sample, strlen(sample), &res);
    CHECK(res.count == 0 && res.found == 0, "unsigned -> none");
    buf b;
    buf_init(&b, 100);
    CHECK(dkim_sign(ed, "example.org", "ed", "Subject: x\r\n\r\n", 14, &b) == DKIM_ERR_MSG, "no From refused");
    CHECK(dkim_sign(ed, "exa mple.org", "ed", sample, strlen(sample), &b) == DKIM_ERR_ARG, "bad domain refused");
    buf_free(&b);

    buf_free(&s1);
    buf_free(&s2);
    dkim_key_free(rsa);
    dkim_key_free(ed);
    dns_resolver_free(r);
}

/* test_pem - key loading from PEM text */
static void test_pem(void)
{
    char err[128], path[1024];
    dkim_key *k = dkim_key_load(tl_shared_path("conformance/dkim/test.private", path, sizeof path), err, sizeof err);
    CHECK(k && dkim_key_get_type(k) == DKIM_KEY_RSA, "load test.private: %s", k ? "" : err);
    dkim_key_free(k);
    k = dkim_key_from_pem("garbage", 7, err, sizeof err);
    CHECK(k == NULL && err[0], "garbage refused");
}

int main(void)
{
    struct event_base *base = event_base_new();
    test_tags();
    test_canon();
    test_b64();
    test_msg_parse();
    test_roundtrip(base);
    test_pem();
    event_base_free(base);
    return check_summary();
}
