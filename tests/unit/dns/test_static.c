/*
 * test_static - the in-memory resolver: statuses, CNAME following, ordering,
 * cancel, callbacks never from inside dns_lookup(), free with queries in
 * flight, and reverse names for IPv4 and IPv6.
 */
#include "check.h"
#include "dns/dns.h"
#include "dns_testlib.h"

#include <event2/event.h>
#include <stdlib.h>

static const struct {
    const char *name;
    uint16_t type;
    dns_status want;
    size_t count;
    const char *first; /* text of the first record, or NULL */
    const char *canon;
} cases[] = {
    {"example.test", DNS_T_MX, DNS_OK, 2, "mx.example.test", NULL},
    {"EXAMPLE.test.", DNS_T_MX, DNS_OK, 2, "mx.example.test", NULL},
    {"mx.example.test", DNS_T_A, DNS_OK, 1, "127.0.0.1", NULL},
    {"mx.example.test", DNS_T_AAAA, DNS_NODATA, 0, NULL, NULL},
    {"nope.example.test", DNS_T_A, DNS_NXDOMAIN, 0, NULL, NULL},
    {"slow.test", DNS_T_A, DNS_TEMPFAIL, 0, NULL, NULL},
    {"slow.test", DNS_T_TXT, DNS_TEMPFAIL, 0, NULL, NULL},
    {"nullmx.test", DNS_T_MX, DNS_OK, 1, "", NULL},
    {"www.example.test", DNS_T_A, DNS_OK, 1, "127.0.0.1", "mx.example.test"},
    {"www.example.test", DNS_T_CNAME, DNS_OK, 1, "mx.example.test", NULL},
    {"loop.test", DNS_T_A, DNS_TEMPFAIL, 0, NULL, NULL},
    {"bad..name", DNS_T_A, DNS_PERMFAIL, 0, NULL, NULL},
    {"example.test", DNS_T_TXT, DNS_OK, 1, "v=spf1 mx -all", NULL},
};

/* load - the records the table above expects */
static void load(dns_resolver *r)
{
    dns_static_add(r, "example.test", DNS_T_MX, 10, "MX.example.test.", 16);
    dns_static_add(r, "example.test", DNS_T_MX, 20, "mx2.example.test", 16);
    dns_static_add(r, "example.test", DNS_T_TXT, 0, "v=spf1 mx -all", 14);
    dns_static_add(r, "mx.example.test", DNS_T_A, 0, "127.0.0.1", 9);
    dns_static_add(r, "www.example.test", DNS_T_CNAME, 0, "mx.example.test", 15);
    dns_static_add(r, "nullmx.test", DNS_T_MX, 0, ".", 1);
    dns_static_add(r, "loop.test", DNS_T_CNAME, 0, "loop2.test", 10);
    dns_static_add(r, "loop2.test", DNS_T_CNAME, 0, "loop.test", 9);
    dns_static_timeout(r, "slow.test");
}

/* test_table - every case through the loop */
static void test_table(struct event_base *base, dns_resolver *r)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        got g = {0, NULL};
        dns_lookup(r, cases[i].name, cases[i].type, on_answer, &g);
        CHECK(g.calls == 0, "%s: callback ran inside dns_lookup", cases[i].name);
        event_base_dispatch(base);
        CHECK(g.calls == 1, "%s: %d calls", cases[i].name, g.calls);
        if (!g.a)
            continue;
        CHECK(g.a->status == cases[i].want, "%s/%u: status %s", cases[i].name, cases[i].type,
              dns_status_name(g.a->status));
        CHECK(g.a->count == cases[i].count, "%s: count %zu", cases[i].name, g.a->count);
        CHECK_STR(g.a->name, cases[i].name, "name");
        CHECK(g.a->type == cases[i].type, "%s: type", cases[i].name);
        if (cases[i].first && g.a->count)
            CHECK_STR(g.a->rr[0].text, cases[i].first, cases[i].name);
        CHECK_STR(g.a->canon, cases[i].canon, cases[i].name);
        dns_answer_free(g.a);
    }
}

