/*
 * test_dkim_vectors - DKIM verification against the shared conformance
 * data (../shared/conformance/dkim, see its README.md): RFC 6376 A.2 and
 * RFC 8463 signatures, exim's Ed25519 signature, the 11 chasquid cases
 * with their fake DNS and expected per-signature states, bad key records,
 * RFC 8301 rules (rsa-sha1, short keys), x= expiry, tampered messages.
 */
#include "auth/dkim.h"
#include "check.h"
#include "dkim_testlib.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static struct event_base *base;

/* verify_file - verify shared file rel (LF -> CRLF) with resolver r */
static void verify_file(dns_resolver *r, const char *rel, dkim_results *res)
{
    buf m;
    memset(res, 0, sizeof *res);
    CHECK(tl_read_shared_crlf(rel, &m) == 0, "read %s", rel);
    dkim_verify_sync(base, r, m.data ? m.data : "", m.len, res);
    buf_free(&m);
}

/* verify_text - verify an in-memory message */
static void verify_text(dns_resolver *r, const char *msg, dkim_results *res)
{
    dkim_verify_sync(base, r, msg, strlen(msg), res);
}

static const char *const football_dns = "conformance/dkim/chasquid/01-rfc8463.dns";

/* test_rfc6376 - Appendix A.2 (simple/simple rsa-sha256), raw PKCS#1 key, three copies, unsigned */
static void test_rfc6376(void)
{
    dns_resolver *r = dns_static_new(base);
    /* dns.zone transcribed: two TXT records */
    const char *bris = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";
    const char *ne = "v=DKIM1; p=MIGJAoGBALVI635dLK4cJJAH3Lx6upo3X/Lm1tQz3mezcWTA3BUBnyIsdnRf57aD5BtNmhPrYYDlWlzw3UgnKisIxktkk5+iMQMlFtAS10JB8L3YadXNJY+JBcbeSi5TgJe4WFzNgW95FWDAuSTRXSWZfA/8xjflbTLDx0euFZOM7C4T0GwLAgMBAAE=";
    dns_static_add(r, "brisbane._domainkey.example.com", DNS_T_TXT, 0, bris, strlen(bris));
    dns_static_add(r, "newengland._domainkey.example.com", DNS_T_TXT, 0, ne, strlen(ne));
    dkim_results res;
    verify_file(r, "conformance/dkim/rfc6376/rfc6376-A.2-signed.eml", &res);
    CHECK(res.count == 1 && res.sig[0].result == DKIM_PASS, "A.2 pass: %s", res.sig[0].reason);
    CHECK_STR(res.sig[0].auid, "joe@football.example.com", "A.2 i=");
    verify_file(r, "conformance/dkim/rfc6376/rfc6376-A.2-rawrsa-newengland.eml", &res);
    CHECK(res.count == 1 && res.sig[0].result == DKIM_PASS, "PKCS#1 key pass: %s", res.sig[0].reason);
    verify_file(r, "conformance/dkim/rfc6376/rfc6376-A.2-three-sigs.eml", &res);
    CHECK(res.found == 3 && res.count == 3, "three sigs");
    for (size_t i = 0; i < res.count; i++)
        CHECK(res.sig[i].result == DKIM_PASS, "three sigs #%zu", i);
    verify_file(r, "conformance/dkim/rfc6376/rfc6376-A.1-unsigned.eml", &res);
    CHECK(res.found == 0 && res.count == 0, "unsigned -> none");

    /* tampered: body and a signed header */
    buf m;
    tl_read_shared_crlf("conformance/dkim/rfc6376/rfc6376-A.2-signed.eml", &m);
    char *p = strstr(m.data, "dinner");
    CHECK(p != NULL, "find body word");
    if (p) {
        p[0] = 'D';
        verify_text(r, m.data, &res);
        CHECK(res.sig[0].result == DKIM_FAIL, "tampered body fails");
        p[0] = 'd';
    }
    p = strstr(m.data, "Subject: Is");
    if (p) {
        p[9] = 'i';
        verify_text(r, m.data, &res);
        CHECK(res.sig[0].result == DKIM_FAIL, "tampered subject fails");
        CHECK_STR(res.sig[0].reason, "signature did not verify", "tampered subject reason");
        p[9] = 'I';
    }
    /* RFC 8301: rsa-sha1 fails; an expired x= fails; a 512-bit key fails */
    char *t = strstr(m.data, "a=rsa-sha256");
    if (t) {
        buf c;
        buf_init(&c, 1 << 20);
        buf_append(&c, m.data, (size_t)(t - m.data));
        buf_append_str(&c, "a=rsa-sha1");
        buf_append_str(&c, t + 12);
        verify_text(r, c.data, &res);
        CHECK(res.sig[0].result == DKIM_FAIL && strstr(res.sig[0].reason, "sha1"), "rsa-sha1: %s", res.sig[0].reason);
        buf_reset(&c);
        buf_append(&c, m.data, (size_t)(t - m.data));
        buf_append_str(&c, "x=1000000000; ");
        buf_append_str(&c, t);
        verify_text(r, c.data, &res);
        CHECK(res.sig[0].result == DKIM_FAIL && strcmp(res.sig[0].reason, "signature expired") == 0, "x=: %s",
              res.sig[0].reason);
        buf_free(&c);
    }
    dns_resolver_free(r);
    r = dns_static_new(base);
    const char *k512 = "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMMyhfexdN5L7NkEWNCVGqNGDmu39KeDEqNm+l3JLNlgioUp0pCCVvhwF1z4RSgX8PqMOjg6Abul3neEkUqCifECAwEAAQ==";
    dns_static_add(r, "brisbane._domainkey.example.com", DNS_T_TXT, 0, k512, strlen(k512));
    verify_text(r, m.data, &res);
    CHECK(res.sig[0].result == DKIM_FAIL && strstr(res.sig[0].reason, "1024"), "512-bit key: %s",
          res.sig[0].reason);
    buf_free(&m);
    dns_resolver_free(r);
}

