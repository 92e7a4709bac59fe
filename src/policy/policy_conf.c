/*
 * policy_conf - parse the policy keys of pochta.conf into a policy_conf
 * and match whitelists (see policy_internal.h and pochta.conf(5)).
 *
 * Syntax (entries separated by blanks and/or commas):
 *   policy_STAGE      CHECK[:reject|defer|warn] ...   (order = run order)
 *   policy_whitelist  192.0.2.0/24  2001:db8::/32  example.org  .example.org  user@example.org
 *   policy_exempt     CHECK:ENTRY ...                  (ENTRY as in the whitelist)
 *   dnsbl_zones       ZONE[=CODE|LOW-HIGH...][*WEIGHT] ...
 *   dnsbl_allowlists  ZONE[=CODE|LOW-HIGH...] ...
 * Every problem names the key and the entry. Limits: POLICY_MAX_* in
 * policy_internal.h. Also here: the "looks dynamic" heuristic for names.
 */
#include "policy/policy_internal.h"

#include "config/config.h"
#include "lib/xalloc.h"
#include "mail/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_(st) (1u << (st))
#define ST_ANY (S_(POLICY_STAGE_CONNECT) | S_(POLICY_STAGE_HELO) | S_(POLICY_STAGE_MAIL) | S_(POLICY_STAGE_RCPT) | S_(POLICY_STAGE_DATA))
#define ST_HELO (ST_ANY & ~S_(POLICY_STAGE_CONNECT))
#define ST_MAIL (S_(POLICY_STAGE_MAIL) | S_(POLICY_STAGE_RCPT) | S_(POLICY_STAGE_DATA))

static const char *const policy_check_names[CHK_COUNT] = {
    "conn_rate", "client_ptr", "client_fcrdns", "client_dynamic", "dnsbl",
    "helo_syntax", "helo_fqdn", "helo_not_self", "helo_resolves",
    "msg_rate", "sender_fqdn", "sender_domain", "own_domain_forgery",
    "rcpt_fqdn", "rcpt_rate", "greylist", "bounce_multi_rcpt", "sender_verify",
};

/* Stages each check may be listed in (what it needs is known there). */
static const unsigned policy_check_stages[CHK_COUNT] = {
    S_(POLICY_STAGE_CONNECT), ST_ANY, ST_ANY, ST_ANY, ST_ANY,
    ST_HELO, ST_HELO, ST_HELO, ST_HELO,
    S_(POLICY_STAGE_MAIL), ST_MAIL, ST_MAIL, ST_MAIL,
    S_(POLICY_STAGE_RCPT), S_(POLICY_STAGE_RCPT), S_(POLICY_STAGE_RCPT), S_(POLICY_STAGE_RCPT) | S_(POLICY_STAGE_DATA),
    ST_MAIL,
};

static const char *const policy_stage_keys[POLICY_STAGE_COUNT] = {
    "policy_connect", "policy_helo", "policy_mail", "policy_rcpt", "policy_data",
};

/* policy_check_name - name of a check */
const char *policy_check_name(policy_check_id id)
{
    return id < CHK_COUNT ? policy_check_names[id] : "?";
}

/* policy_check_lookup - id of the check called name[0..len), or -1 */
int policy_check_lookup(const char *name, size_t len)
{
    for (int i = 0; i < CHK_COUNT; i++)
        if (strlen(policy_check_names[i]) == len && strncmp(policy_check_names[i], name, len) == 0)
            return i;
    return -1;
}

/* policy_next_token - next entry of a blank/comma separated list into tok; 0 at the end, -1 too long */
static int policy_next_token(const char **p, char *tok, size_t toklen)
{
    const char *s = *p + strspn(*p, " \t,");
    size_t n = strcspn(s, " \t,");
    *p = s + n;
    if (n == 0)
        return 0;
    if (n >= toklen)
        return -1;
    memcpy(tok, s, n);
    tok[n] = '\0';
    return 1;
}

/* policy_is_network - whether an entry is an address or ADDR/BITS */
static int policy_is_network(const char *e)
{
    return strchr(e, ':') != NULL || strspn(e, "0123456789./") == strlen(e);
}

