/* test_policy_conf - policy lists, whitelists, DNSBL zone specs and the dynamic-name heuristic: got/want tables. */
#include "check.h"
#include "config/config.h"
#include "policy/policy_internal.h"

#include <stdlib.h>

static const struct {
    const char *stage[5];
    const char *whitelist, *exempt, *bl, *al;
    const char *want_err; /* NULL = parses; else a piece of the message */
} conf_cases[] = {
    {{"conn_rate client_ptr client_fcrdns client_dynamic:warn dnsbl", "helo_syntax helo_fqdn helo_not_self helo_resolves",
      "msg_rate sender_fqdn sender_domain own_domain_forgery", "rcpt_fqdn rcpt_rate greylist", "bounce_multi_rcpt"},
     NULL, NULL, NULL, NULL, NULL},
    {{"client_ptr:defer, client_fcrdns:reject", NULL, NULL, NULL, NULL}, NULL, NULL, NULL, NULL, NULL},
    {{"client_ptr:maybe", NULL, NULL, NULL, NULL}, NULL, NULL, NULL, NULL, "action must be reject, defer or warn"},
    {{"client_prt", NULL, NULL, NULL, NULL}, NULL, NULL, NULL, NULL, "policy_connect: unknown check 'client_prt'"},
    {{"greylist", NULL, NULL, NULL, NULL}, NULL, NULL, NULL, NULL, "cannot run at this stage"},
    {{NULL, "sender_domain", NULL, NULL, NULL}, NULL, NULL, NULL, NULL, "policy_helo: check 'sender_domain' cannot run"},
    {{NULL, NULL, NULL, NULL, NULL}, "192.0.2.0/24 2001:db8::/32 example.org .example.net u@example.com", NULL, NULL,
     NULL, NULL},
    {{NULL, NULL, NULL, NULL, NULL}, "192.0.2.0/33", NULL, NULL, NULL, "policy_whitelist"},
    {{NULL, NULL, NULL, NULL, NULL}, "not_a..domain", NULL, NULL, NULL, "policy_whitelist"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, "greylist:192.0.2.0/24 helo_resolves:partner.example", NULL, NULL, NULL},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, "greylist", NULL, NULL, "want CHECK:ENTRY"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, "grylist:192.0.2.1", NULL, NULL, "want CHECK:ENTRY"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, "zen.spamhaus.org=127.0.0.2-127.0.0.11|127.0.0.20*3, bl.spamcop.net",
     "list.dnswl.org=127.0.10.0-127.0.10.255", NULL},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, "zen.spamhaus.org*0", NULL, "dnsbl_zones: bad entry"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, "zen.spamhaus.org=127.0.0.11-127.0.0.2", NULL, "bad entry"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, "zen.spamhaus.org=", NULL, "bad entry"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, "localhost", NULL, "bad entry"},
    {{NULL, NULL, NULL, NULL, NULL}, NULL, NULL, NULL, "list.dnswl.org*2", "dnsbl_allowlists: bad entry"},
};

static void test_conf(void)
{
    for (size_t i = 0; i < sizeof conf_cases / sizeof conf_cases[0]; i++) {
        pochta_config cfg = {0};
        for (int st = 0; st < 5; st++)
            cfg.policy_stage[st] = (char *)conf_cases[i].stage[st];
        cfg.policy_whitelist = (char *)conf_cases[i].whitelist;
        cfg.policy_exempt = (char *)conf_cases[i].exempt;
        cfg.dnsbl_zones = (char *)conf_cases[i].bl;
        cfg.dnsbl_allowlists = (char *)conf_cases[i].al;
        policy_conf pc;
        char err[400] = "";
        int rc = policy_conf_parse(&cfg, &pc, err, sizeof err);
        if (conf_cases[i].want_err)
            CHECK(rc < 0 && strstr(err, conf_cases[i].want_err), "case %zu: got rc %d err \"%s\"", i, rc, err);
        else
            CHECK(rc == 0, "case %zu: %s", i, err);
        policy_conf_free(&pc);
    }
}

