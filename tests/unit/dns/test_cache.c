/*
 * test_cache - the answer cache in front of a resolver: a repeated question
 * is answered without asking the inner resolver (on the next loop turn,
 * with the answer it gave first, in the caller's spelling of the name);
 * names differing in case or a trailing dot share an entry; failures are
 * never kept; entries expire after max_ttl; cancel and free with queries in
 * flight never call back. The inner resolver is the in-memory one, wrapped
 * in a counter of the lookups that reach it.
 */
#include "check.h"
#include "dns/dns.h"
#include "dns_testlib.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* counting - forwards to a static resolver and counts the lookups */
typedef struct counting {
    dns_resolver iface;
    dns_resolver *inner;
    int lookups;
} counting;

static dns_query *counting_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    counting *c = (counting *)r;
    c->lookups++;
    return dns_lookup(c->inner, name, type, cb, arg);
}

static void counting_cancel(dns_resolver *r, dns_query *q)
{
    dns_cancel(((counting *)r)->inner, q);
}

static void counting_free(dns_resolver *r)
{
    dns_resolver_free(((counting *)r)->inner);
    free(r);
}

/* ask - one lookup to completion; the number of callbacks (the answer in g) */
static int ask(struct event_base *base, dns_resolver *r, const char *name, uint16_t type, got *g)
{
    g->calls = 0;
    dns_lookup(r, name, type, on_answer, g);
    CHECK(g->calls == 0, "%s: callback ran inside dns_lookup", name);
    event_base_dispatch(base);
    return g->calls;
}

/* setup - a cache over a counting static resolver holding a few records */
static dns_resolver *setup(struct event_base *base, unsigned max_ttl, counting **cnt)
{
    counting *c = calloc(1, sizeof *c);
    c->iface.lookup = counting_lookup;
    c->iface.cancel = counting_cancel;
    c->iface.free = counting_free;
    c->inner = dns_static_new(base);
    dns_static_add(c->inner, "example.test", DNS_T_MX, 10, "mx.example.test", 15);
    dns_static_add(c->inner, "mx.example.test", DNS_T_A, 0, "127.0.0.1", 9);
    dns_static_timeout(c->inner, "slow.test");
    *cnt = c;
    return dns_cache_new(base, &c->iface, 8, max_ttl);
}

/* test_hits - a second question is answered from memory, the same, named as asked */
static void test_hits(struct event_base *base)
{
    counting *c;
    dns_resolver *r = setup(base, 3600, &c);
    got g = {0, NULL};
    CHECK(ask(base, r, "example.test", DNS_T_MX, &g) == 1 && c->lookups == 1, "first: %d lookups", c->lookups);
    /* a record added now is not seen while the first answer lives */
    dns_static_add(c->inner, "example.test", DNS_T_MX, 20, "mx2.example.test", 16);
    CHECK(ask(base, r, "EXAMPLE.test.", DNS_T_MX, &g) == 1 && c->lookups == 1, "hit: %d lookups", c->lookups);
    CHECK(g.a && g.a->status == DNS_OK && g.a->count == 1, "hit answer");
    if (g.a && g.a->count == 1) {
        CHECK_STR(g.a->rr[0].text, "mx.example.test", "hit record");
        CHECK(g.a->rr[0].pref == 10 && g.a->ttl <= 300 && g.a->ttl > 0, "pref %u ttl %u", g.a->rr[0].pref, g.a->ttl);
    }
    CHECK_STR(g.a ? g.a->name : NULL, "EXAMPLE.test.", "name as asked");
    /* another type of the same name, and a negative answer, and that one again */
    CHECK(ask(base, r, "example.test", DNS_T_A, &g) == 1 && c->lookups == 2, "other type: %d", c->lookups);
    CHECK(g.a && g.a->status == DNS_NODATA, "nodata");
    CHECK(ask(base, r, "nope.test", DNS_T_A, &g) == 1 && ask(base, r, "nope.test", DNS_T_A, &g) == 1 &&
          c->lookups == 3, "nxdomain kept: %d", c->lookups);
    CHECK(g.a && g.a->status == DNS_NXDOMAIN, "nxdomain");
    dns_answer_free(g.a);
    dns_resolver_free(r);
}