/* test_details - MX preferences and order, TTL */
static void test_details(struct event_base *base, dns_resolver *r)
{
    dns_answer *a = NULL;
    dns_status st = dns_lookup_sync(base, r, "example.test", DNS_T_MX, &a);
    CHECK(st == DNS_OK, "sync status %d", st);
    if (a && a->count == 2) {
        CHECK(a->rr[0].pref == 10 && a->rr[1].pref == 20, "prefs %u %u", a->rr[0].pref, a->rr[1].pref);
        CHECK_STR(a->rr[1].text, "mx2.example.test", "second MX");
        CHECK(a->ttl == 300 && a->rr[0].type == DNS_T_MX, "ttl %u", a->ttl);
    }
    dns_answer_free(a);
    CHECK(dns_lookup_sync(base, r, "nope.test", DNS_T_A, NULL) == DNS_NXDOMAIN, "sync nxdomain");
}

/* test_cancel - a cancelled query never calls back; free with queries in flight */
static void test_cancel(struct event_base *base, dns_resolver *r)
{
    got g1 = {0, NULL}, g2 = {0, NULL};
    dns_query *q1 = dns_lookup(r, "example.test", DNS_T_MX, on_answer, &g1);
    dns_lookup(r, "mx.example.test", DNS_T_A, on_answer, &g2);
    dns_cancel(r, q1);
    event_base_dispatch(base);
    CHECK(g1.calls == 0, "cancelled query called back");
    CHECK(g2.calls == 1, "other query: %d calls", g2.calls);
    dns_answer_free(g2.a);

    dns_resolver *r2 = dns_static_new(base);
    got g3 = {0, NULL};
    dns_lookup(r2, "x.test", DNS_T_A, on_answer, &g3);
    dns_lookup(r2, "y.test", DNS_T_A, on_answer, &g3);
    dns_resolver_free(r2);
    event_base_dispatch(base);
    CHECK(g3.calls == 0, "freed resolver called back");
}

/* test_reverse - PTR owner names */
static void test_reverse(void)
{
    static const struct {
        const char *ip, *want;
    } rc[] = {
        {"127.0.0.1", "1.0.0.127.in-addr.arpa"},
        {"192.0.2.45", "45.2.0.192.in-addr.arpa"},
        {"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
        {"::ffff:1.2.3.4", "4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++) {
        CHECK(dns_reverse_name(rc[i].ip, out, sizeof out) == 0, "%s", rc[i].ip);
        CHECK_STR(out, rc[i].want, rc[i].ip);
    }
    CHECK(dns_reverse_name("not-an-ip", out, sizeof out) == -1, "garbage");
    CHECK(dns_reverse_name("127.0.0.1", out, 10) == -1, "short buffer v4");
    CHECK(dns_reverse_name("::1", out, 20) == -1, "short buffer v6");
}

/* test_names - status and type names */
static void test_names(void)
{
    CHECK_STR(dns_status_name(DNS_OK), "ok", "ok");
    CHECK_STR(dns_status_name(DNS_NODATA), "nodata", "nodata");
    CHECK_STR(dns_status_name(DNS_NXDOMAIN), "nxdomain", "nxdomain");
    CHECK_STR(dns_status_name(DNS_TEMPFAIL), "tempfail", "tempfail");
    CHECK_STR(dns_status_name(DNS_PERMFAIL), "permfail", "permfail");
    CHECK(dns_type_parse("mx") == DNS_T_MX && dns_type_parse("AAAA") == DNS_T_AAAA, "parse");
    CHECK(dns_type_parse("HINFO") == 0, "unknown type");
    CHECK_STR(dns_type_name(DNS_T_PTR), "PTR", "PTR");
}

int main(void)
{
    struct event_base *base = event_base_new();
    dns_resolver *r = dns_static_new(base);
    load(r);
    test_table(base, r);
    test_details(base, r);
    test_cancel(base, r);
    dns_resolver_free(r);
    test_reverse();
    test_names();
    event_base_free(base);
    return check_summary();
}
