/* test_spf_parse - got/want tables for SPF record parsing, macro syntax and
 * expansion (RFC 7208 7.4 examples), query-name forming and 4.3 checks. */
#include "auth/spf_parse.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *record;
    int ok;          /* parses */
    size_t nterms;   /* directives when ok */
} parse_cases[] = {
    {"v=spf1", 1, 0},
    {"v=spf1 -all", 1, 1},
    {"V=SpF1 ~ALL", 1, 1},
    {"v=spf1  a  -all ", 1, 2},
    {"v=spf1 a mx ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.x.example include:_spf.example.com ?all", 1, 8},
    {"v=spf1 a/24//64 mx:example.com/0 a//0", 1, 3},
    {"v=spf1 redirect=_spf.example.com", 1, 0},
    {"v=spf1 -all exp=explain._spf.%{d}", 1, 1},
    {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", 1, 2},
    {"v=spf1 default=+", 1, 0},
    {"v=spf1 a:foo:bar/baz.example.com", 1, 1},
    {"v=spf1 a:foo.example.xn--zckzah -all", 1, 2},
    {"v=spf1 a:%{H}.bar -all", 1, 2},
    {"v=spf10", 0, 0},
    {"v=spf1 ip4:1.2.3.4 -all moo", 0, 0},
    {"v=spf1 moo.cow/far_out=man:dog/cat", 0, 0},
    {"v=spf1 redirect:t2.example.com", 0, 0},
    {"v=spf1 a:foo-bar -all", 0, 0},
    {"v=spf1 -all.", 0, 0},
    {"v=spf1 -all:foobar", 0, 0},
    {"v=spf1 -all/8", 0, 0},
    {"v=spf1 ptr/0 -all", 0, 0},
    {"v=spf1 ptr:", 0, 0},
    {"v=spf1 a/33 -all", 0, 0},
    {"v=spf1 a//129 -all", 0, 0},
    {"v=spf1 a/24/64 -all", 0, 0},
    {"v=spf1 a:111.222.33.44", 0, 0},
    {"v=spf1 a:abc.123", 0, 0},
    {"v=spf1 a:museum.", 0, 0},
    {"v=spf1 a:example.-com", 0, 0},
    {"v=spf1 a:example.com:8080", 0, 0},
    {"v=spf1 include", 0, 0},
    {"v=spf1 include:ip5.example.com/24", 0, 0},
    {"v=spf1 exists:mail.example.com/24", 0, 0},
    {"v=spf1 ip4:1.2.3.4/032", 0, 0},
    {"v=spf1 ip4:1.2.3.4//32", 0, 0},
    {"v=spf1 ip4:1.2.3", 0, 0},
    {"v=spf1 ip4:01.2.3.4", 0, 0},
    {"v=spf1 ip6::CAFE::BABE", 0, 0},
    {"v=spf1 ip6:::1.1.1.1//33", 0, 0},
    {"v=spf1 1up=foo", 0, 0},
    {"v=spf1 =all", 0, 0},
    {"v=spf1 foo=%abc", 0, 0},
    {"v=spf1 exp=", 0, 0},
    {"v=spf1 exp=-all", 0, 0},
    {"v=spf1 redirect=a.example.com redirect=b.example.com", 0, 0},
    {"v=spf1 exp=%{r}.example.com -all", 0, 0},
    {"v=spf1 -exists:%(ir).sbl.example.com", 0, 0},
    {"v=spf1 a:ctrl.example.com\rptr -all", 0, 0},
    {"v=spf1 \x80" "a:example.net -all", 0, 0},
};

/* test_parse - every record either parses to nterms directives or is rejected with a reason */
static void test_parse(void)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        spf_record *r = NULL;
        char err[160] = "";
        const char *rec = parse_cases[i].record;
        int rc = spf_record_parse(rec, strlen(rec), &r, err, sizeof err);
        CHECK((rc == 0) == parse_cases[i].ok, "%s: rc %d err %s", rec, rc, err);
        if (rc == 0 && parse_cases[i].ok)
            CHECK(r->nterms == parse_cases[i].nterms, "%s: %zu terms", rec, r->nterms);
        if (rc < 0)
            CHECK(err[0] != '\0', "%s: no reason given", rec);
        spf_record_free(r);
    }
}