/* test_rfc8463 - dkimpy's copy of the RFC 8463 example (simple/simple, ed25519 + rsa) and exim's ed25519 */
static void test_rfc8463(void)
{
    dns_resolver *r = dns_static_new(base);
    CHECK(tl_load_chasquid_dns(r, football_dns) == 2, "load football dns");
    dkim_results res;
    verify_file(r, "conformance/dkim/rfc6376.signed.msg", &res);
    CHECK(res.count == 2, "rfc6376.signed.msg two sigs: %zu", res.count);
    CHECK(res.sig[0].result == DKIM_PASS && strcmp(res.sig[0].algo, "ed25519-sha256") == 0, "ed25519 pass: %s",
          res.sig[0].reason);
    CHECK(res.sig[1].result == DKIM_PASS, "rsa pass: %s", res.sig[1].reason);
    const char *exim = "v=DKIM1; k=ed25519; p=sPs07Vu29FpHT/80UXUcYHFOHifD4o2ZlP2+XUh9g6E=";
    dns_static_add(r, "sed._domainkey.test.ex", DNS_T_TXT, 0, exim, strlen(exim));
    verify_file(r, "conformance/dkim/ed25519test2.msg", &res);
    CHECK(res.count == 1 && res.sig[0].result == DKIM_PASS, "exim ed25519: %s", res.sig[0].reason);
    dns_resolver_free(r);
}

