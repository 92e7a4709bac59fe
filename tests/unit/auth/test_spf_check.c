/* test_spf_check - the asynchronous SPF evaluator on the in-memory resolver:
 * results, identities, explanations, DNS timeouts, cancel, the deadline and
 * the Received-SPF header. */
#include "auth/spf.h"
#include "auth/spf_zone.h"
#include "check.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static const char zone[] =
    "# test zone\n"
    "example.test TXT \"v=spf1 ip4:192.0.2.0/24 a:mail.example.test mx include:inc.example.test \" \"-all exp=why.example.test\"\n"
    "mail.example.test A 198.51.100.7\n"
    "mail.example.test AAAA 2001:db8::7\n"
    "example.test MX 10 mx1.example.test\n"
    "mx1.example.test A 203.0.113.5\n"
    "inc.example.test TXT \"v=spf1 ip6:2001:db8:1::/48 ~all\"\n"
    "why.example.test TXT \"%{i} may not send for %{d} (%{l})\"\n"
    "soft.example.test TXT \"v=spf1 ~all\"\n"
    "helo.example.test TXT \"v=spf1 a -all\"\n"
    "helo.example.test A 192.0.2.99\n"
    "slow.example.test TIMEOUT\n"
    "half.example.test A 192.0.2.1\n"
    "half.example.test TIMEOUT\n"
    "perm.example.test TXT \"v=spf1 a:bad..name moo -all\"\n"
    "\"spaced name.example.test\" TXT \"v=spf1 +all\"\n";

typedef struct waiter {
    int done;
    spf_result *res;
} waiter;

/* on_done - keep the result */
static void on_done(void *arg, spf_result *res)
{
    waiter *w = arg;
    w->done++;
    w->res = res;
}

/* run - one check to completion; caller frees the result */
static spf_result *run(struct event_base *base, dns_resolver *r, const char *ip, const char *from, const char *helo,
                       spf_identity id)
{
    spf_request req = {base, ip, from, helo, "mx.receiver.test", id, 0};
    waiter w = {0, NULL};
    spf_check *c = spf_check_start(r, &req, on_done, &w);
    CHECK(c != NULL && w.done == 0, "%s %s: callback ran inside start", ip, from);
    while (!w.done)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK(w.done == 1, "called back %d times", w.done);
    return w.res;
}

static const struct {
    const char *ip, *from, *helo;
    spf_identity id;
    spf_result_code want;
    const char *mech;
} cases[] = {
    {"192.0.2.10", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "ip4:192.0.2.0/24"},
    {"198.51.100.7", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "a:mail.example.test"},
    {"2001:db8::7", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "a:mail.example.test"},
    {"203.0.113.5", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "mx"},
    {"2001:db8:1::1", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "include:inc.example.test"},
    {"2001:db8:2::1", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_FAIL, "-all"},
    {"::ffff:192.0.2.10", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PASS, "ip4:192.0.2.0/24"},
    {"10.0.0.1", "a@soft.example.test", "x.test", SPF_ID_MAILFROM, SPF_SOFTFAIL, "~all"},
    {"10.0.0.1", "a@nothing.example.test", "x.test", SPF_ID_MAILFROM, SPF_NONE, NULL},
    {"10.0.0.1", "a@slow.example.test", "x.test", SPF_ID_MAILFROM, SPF_TEMPERROR, NULL},
    {"10.0.0.1", "a@half.example.test", "x.test", SPF_ID_MAILFROM, SPF_TEMPERROR, NULL},
    {"10.0.0.1", "a@perm.example.test", "x.test", SPF_ID_MAILFROM, SPF_PERMERROR, NULL},
    {"10.0.0.1", "a@spaced name.example.test", "x.test", SPF_ID_MAILFROM, SPF_NONE, NULL},
    {"192.0.2.99", "", "helo.example.test", SPF_ID_MAILFROM, SPF_PASS, "a"},
    {"192.0.2.98", "a@example.test", "helo.example.test", SPF_ID_HELO, SPF_FAIL, "-all"},
    {"192.0.2.98", "a@example.test", "nodots", SPF_ID_HELO, SPF_NONE, NULL},
    {"not-an-ip", "a@example.test", "x.test", SPF_ID_MAILFROM, SPF_PERMERROR, NULL},
};