/* test_parse_details - qualifiers, targets, CIDR lengths and modifiers land in the right fields */
static void test_parse_details(void)
{
    const char *rec = "v=spf1 -a:mail.%{d}/24//64 ~ip4:192.0.2.0/24 ip6:2001:db8::/32 redirect=_spf.example.com";
    spf_record *r = NULL;
    char err[160];
    CHECK(spf_record_parse(rec, strlen(rec), &r, err, sizeof err) == 0, "%s", err);
    if (!r)
        return;
    CHECK(r->terms[0].type == SPF_M_A && r->terms[0].qualifier == '-', "a");
    CHECK_STR(r->terms[0].spec, "mail.%{d}", "a target");
    CHECK(r->terms[0].cidr4 == 24 && r->terms[0].cidr6 == 64, "a cidr %d %d", r->terms[0].cidr4, r->terms[0].cidr6);
    CHECK(r->terms[1].qualifier == '~' && r->terms[1].cidr4 == 24 && r->terms[1].net[0] == 192, "ip4");
    CHECK(r->terms[2].qualifier == '+' && r->terms[2].cidr6 == 32 && r->terms[2].net[1] == 0x01, "ip6");
    CHECK_STR(r->terms[1].text, "~ip4:192.0.2.0/24", "term text");
    CHECK_STR(r->redirect, "_spf.example.com", "redirect");
    CHECK(r->exp == NULL, "no exp");
    spf_record_free(r);
}

/* the RFC 7208 7.4 example values; %{p} is mx.example.org */
static spf_macro_vars example_vars(int v6)
{
    spf_macro_vars v = {
        .sender = "strong-bad@email.example.com",
        .local = "strong-bad",
        .odomain = "email.example.com",
        .domain = "email.example.com",
        .ip_i = v6 ? "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1" : "192.0.2.3",
        .ip_c = v6 ? "2001:db8::cb01" : "192.0.2.3",
        .ip_v = v6 ? "ip6" : "in-addr",
        .helo = "mx.example.org",
        .ptr = "mx.example.org",
        .receiver = "mx.receiver.example",
        .now = 1700000000,
    };
    return v;
}

static const struct {
    const char *macro;
    int v6, flags;
    const char *want; /* NULL = syntax error */
} expand_cases[] = {
    {"%{s}", 0, 0, "strong-bad@email.example.com"},
    {"%{o}", 0, 0, "email.example.com"},
    {"%{d}", 0, 0, "email.example.com"},
    {"%{d4}", 0, 0, "email.example.com"},
    {"%{d3}", 0, 0, "email.example.com"},
    {"%{d2}", 0, 0, "example.com"},
    {"%{d1}", 0, 0, "com"},
    {"%{dr}", 0, 0, "com.example.email"},
    {"%{d2r}", 0, 0, "example.email"},
    {"%{l}", 0, 0, "strong-bad"},
    {"%{l-}", 0, 0, "strong.bad"},
    {"%{lr}", 0, 0, "strong-bad"},
    {"%{lr-}", 0, 0, "bad.strong"},
    {"%{l1r-}", 0, 0, "strong"},
    {"%{ir}.%{v}._spf.%{d2}", 0, 0, "3.2.0.192.in-addr._spf.example.com"},
    {"%{lr-}.lp._spf.%{d2}", 0, 0, "bad.strong.lp._spf.example.com"},
    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", 0, 0, "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", 0, 0, "3.2.0.192.in-addr.strong.lp._spf.example.com"},
    {"%{d2}.trusted-domains.example.net", 0, 0, "example.com.trusted-domains.example.net"},
    {"%{ir}.%{v}._spf.%{d2}", 1, 0,
     "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com"},
    {"%{p}", 0, 0, "mx.example.org"},
    {"%{h}", 0, 0, "mx.example.org"},
    {"%%%_%-", 0, 0, "% %20"},
    {"%{L}", 0, 0, "strong-bad"},
    {"%{S}", 0, 0, "strong-bad%40email.example.com"},
    {"%{c} %{r} %{t}", 0, SPF_MACRO_EXP, "192.0.2.3 mx.receiver.example 1700000000"},
    {"%{c}", 1, SPF_MACRO_EXP, "2001:db8::cb01"},
    {"%{C}", 1, SPF_MACRO_EXP, "2001%3Adb8%3A%3Acb01"},
    {"%{d+-,/_=}", 0, 0, "email.example.com"},
    {"%{c}", 0, 0, NULL},     /* c, r, t only in explanations (7.1) */
    {"a b", 0, 0, NULL},      /* SP only in explanations */
    {"%{d0}", 0, 0, NULL},    /* DIGIT must be nonzero */
    {"%{x}", 0, 0, NULL},
    {"%{d", 0, 0, NULL},
    {"%(ir)", 0, 0, NULL},
    {"foo%.bar", 0, 0, NULL},
    {"trailing%", 0, 0, NULL},
    {"%{d2.}", 0, 0, "example.com"},
};