/* test_failures_not_kept - TEMPFAIL and PERMFAIL ask the inner resolver every time */
static void test_failures_not_kept(struct event_base *base)
{
    counting *c;
    dns_resolver *r = setup(base, 3600, &c);
    got g = {0, NULL};
    ask(base, r, "slow.test", DNS_T_A, &g);
    ask(base, r, "slow.test", DNS_T_A, &g);
    CHECK(g.a && g.a->status == DNS_TEMPFAIL && c->lookups == 2, "tempfail: %d lookups", c->lookups);
    ask(base, r, "bad..name", DNS_T_A, &g);
    ask(base, r, "bad..name", DNS_T_A, &g);
    CHECK(g.a && g.a->status == DNS_PERMFAIL && c->lookups == 4, "permfail: %d lookups", c->lookups);
    dns_answer_free(g.a);
    dns_resolver_free(r);
}

/* test_expiry - after max_ttl the inner resolver is asked again and its new answer seen */
static void test_expiry(struct event_base *base)
{
    counting *c;
    dns_resolver *r = setup(base, 1, &c);
    got g = {0, NULL};
    ask(base, r, "example.test", DNS_T_MX, &g);
    dns_static_add(c->inner, "example.test", DNS_T_MX, 20, "mx2.example.test", 16);
    ask(base, r, "example.test", DNS_T_MX, &g);
    CHECK(c->lookups == 1 && g.a && g.a->count == 1, "before expiry: %d lookups", c->lookups);
    sleep(2);
    ask(base, r, "example.test", DNS_T_MX, &g);
    CHECK(c->lookups == 2 && g.a && g.a->count == 2, "after expiry: %d lookups", c->lookups);
    dns_answer_free(g.a);
    dns_resolver_free(r);
}

/* test_cancel - cancelled hits and misses never call back; free with both in flight */
static void test_cancel(struct event_base *base)
{
    counting *c;
    dns_resolver *r = setup(base, 3600, &c);
    got g = {0, NULL}, g1 = {0, NULL}, g2 = {0, NULL};
    ask(base, r, "example.test", DNS_T_MX, &g);
    dns_query *hit = dns_lookup(r, "example.test", DNS_T_MX, on_answer, &g1);
    dns_query *miss = dns_lookup(r, "mx.example.test", DNS_T_A, on_answer, &g2);
    dns_cancel(r, hit);
    dns_cancel(r, miss);
    event_base_dispatch(base);
    CHECK(g1.calls == 0 && g2.calls == 0, "cancelled: %d %d calls", g1.calls, g2.calls);
    dns_lookup(r, "example.test", DNS_T_MX, on_answer, &g1);
    dns_lookup(r, "mx.example.test", DNS_T_A, on_answer, &g2);
    dns_resolver_free(r);
    event_base_dispatch(base);
    CHECK(g1.calls == 0 && g2.calls == 0, "freed resolver called back");
    dns_answer_free(g.a);
}

/* test_collisions - more names than slots: every answer stays right (a slot is replaced, never mixed up) */
static void test_collisions(struct event_base *base)
{
    counting *c;
    dns_resolver *r = setup(base, 3600, &c);
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "h%d.test", i);
        dns_static_add(c->inner, name, DNS_T_A, 0, name, strlen(name));
    }
    got g = {0, NULL};
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof name, "h%d.test", i);
            ask(base, r, name, DNS_T_A, &g);
            CHECK(g.a && g.a->count == 1 && strcmp(g.a->rr[0].text, name) == 0, "%s answered wrong", name);
        }
    dns_answer_free(g.a);
    dns_resolver_free(r);
}

int main(void)
{
    struct event_base *base = event_base_new();
    test_hits(base);
    test_failures_not_kept(base);
    test_cancel(base);
    test_collisions(base);
    test_expiry(base);
    event_base_free(base);
    return check_summary();
}