static void test_conf_content(void)
{
    pochta_config cfg = {0};
    cfg.policy_stage[0] = "client_ptr:defer client_dynamic:warn";
    cfg.dnsbl_zones = "zen.spamhaus.org=127.0.0.2-127.0.0.11|127.0.0.20*3";
    cfg.policy_mode = "warn";
    policy_conf pc;
    char err[200];
    CHECK(policy_conf_parse(&cfg, &pc, err, sizeof err) == 0, "%s", err);
    CHECK(pc.mode == POLICY_MODE_WARN, "mode");
    CHECK(pc.nitems[0] == 2 && pc.items[0][0].id == CHK_CLIENT_PTR && pc.items[0][0].act == POLICY_ACT_DEFER,
          "first item");
    CHECK(pc.items[0][1].id == CHK_CLIENT_DYNAMIC && pc.items[0][1].act == POLICY_ACT_WARN, "second item");
    CHECK(pc.nbl == 1 && pc.bl[0].weight == 3 && pc.bl[0].ncodes == 2, "zone weight %u codes %zu", pc.bl[0].weight,
          pc.bl[0].ncodes);
    CHECK_STR(pc.bl[0].zone, "zen.spamhaus.org", "zone name");
    CHECK(policy_zone_listed(&pc.bl[0], "127.0.0.2") && policy_zone_listed(&pc.bl[0], "127.0.0.11") &&
          policy_zone_listed(&pc.bl[0], "127.0.0.20"), "listed codes");
    CHECK(!policy_zone_listed(&pc.bl[0], "127.0.0.12") && !policy_zone_listed(&pc.bl[0], "127.255.255.254") &&
          !policy_zone_listed(&pc.bl[0], "garbage"), "unlisted codes");
    policy_conf_free(&pc);
    policy_zone z;
    CHECK(policy_zone_parse("bl.example", 0, &z) == 0, "plain zone");
    CHECK(policy_zone_listed(&z, "127.0.0.2") && policy_zone_listed(&z, "127.1.2.3"), "any 127/8");
    CHECK(!policy_zone_listed(&z, "127.255.255.254") && !policy_zone_listed(&z, "10.0.0.2"), "refusal code, not 127");
    free(z.zone);
}

static const struct {
    const char *list;
    const char *ip, *client_name, *helo, *sender;
    int want;
} match_cases[] = {
    {"192.0.2.0/24", "192.0.2.77", "unknown", NULL, NULL, 1},
    {"192.0.2.0/24", "192.0.3.1", "unknown", NULL, NULL, 0},
    {"2001:db8::/32", "2001:db8:1::5", "unknown", NULL, NULL, 1},
    {"example.org", "198.51.100.1", "example.org", NULL, NULL, 1},
    {"example.org", "198.51.100.1", "mx.example.org", NULL, NULL, 0},
    {".example.org", "198.51.100.1", "mx.Example.ORG", NULL, NULL, 1},
    {".example.org", "198.51.100.1", "badexample.org", NULL, NULL, 0},
    {".example.org", "198.51.100.1", "unknown", "example.org", NULL, 1},
    {"partner.example", "198.51.100.1", "unknown", "x.test", "news@partner.example", 1},
    {"news@partner.example", "198.51.100.1", "unknown", "x.test", "NEWS@partner.example", 1},
    {"news@partner.example", "198.51.100.1", "unknown", "x.test", "other@partner.example", 0},
    {"unknown", "198.51.100.1", "unknown", NULL, NULL, 0}, /* "unknown" is not a client name */
};

static void test_match(void)
{
    for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
        policy_list l = {0};
        char err[200];
        CHECK(policy_list_parse(match_cases[i].list, &l, err, sizeof err) == 0, "parse %s: %s", match_cases[i].list, err);
        policy_ctx c = {.ip = match_cases[i].ip, .client_name = match_cases[i].client_name,
                        .helo = match_cases[i].helo, .sender = match_cases[i].sender};
        CHECK(policy_list_match(&l, &c) == match_cases[i].want, "case %zu (%s)", i, match_cases[i].list);
        policy_list_free(&l);
    }
}

static const struct {
    const char *name, *ip;
    int want;
} dyn_cases[] = {
    {"127-0-0-4.dyn.isp.test", "127.0.0.4", 1},
    {"host-203-0-113-9.example.net", "203.0.113.9", 1},
    {"9.113.0.203.broadband.example.net", "203.0.113.9", 1},
    {"cb00710a.example.net", "203.0.113.10", 1},
    {"dhcp-77.campus.example.edu", "198.51.100.77", 1},
    {"ppp12.example.net", "192.0.2.12", 1},
    {"mail.example.org", "192.0.2.25", 0},
    {"mx1.example.org", "192.0.2.1", 0},
    {"smtp-out.example.com", "192.0.2.9", 0},
    {"mailhost.example.org", "192.0.2.9", 0},
    {"mx.pool.example", "192.0.2.9", 0},  /* a pool word counts in the host part only, not in the domain */
};

static void test_dynamic(void)
{
    for (size_t i = 0; i < sizeof dyn_cases / sizeof dyn_cases[0]; i++) {
        char why[96] = "";
        int got = policy_dynamic_name(dyn_cases[i].name, dyn_cases[i].ip, why, sizeof why);
        CHECK(got == dyn_cases[i].want, "%s [%s]: got %d (%s)", dyn_cases[i].name, dyn_cases[i].ip, got, why);
    }
}

int main(void)
{
    test_conf();
    test_conf_content();
    test_match();
    test_dynamic();
    return check_summary();
}