/* policy_list_add - one whitelist entry into l; 0 or -1 */
static int policy_list_add(policy_list *l, const char *e, char *err, size_t errlen)
{
    if (policy_is_network(e)) {
        cidr_list one;
        if (cidr_list_parse(e, &one, err, errlen) < 0 || one.count != 1)
            return -1;
        if (l->nets.count >= CIDR_LIST_MAX) {
            snprintf(err, errlen, "more than %d networks", CIDR_LIST_MAX);
            return -1;
        }
        l->nets.net[l->nets.count++] = one.net[0];
        return 0;
    }
    const char *at = strrchr(e, '@');
    const char *dom = at ? at + 1 : (e[0] == '.' ? e + 1 : e);
    if (!mail_domain_valid(dom, strlen(dom)) || (at && at == e)) {
        snprintf(err, errlen, "'%s' is neither a network, a domain nor an address", e);
        return -1;
    }
    size_t *n = at ? &l->naddrs : &l->ndomains;
    char **arr = at ? l->addrs : l->domains;
    if (*n >= POLICY_MAX_NAMES) {
        snprintf(err, errlen, "more than %d %s", POLICY_MAX_NAMES, at ? "addresses" : "domains");
        return -1;
    }
    arr[*n] = xstrdup(e);
    for (char *c = arr[*n]; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    (*n)++;
    return 0;
}

/* policy_list_parse - a whole whitelist */
int policy_list_parse(const char *text, policy_list *l, char *err, size_t errlen)
{
    char tok[300];
    int r;
    while (text && (r = policy_next_token(&text, tok, sizeof tok)) != 0) {
        if (r < 0) {
            snprintf(err, errlen, "entry too long");
            return -1;
        }
        if (policy_list_add(l, tok, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* policy_list_free - free the names of l */
void policy_list_free(policy_list *l)
{
    for (size_t i = 0; i < l->ndomains; i++)
        free(l->domains[i]);
    for (size_t i = 0; i < l->naddrs; i++)
        free(l->addrs[i]);
    memset(l, 0, sizeof *l);
}

/* policy_domain_match - name equals d, or d is ".parent" and name is parent or below it */
static int policy_domain_match(const char *d, const char *name)
{
    if (!name || !*name)
        return 0;
    if (d[0] != '.')
        return strcasecmp(d, name) == 0;
    size_t dl = strlen(d), nl = strlen(name);
    if (strcasecmp(d + 1, name) == 0)
        return 1;
    return nl > dl && strcasecmp(name + nl - dl, d) == 0;
}

/* policy_list_match - ctx's client, names or sender in l */
int policy_list_match(const policy_list *l, const policy_ctx *ctx)
{
    if (ctx->ip && cidr_list_match(&l->nets, ctx->ip))
        return 1;
    const char *sdom = NULL;
    if (ctx->sender && *ctx->sender) {
        const char *at = strrchr(ctx->sender, '@');
        sdom = at ? at + 1 : NULL;
        for (size_t i = 0; i < l->naddrs; i++)
            if (strcasecmp(l->addrs[i], ctx->sender) == 0)
                return 1;
    }
    const char *cname = ctx->client_name && strcmp(ctx->client_name, "unknown") != 0 ? ctx->client_name : NULL;
    for (size_t i = 0; i < l->ndomains; i++)
        if (policy_domain_match(l->domains[i], cname) || policy_domain_match(l->domains[i], ctx->helo) ||
            policy_domain_match(l->domains[i], sdom))
            return 1;
    return 0;
}

/* policy_parse_v4 - dotted quad into host order; 0 or -1 */
static int policy_parse_v4(const char *s, size_t len, uint32_t *out)
{
    char tmp[16];
    struct in_addr a;
    if (len >= sizeof tmp)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

/* policy_zone_codes - "A|B-C" into z's ranges; 0 or -1 */
static int policy_zone_codes(const char *s, size_t len, policy_zone *z)
{
    while (len > 0) {
        size_t n = 0;
        while (n < len && s[n] != '|')
            n++;
        const char *dash = memchr(s, '-', n);
        size_t n1 = dash ? (size_t)(dash - s) : n;
        if (z->ncodes >= POLICY_MAX_CODES || policy_parse_v4(s, n1, &z->lo[z->ncodes]) < 0)
            return -1;
        z->hi[z->ncodes] = z->lo[z->ncodes];
        if (dash && (policy_parse_v4(dash + 1, n - n1 - 1, &z->hi[z->ncodes]) < 0 || z->hi[z->ncodes] < z->lo[z->ncodes]))
            return -1;
        z->ncodes++;
        s += n;
        len -= n;
        if (len > 0) {
            s++;
            len--;
            if (len == 0)
                return -1;
        }
    }
    return 0;
}

/* policy_zone_parse - "ZONE[=CODES][*WEIGHT]" */
int policy_zone_parse(const char *spec, int allow, policy_zone *z)
{
    memset(z, 0, sizeof *z);
    z->weight = 1;
    size_t zl = strcspn(spec, "=*");
    if (zl == 0 || !mail_domain_valid(spec, zl) || !memchr(spec, '.', zl))
        return -1;
    const char *p = spec + zl;
    if (*p == '=') {
        size_t cl = strcspn(p + 1, "*");
        if (cl == 0 || policy_zone_codes(p + 1, cl, z) < 0)
            return -1;
        p += 1 + cl;
    }
    if (*p == '*') {
        if (allow || p[1] < '1' || p[1] > '9' || strlen(p + 1) > 3 || strspn(p + 1, "0123456789") != strlen(p + 1))
            return -1;
        z->weight = (unsigned)strtoul(p + 1, NULL, 10);
        p += strlen(p);
    }
    if (*p)
        return -1;
    z->zone = xstrndup(spec, zl);
    for (char *c = z->zone; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return 0;
}

/* policy_zone_listed - whether A record text a is one of z's listing codes */
int policy_zone_listed(const policy_zone *z, const char *a)
{
    uint32_t v;
    if (policy_parse_v4(a, strlen(a), &v) < 0)
        return 0;
    if (z->ncodes == 0) /* 127.255.255.x: the list refused the query (Spamhaus), not a listing */
        return (v >> 24) == 127 && (v >> 8) != 0x7fffff;
    for (size_t i = 0; i < z->ncodes; i++)
        if (v >= z->lo[i] && v <= z->hi[i])
            return 1;
    return 0;
}

/* policy_parse_stage - one policy_STAGE list */
static int policy_parse_stage(policy_conf *pc, int st, const char *text, char *err, size_t errlen)
{
    char tok[64];
    int r;
    while (text && (r = policy_next_token(&text, tok, sizeof tok)) != 0) {
        char *colon = strchr(tok, ':');
        int id = policy_check_lookup(tok, colon ? (size_t)(colon - tok) : strlen(tok));
        policy_action act = POLICY_ACT_REJECT;
        if (r < 0 || id < 0) {
            snprintf(err, errlen, "%s: unknown check '%.60s' (known: conn_rate client_ptr client_fcrdns "
                     "client_dynamic dnsbl helo_syntax helo_fqdn helo_not_self helo_resolves msg_rate sender_fqdn "
                     "sender_domain own_domain_forgery sender_verify rcpt_fqdn rcpt_rate greylist bounce_multi_rcpt)",
                     policy_stage_keys[st], tok);
            return -1;
        }
        if (!(policy_check_stages[id] & S_(st))) {
            snprintf(err, errlen, "%s: check '%s' cannot run at this stage", policy_stage_keys[st], policy_check_names[id]);
            return -1;
        }
        if (colon && strcmp(colon + 1, "defer") == 0)
            act = POLICY_ACT_DEFER;
        else if (colon && strcmp(colon + 1, "warn") == 0)
            act = POLICY_ACT_WARN;
        else if (colon && strcmp(colon + 1, "reject") != 0) {
            snprintf(err, errlen, "%s: '%s': action must be reject, defer or warn", policy_stage_keys[st], tok);
            return -1;
        }
        if (pc->nitems[st] >= POLICY_MAX_CHECKS) {
            snprintf(err, errlen, "%s: more than %d checks", policy_stage_keys[st], POLICY_MAX_CHECKS);
            return -1;
        }
        pc->items[st][pc->nitems[st]++] = (policy_item){(policy_check_id)id, act};
    }
    return 0;
}

/* policy_parse_exempt - "CHECK:ENTRY ..." into per-check lists */
static int policy_parse_exempt(policy_conf *pc, const char *text, char *err, size_t errlen)
{
    char tok[320], why[200];
    int r;
    while (text && (r = policy_next_token(&text, tok, sizeof tok)) != 0) {
        char *colon = r > 0 ? strchr(tok, ':') : NULL;
        int id = colon ? policy_check_lookup(tok, (size_t)(colon - tok)) : -1;
        if (id < 0) {
            snprintf(err, errlen, "policy_exempt: '%.60s': want CHECK:ENTRY with a known check", tok);
            return -1;
        }
        if (!pc->exempt[id])
            pc->exempt[id] = xcalloc(1, sizeof(policy_list));
        if (policy_list_add(pc->exempt[id], colon + 1, why, sizeof why) < 0) {
            snprintf(err, errlen, "policy_exempt: %s", why);
            return -1;
        }
    }
    return 0;
}

/* policy_parse_zones - dnsbl_zones or dnsbl_allowlists */
static int policy_parse_zones(policy_zone *zones, size_t *n, const char *key, int allow, const char *text,
                              char *err, size_t errlen)
{
    char tok[300];
    int r;
    while (text && (r = policy_next_token(&text, tok, sizeof tok)) != 0) {
        if (*n >= POLICY_MAX_ZONES) {
            snprintf(err, errlen, "%s: more than %d zones", key, POLICY_MAX_ZONES);
            return -1;
        }
        if (r < 0 || policy_zone_parse(tok, allow, &zones[*n]) < 0) {
            snprintf(err, errlen, "%s: bad entry '%.80s': want ZONE[=CODE|LOW-HIGH...]%s", key, tok,
                     allow ? "" : "[*WEIGHT]");
            return -1;
        }
        (*n)++;
    }
    return 0;
}

/* policy_conf_parse - every policy key */
int policy_conf_parse(const pochta_config *cfg, policy_conf *pc, char *err, size_t errlen)
{
    char why[240];
    memset(pc, 0, sizeof *pc);
    const char *mode = cfg->policy_mode ? cfg->policy_mode : "enforce";
    pc->mode = strcmp(mode, "warn") == 0 ? POLICY_MODE_WARN : strcmp(mode, "off") == 0 ? POLICY_MODE_OFF
                                                                                        : POLICY_MODE_ENFORCE;
    for (int st = 0; st < POLICY_STAGE_COUNT; st++)
        if (policy_parse_stage(pc, st, cfg->policy_stage[st], err, errlen) < 0)
            return -1;
    if (policy_list_parse(cfg->policy_whitelist, &pc->whitelist, why, sizeof why) < 0) {
        snprintf(err, errlen, "policy_whitelist: %s", why);
        return -1;
    }
    if (policy_parse_exempt(pc, cfg->policy_exempt, err, errlen) < 0 ||
        policy_parse_zones(pc->bl, &pc->nbl, "dnsbl_zones", 0, cfg->dnsbl_zones, err, errlen) < 0 ||
        policy_parse_zones(pc->al, &pc->nal, "dnsbl_allowlists", 1, cfg->dnsbl_allowlists, err, errlen) < 0)
        return -1;
    return 0;
}

/* policy_conf_free - free what policy_conf_parse allocated */
void policy_conf_free(policy_conf *pc)
{
    policy_list_free(&pc->whitelist);
    for (int i = 0; i < CHK_COUNT; i++)
        if (pc->exempt[i]) {
            policy_list_free(pc->exempt[i]);
            free(pc->exempt[i]);
        }
    for (size_t i = 0; i < pc->nbl; i++)
        free(pc->bl[i].zone);
    for (size_t i = 0; i < pc->nal; i++)
        free(pc->al[i].zone);
    memset(pc, 0, sizeof *pc);
}

/* policy_conf_check - parse and throw away (pochtad -n) */
int policy_conf_check(const pochta_config *cfg, char *err, size_t errlen)
{
    policy_conf pc;
    int rc = policy_conf_parse(cfg, &pc, err, errlen);
    policy_conf_free(&pc);
    return rc;
}

/* Words that providers put in the names of dynamic/residential pools. */
static const char *const policy_dyn_words[] = {
    "dyn", "dynamic", "dhcp", "pool", "ppp", "pppoe", "dsl", "adsl", "xdsl", "cable", "dialup", "dial",
    "broadband", "residential", "customer", "cust", "client", "dip",
};

/* policy_dynamic_name - the heuristic: the host labels hold the IP's octets, or a pool word */
int policy_dynamic_name(const char *name, const char *ip, char *why, size_t whylen)
{
    unsigned char a[4];
    if (inet_pton(AF_INET, ip, a) == 1) {
        /* the four octets, in either order, as decimal numbers separated by anything */
        int fwd = 0, rev = 0;
        for (int order = 0; order < 2; order++) {
            const char *p = name;
            int k = 0;
            while (*p && k < 4) {
                if (!isdigit((unsigned char)*p)) { p++; continue; }
                char *end;
                unsigned long v = strtoul(p, &end, 10);
                unsigned want = a[order ? 3 - k : k];
                k = (v == want) ? k + 1 : (v == a[order ? 3 : 0] ? 1 : 0);
                p = end;
            }
            if (k == 4)
                *(order ? &rev : &fwd) = 1;
        }
        char hex[9];
        snprintf(hex, sizeof hex, "%02x%02x%02x%02x", a[0], a[1], a[2], a[3]);
        if (fwd || rev || strcasestr(name, hex)) {
            snprintf(why, whylen, "it contains the octets of %s", ip);
            return 1;
        }
    }
    /* pool words as whole labels or label parts between digits/dashes, in the host part only */
    const char *host_end = name + strlen(name);
    for (int dots = 0; host_end > name && dots < 2;)
        if (*--host_end == '.')
            dots++;
    for (const char *p = name; p < host_end;) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        for (size_t i = 0; n > 0 && i < sizeof policy_dyn_words / sizeof policy_dyn_words[0]; i++)
            if (strlen(policy_dyn_words[i]) == n && strncasecmp(p, policy_dyn_words[i], n) == 0) {
                snprintf(why, whylen, "it contains the word '%s'", policy_dyn_words[i]);
                return 1;
            }
        p += n ? n : 1;
    }
    return 0;
}