/* test_expand - the 7.4 tables and the escapes */
static void test_expand(void)
{
    for (size_t i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
        spf_macro_vars v = example_vars(expand_cases[i].v6);
        buf out;
        buf_init(&out, SPF_MAX_EXPANSION);
        const char *m = expand_cases[i].macro;
        int rc = spf_macro_expand(m, strlen(m), &v, expand_cases[i].flags, &out);
        int chk = spf_macro_check(m, strlen(m), expand_cases[i].flags);
        if (expand_cases[i].want) {
            CHECK(rc == 0 && chk == 0, "%s: rc %d check %d", m, rc, chk);
            CHECK_STR(buf_cstr(&out), expand_cases[i].want, m);
        } else {
            CHECK(rc < 0 && chk < 0, "%s: accepted", m);
        }
        buf_free(&out);
    }
}

/* test_uses_p - %{p} in either case is found, other letters are not */
static void test_uses_p(void)
{
    CHECK(spf_macro_uses_p("%{p}.x", 6) == 1, "p");
    CHECK(spf_macro_uses_p("a.%{P2r}", 8) == 1, "P");
    CHECK(spf_macro_uses_p("%{d}.%%p", 8) == 0, "no p");
}

static const struct {
    const char *spec;
    int ok;
} spec_cases[] = {
    {"example.com", 1},        {"example.com.", 1},   {"%{d}", 1},          {"_spf.%{d2}", 1},
    {"%{d}.", 0},              {"com", 0},            {"a.123", 0},         {"a.1-2", 1},
    {"a.-com", 0},             {"a.com-", 0},         {"x.xn--zckzah", 1},  {"", 0},
    {"foo%%", 1},              {"a.b%-", 1},          {"a..com", 1},        {"a.c%om", 0},
};

/* test_domain_spec - 7.1 domain-end: a macro, or "." toplabel ["."] */
static void test_domain_spec(void)
{
    for (size_t i = 0; i < sizeof spec_cases / sizeof spec_cases[0]; i++) {
        const char *s = spec_cases[i].spec;
        CHECK((spf_domain_spec_check(s, strlen(s)) == 0) == spec_cases[i].ok, "%s", s);
    }
}

/* test_target_name - trailing dot dropped, left labels cut to 253, bad names refused */
static void test_target_name(void)
{
    spf_macro_vars v = example_vars(0);
    char out[300];
    CHECK(spf_target_name("%{d}.", &v, out, sizeof out) == 0, "dot");
    CHECK_STR(out, "email.example.com", "dot");
    char longspec[400];
    snprintf(longspec, sizeof longspec, "foobar.%s.example.com",
             "%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}");
    CHECK(spf_target_name(longspec, &v, out, sizeof out) == 0, "long");
    /* whole labels go from the left until it fits: 14 x "email.example.com." + "example.com" is 263 */
    CHECK(strlen(out) <= 253 && strlen(out) > 240 && strncmp(out, "com.email.example.com.", 22) == 0,
          "truncated to %s", out);
    CHECK(spf_target_name("a..%{d}", &v, out, sizeof out) < 0, "empty label");
    CHECK(spf_target_name("a123456789012345678901234567890123456789012345678901234567890123.com", &v, out,
                          sizeof out) < 0, "64-octet label");
}

static const struct {
    const char *domain;
    int ok;
} domain_cases[] = {
    {"example.com", 1},  {"example.com.", 1}, {"A2345678", 0},     {"[1.2.3.5]", 0},  {"1.2.3.5", 0},
    {"A...example.com", 0}, {"", 0},          {"a b.example", 0},  {"xn--p1ai.xn--p1ai", 1},
    {"A123456789012345678901234567890123456789012345678901234567890123.example.com", 0},
};

/* test_domain_ok - 4.3 initial processing */
static void test_domain_ok(void)
{
    for (size_t i = 0; i < sizeof domain_cases / sizeof domain_cases[0]; i++) {
        const char *d = domain_cases[i].domain;
        CHECK(spf_domain_ok(d, strlen(d)) == domain_cases[i].ok, "%s", d);
    }
}

/* test_nibbles - %{i} of an IPv6 address */
static void test_nibbles(void)
{
    unsigned char a[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 0xcb, [15] = 0x01};
    char out[72];
    spf_ip_nibbles(a, out, sizeof out);
    CHECK_STR(out, "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1", "nibbles");
}

/* test_is_spf - record selection (4.5) */
static void test_is_spf(void)
{
    CHECK(spf_record_is_spf("v=spf1", 6), "bare");
    CHECK(spf_record_is_spf("V=SPF1 -all", 11), "case");
    CHECK(!spf_record_is_spf("v=spf10", 7), "spf10");
    CHECK(!spf_record_is_spf("v=spf1mx", 8), "no space");
    CHECK(!spf_record_is_spf("spf2.0/pra", 10), "sender id");
}

int main(void)
{
    test_parse();
    test_parse_details();
    test_expand();
    test_uses_p();
    test_domain_spec();
    test_target_name();
    test_domain_ok();
    test_is_spf();
    test_nibbles();
    return check_summary();
}
