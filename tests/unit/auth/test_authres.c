/*
 * test_authres - From-domain extraction (RFC 5322 3.4 forms), the
 * Authentication-Results field (RFC 8601) and removal of forged ones, and
 * organisational domains of the .test names the integration tests use.
 */
#include "auth/authres.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* from_cases - header block -> status and domain */
static void from_cases(void)
{
    static const struct {
        const char *hdr;
        authres_from_status st;
        const char *domain;
    } t[] = {
        {"From: a@Example.TEST\r\n\r\nbody", AUTHRES_FROM_OK, "example.test"},
        {"From: Alice <alice@auth.test>\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: \"Bob <x@evil.test>\" <bob@auth.test>\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: (comment <c@evil.test>) bob@auth.test (more)\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: Alice\r\n <alice@news.auth.test.>\r\n\r\n", AUTHRES_FROM_OK, "news.auth.test"},
        {"From: \"quoted local\"@auth.test\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: a@auth.test, b@auth.test\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: a@auth.test, b@evil.test\r\n\r\n", AUTHRES_FROM_MULTIPLE, NULL},
        {"From: a@auth.test\r\nFrom: b@auth.test\r\n\r\n", AUTHRES_FROM_MULTIPLE, NULL},
        {"Subject: no from\r\n\r\n", AUTHRES_FROM_NONE, NULL},
        {"From: undisclosed:;\r\n\r\n", AUTHRES_FROM_NONE, NULL},
        {"From: friends: a@auth.test;\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"From: nobody\r\n\r\n", AUTHRES_FROM_BAD, NULL},
        {"From: <a@[192.0.2.1]>\r\n\r\n", AUTHRES_FROM_BAD, NULL},
        {"From: \"unterminated <a@auth.test>\r\n\r\n", AUTHRES_FROM_BAD, NULL},
        {" stray continuation\r\nFrom: a@auth.test\r\n\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"Subject: x\r\nno colon: starts the body\r\nFrom: b@evil.test\r\n", AUTHRES_FROM_NONE, NULL},
        {"From: a@auth.test\r\nBad header\r\nFrom: b@evil.test\r\n", AUTHRES_FROM_OK, "auth.test"},
        {"no header at all\r\n", AUTHRES_FROM_NONE, NULL},
        {"garbage line\r\nSubject: x\r\n\r\nFrom: in the body\r\n", AUTHRES_FROM_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char d[256] = "";
        authres_from_status st = authres_from_domain(t[i].hdr, strlen(t[i].hdr), d, sizeof d);
        CHECK(st == t[i].st, "case %zu: status %d want %d", i, st, t[i].st);
        if (t[i].domain)
            CHECK_STR(d, t[i].domain, t[i].hdr);
    }
}

/* many_fields_case - padding cannot hide a From, nor a forged Authentication-Results (no field limit) */
static void many_fields_case(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1200; i++)
        buf_printf(&b, "X-Pad-%d: x\r\n", i);
    buf_append_str(&b, "From: ceo@auth.test\r\nAuthentication-Results: mx.example.test; dmarc=pass\r\n\r\nbody\r\n");
    char d[256] = "";
    CHECK(authres_from_domain(b.data, b.len, d, sizeof d) == AUTHRES_FROM_OK, "1200 fields then From");
    CHECK_STR(d, "auth.test", "From after padding");
    buf out;
    buf_init(&out, 1 << 20);
    CHECK(authres_strip_ours(b.data, b.len, "mx.example.test", &out) == 1, "forged A-R after padding dropped");
    buf_free(&out);
    buf_free(&b);
}

/* header_cases - the A-R field for a typical result set */
static void header_cases(void)
{
    spf_result spf = {.code = SPF_PASS, .identity = SPF_ID_MAILFROM, .domain = "auth.test",
                      .sender = "a@auth.test", .mechanism = "ip4:127.0.0.41"};
    spf_result helo = {.code = SPF_NONE, .identity = SPF_ID_HELO, .helo = "mta.auth.test"};
    dkim_results dk = {.found = 1, .count = 1};
    dk.sig[0].result = DKIM_FAIL;
    snprintf(dk.sig[0].domain, sizeof dk.sig[0].domain, "%s", "auth.test");
    snprintf(dk.sig[0].selector, sizeof dk.sig[0].selector, "%s", "rsa");
    snprintf(dk.sig[0].algo, sizeof dk.sig[0].algo, "%s", "rsa-sha256");
    snprintf(dk.sig[0].b_prefix, sizeof dk.sig[0].b_prefix, "%s", "abc+/=");
    snprintf(dk.sig[0].reason, sizeof dk.sig[0].reason, "%s", "body hash (bh=) does not match");
    dmarc_eval ev = {.result = DMARC_RESULT_PASS, .policy = DMARC_POLICY_REJECT};
    authres_input in = {.authserv_id = "mx.example.test", .spf_mail = &spf, .spf_helo = &helo, .dkim = &dk,
                        .dmarc = &ev, .from_domain = "auth.test"};
    buf b;
    buf_init(&b, 1 << 16);
    CHECK(authres_header(&in, &b) == BUF_OK, "header fits");
    CHECK_STR(buf_cstr(&b),
              "Authentication-Results: mx.example.test;\r\n"
              "\tspf=pass (ip4:127.0.0.41) smtp.mailfrom=a@auth.test;\r\n"
              "\tspf=none smtp.helo=mta.auth.test;\r\n"
              "\tdkim=fail (body hash \\(bh=\\) does not match) header.d=auth.test header.s=rsa header.a=rsa-sha256"
              " header.b=\"abc+/=\";\r\n"
              "\tdmarc=pass (p=reject dis=none) header.from=auth.test\r\n",
              "A-R");
    buf_reset(&b);
    authres_input none = {.authserv_id = "mx.example.test"};
    authres_header(&none, &b);
    CHECK_STR(buf_cstr(&b), "Authentication-Results: mx.example.test; none\r\n", "A-R none");
    buf_free(&b);
}

/* strip_cases - only fields claiming our id go */
static void strip_cases(void)
{
    const char *msg = "Authentication-Results: MX.example.test; dkim=pass\r\n"
                      "Authentication-Results: other.test; spf=pass\r\n"
                      "Authentication-Results: (c) \"mx.example.test\" 1; spf=pass\r\n"
                      "Authentication-Results: mx.example.test.evil; spf=pass\r\n"
                      "authentication-results:\r\n mx.example.test;\r\n dmarc=pass\r\n"
                      "Subject: hi\r\n\r\nAuthentication-Results: mx.example.test; in the body\r\n";
    const char *want = "Authentication-Results: other.test; spf=pass\r\n"
                       "Authentication-Results: mx.example.test.evil; spf=pass\r\n"
                       "Subject: hi\r\n\r\nAuthentication-Results: mx.example.test; in the body\r\n";
    buf b;
    buf_init(&b, 1 << 16);
    int n = authres_strip_ours(msg, strlen(msg), "mx.example.test", &b);
    CHECK(n == 3, "dropped %d, want 3", n);
    CHECK_STR(buf_cstr(&b), want, "strip");
    buf_free(&b);
}

/* org_cases - .test is not on the public suffix list: libpsl's default rule makes it a suffix */
static void org_cases(void)
{
    char o[256];
    CHECK(dmarc_org_domain("news.auth.test", o, sizeof o) == 0, "org of news.auth.test");
    CHECK_STR(o, "auth.test", "org news.auth.test");
    CHECK(dmarc_org_domain("a.b.mail.strict.test", o, sizeof o) == 0, "org deep");
    CHECK_STR(o, "strict.test", "org deep");
    CHECK(dmarc_org_domain("test", o, sizeof o) < 0, "a bare suffix has no org domain");
    CHECK(dmarc_aligned("news.auth.test", "auth.test", 0) == 1, "relaxed subdomain aligned");
    CHECK(dmarc_aligned("news.auth.test", "auth.test", 1) == 0, "strict subdomain not aligned");
    CHECK(dmarc_aligned("quar.test", "auth.test", 0) == 0, "different org not aligned");
}

int main(void)
{
    from_cases();
    many_fields_case();
    header_cases();
    strip_cases();
    org_cases();
    return check_summary();
}