/* test_key_records - dkimpy's good and bad key records for test.message (d=example.com s=test) */
static void test_key_records(void)
{
    static const struct {
        const char *file;
        dkim_result want;
    } cases[] = {
        {"conformance/dkim/test.txt", DKIM_PASS},
        {"conformance/dkim/test2.txt", DKIM_PASS},
        {"conformance/dkim/badk.txt", DKIM_PERMERROR},
        {"conformance/dkim/badversion.txt", DKIM_PERMERROR},
        {"conformance/dkim/test_bad.txt", DKIM_PERMERROR},
    };
    char err[128], path[1024];
    dkim_key *k = dkim_key_load(tl_shared_path("conformance/dkim/test.private", path, sizeof path), err, sizeof err);
    buf msg, signed_msg;
    CHECK(k && tl_read_shared_crlf("conformance/dkim/test.message", &msg) == 0, "test.message + key");
    if (!k)
        return;
    buf_init(&signed_msg, 1 << 20);
    CHECK(dkim_sign(k, "example.com", "test", msg.data, msg.len, &signed_msg) == DKIM_OK, "sign test.message");
    buf_append(&signed_msg, msg.data, msg.len);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf rec;
        dns_resolver *r = dns_static_new(base);
        tl_read(tl_shared_path(cases[i].file, path, sizeof path), &rec);
        while (rec.len && (rec.data[rec.len - 1] == '\n' || rec.data[rec.len - 1] == '\r'))
            rec.len--;
        dns_static_add(r, "test._domainkey.example.com", DNS_T_TXT, 0, rec.data, rec.len);
        dkim_results res;
        verify_text(r, signed_msg.data, &res);
        CHECK(res.count == 1 && res.sig[0].result == cases[i].want, "%s: got %s (%s)", cases[i].file,
              dkim_result_name(res.sig[0].result), res.sig[0].reason);
        buf_free(&rec);
        dns_resolver_free(r);
    }
    buf_free(&msg);
    buf_free(&signed_msg);
    dkim_key_free(k);
}

/* expected_states - "State" values in a chasquid .result file, in order; returns count or -1 */
static int expected_states(const char *rel, dkim_result *out, int max, int *found)
{
    char path[1024];
    buf b;
    if (tl_read(tl_shared_path(rel, path, sizeof path), &b) < 0) {
        buf_free(&b);
        return -1;
    }
    const char *p = b.data ? b.data : "";
    const char *f = strstr(p, "\"Found\":");
    *found = f ? (int)strtol(f + 8, NULL, 10) : -1;
    int n = 0;
    while ((p = strstr(p, "\"State\": \"")) != NULL && n < max) {
        p += 10;
        out[n++] = strncmp(p, "SUCCESS", 7) == 0 ? DKIM_PASS : strncmp(p, "TEMPFAIL", 8) == 0 ? DKIM_TEMPERROR
                                                                                              : DKIM_PERMERROR;
    }
    buf_free(&b);
    return n;
}

/* test_chasquid - the 11 file-driven cases */
static void test_chasquid(void)
{
    static const char *const cases[] = {
        "01-rfc8463", "02-too_many_headers", "03-bad_message", "04-bad_dkim_signature_header",
        "05-dns_temp_error", "06-dns_perm_error", "07-algo_mismatch", "08-our_signature", "09-limited_body",
        "10-strict_domain_check_pass", "11-strict_domain_check_fail",
    };
    int passed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[256];
        dns_resolver *r = dns_static_new(base);
        snprintf(rel, sizeof rel, "conformance/dkim/chasquid/%s.dns", cases[i]);
        tl_load_chasquid_dns(r, rel);
        dkim_result want[DKIM_MAX_SIGS];
        int found;
        snprintf(rel, sizeof rel, "conformance/dkim/chasquid/%s.result", cases[i]);
        int n = expected_states(rel, want, DKIM_MAX_SIGS, &found);
        dkim_results res;
        snprintf(rel, sizeof rel, "conformance/dkim/chasquid/%s.msg", cases[i]);
        verify_file(r, rel, &res);
        int ok;
        if (n < 0) { /* no .result: a message-level error, nothing verified */
            ok = res.count == 0 && res.error[0];
        } else {
            ok = (int)res.count == n;
            for (int k = 0; ok && k < n; k++) {
                dkim_result got = res.sig[k].result;
                /* chasquid's PERMFAIL covers both our fail and permerror */
                ok = want[k] == DKIM_PERMERROR ? (got == DKIM_PERMERROR || got == DKIM_FAIL) : got == want[k];
            }
        }
        CHECK(ok, "chasquid %s: count %zu (want %d), first %s (%s)", cases[i], res.count, n,
              res.count ? dkim_result_name(res.sig[0].result) : "-", res.count ? res.sig[0].reason : res.error);
        passed += ok;
        dns_resolver_free(r);
    }
    printf("chasquid cases: %d/%zu\n", passed, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    base = event_base_new();
    test_rfc6376();
    test_rfc8463();
    test_key_records();
    test_chasquid();
    event_base_free(base);
    return check_summary();
}