/* test_results - each case's result and matched mechanism */
static void test_results(struct event_base *base, dns_resolver *r)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spf_result *res = run(base, r, cases[i].ip, cases[i].from, cases[i].helo, cases[i].id);
        CHECK(res->code == cases[i].want, "%s %s: got %s want %s (%s)", cases[i].ip, cases[i].from,
              spf_result_name(res->code), spf_result_name(cases[i].want), res->problem ? res->problem : "");
        if (cases[i].mech)
            CHECK_STR(res->mechanism, cases[i].mech, cases[i].ip);
        CHECK((res->problem != NULL) == (res->code == SPF_TEMPERROR || res->code == SPF_PERMERROR), "%s problem",
              cases[i].ip);
        spf_result_free(res);
    }
}

/* test_explanation - exp= expanded for a fail, and the header */
static void test_explanation(struct event_base *base, dns_resolver *r)
{
    spf_result *res = run(base, r, "2001:db8:2::1", "joe@example.test", "x.test", SPF_ID_MAILFROM);
    CHECK_STR(res->explanation, "2.0.0.1.0.D.B.8.0.0.0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1 may not send for "
                                "example.test (joe)", "exp");
    char *h = spf_received_header(res);
    CHECK_STR(h, "Received-SPF: fail (mx.receiver.test: domain of joe@example.test does not designate 2001:db8:2::1 "
                 "as permitted sender) client-ip=\"2001:db8:2::1\"; envelope-from=\"joe@example.test\"; "
                 "helo=x.test; receiver=mx.receiver.test; identity=mailfrom; mechanism=-all", "header");
    free(h);
    spf_result_free(res);
    res = run(base, r, "10.0.0.1", "a(b)@soft.example.test", "x\"y", SPF_ID_MAILFROM);
    h = spf_received_header(res);
    CHECK(strstr(h, "domain of transitioning a\\(b\\)@soft.example.test") != NULL, "comment escapes: %s", h);
    CHECK(strstr(h, "helo=\"x\\\"y\"") != NULL, "quoted helo: %s", h);
    free(h);
    spf_result_free(res);
}

/* test_cancel - a cancelled check never calls back */
static void test_cancel(struct event_base *base, dns_resolver *r)
{
    spf_request req = {base, "192.0.2.1", "a@example.test", "x.test", NULL, SPF_ID_MAILFROM, 0};
    waiter w = {0, NULL};
    spf_check *c = spf_check_start(r, &req, on_done, &w);
    spf_check_cancel(c);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(w.done == 0, "cancelled check called back");
}

/* a resolver that never answers, for the deadline */
static dns_query *mute_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    static char handle;
    return (dns_query *)&handle;
}
static void mute_cancel(dns_resolver *r, dns_query *q) {}
static void mute_free(dns_resolver *r) {}

/* test_deadline - a check that outlives timeout_ms is temperror */
static void test_deadline(struct event_base *base)
{
    dns_resolver mute = {mute_lookup, mute_cancel, mute_free};
    spf_request req = {base, "192.0.2.1", "a@example.test", "x.test", NULL, SPF_ID_MAILFROM, 50};
    waiter w = {0, NULL};
    spf_check_start(&mute, &req, on_done, &w);
    while (!w.done)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK(w.res->code == SPF_TEMPERROR, "deadline gave %s", spf_result_name(w.res->code));
    spf_result_free(w.res);
}

/* test_zone_errors - bad zone lines are refused with the line number */
static void test_zone_errors(struct event_base *base)
{
    char err[200] = "";
    const char bad[] = "a.test A 192.0.2.1\nb.test BOGUS x\n";
    CHECK(spf_zone_parse(base, bad, strlen(bad), err, sizeof err) == NULL, "bad type accepted");
    CHECK(strncmp(err, "line 2:", 7) == 0, "err %s", err);
    const char bad2[] = "a.test TXT \"unterminated\n";
    CHECK(spf_zone_parse(base, bad2, strlen(bad2), err, sizeof err) == NULL, "bad quote accepted");
}

int main(void)
{
    struct event_base *base = event_base_new();
    char err[200];
    dns_resolver *r = spf_zone_parse(base, zone, strlen(zone), err, sizeof err);
    CHECK(r != NULL, "zone: %s", err);
    if (!r)
        return check_summary();
    test_results(base, r);
    test_explanation(base, r);
    test_cancel(base, r);
    test_deadline(base);
    test_zone_errors(base);
    CHECK_STR(spf_result_name(SPF_SOFTFAIL), "softfail", "name");
    CHECK(spf_result_parse("TempError") == SPF_TEMPERROR, "parse");
    dns_resolver_free(r);
    event_base_free(base);
    return check_summary();
}
