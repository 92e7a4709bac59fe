/*
 * doctor_dns - the DNS half of `pochta doctor DOMAIN`: does the domain
 * exist (NXDOMAIN and SERVFAIL told apart), its MX hosts (host names, not
 * IPs, not CNAMEs, with addresses; null MX, RFC 7505), the server IP
 * (PTR, forward-confirmed reverse DNS, dynamic-looking names, HELO name
 * resolving to it) and the DNS blocklists; then it calls the SPF, DKIM,
 * DMARC (doctor_auth.c) and SMTP (doctor_smtp.c) checks.
 *
 * Every lookup goes through the project's resolver (src/dns), one at a
 * time on the caller's loop (dns_lookup_sync). Limits: DOCTOR_MAX_MX MX
 * hosts, DOCTOR_MAX_ADDRS addresses each, DOCTOR_MAX_LISTS blocklists.
 */
#include "doctor/doctor_int.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DOCTOR_MAX_LISTS - blocklist zones asked per kind */
#define DOCTOR_MAX_LISTS 16

/* Where each well-known list lets you ask for removal (when its TXT answer names no URL). */
static const struct {
    const char *zone;
    const char *url;
} doctor_delist[] = {
    {"zen.spamhaus.org", "https://check.spamhaus.org/"},
    {"dbl.spamhaus.org", "https://check.spamhaus.org/"},
    {"bl.spamcop.net", "https://www.spamcop.net/bl.shtml"},
    {"b.barracudacentral.org", "https://www.barracudacentral.org/rbl/removal-request"},
    {"multi.uribl.com", "https://admin.uribl.com/"},
    {"multi.surbl.org", "https://www.surbl.org/surbl-analysis"},
    {"dnsbl.sorbs.net", "http://www.sorbs.net/delisting/"},
};

/* doctor_lookup - see doctor_int.h */
dns_status doctor_lookup(doctor_ctx *c, const char *name, uint16_t type, dns_answer **out)
{
    return dns_lookup_sync(c->base, c->r, name, type, out);
}

/* doctor_ip_equal - compare two textual addresses as binary */
int doctor_ip_equal(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
    return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
}

/* doctor_resolves_to - A and AAAA of name; seen gets the addresses found */
dns_status doctor_resolves_to(doctor_ctx *c, const char *name, const char *ip, char *seen, size_t seenlen)
{
    static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};
    dns_status worst = DNS_NXDOMAIN;
    int any = 0, match = 0;
    size_t used = 0;
    seen[0] = '\0';
    for (size_t t = 0; t < 2; t++) {
        dns_answer *a = NULL;
        dns_status st = doctor_lookup(c, name, types[t], &a);
        if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL)
            worst = st;
        else if (st == DNS_NODATA && worst == DNS_NXDOMAIN)
            worst = DNS_NODATA;
        for (size_t i = 0; a && st == DNS_OK && i < a->count; i++) {
            if (a->rr[i].type != types[t])
                continue;
            any = 1;
            match |= doctor_ip_equal(a->rr[i].text, ip);
            int n = snprintf(seen + used, seenlen - used, "%s%s", used ? ", " : "", a->rr[i].text);
            if (n > 0 && (size_t)n < seenlen - used)
                used += (size_t)n;
        }
        dns_answer_free(a);
    }
    if (match)
        return DNS_OK;
    if (any)
        return DNS_NODATA;
    return worst;
}

/* doctor_check_domain - domain.exists; -1 when nothing else can be checked */
static int doctor_check_domain(doctor_ctx *c)
{
    const char *d = c->o->domain;
    dns_answer *a = NULL;
    dns_status st = doctor_lookup(c, d, DNS_T_NS, &a);
    doctor_check *k;
    if (st == DNS_OK) {
        buf b;
        buf_init(&b, 1024);
        for (size_t i = 0; i < a->count; i++)
            if (a->rr[i].type == DNS_T_NS)
                buf_printf(&b, "%s%s", b.len ? ", " : "", a->rr[i].text);
        doctor_add(c->rep, "domain.exists", DOCTOR_OK, "delegated; name servers: %s", buf_cstr(&b));
        buf_free(&b);
    } else if (st == DNS_NODATA) {
        doctor_add(c->rep, "domain.exists", DOCTOR_OK, "exists (no NS of its own: served by a parent zone)");
    } else if (st == DNS_NXDOMAIN) {
        k = doctor_add(c->rep, "domain.exists", DOCTOR_FAIL, "NXDOMAIN: %s does not exist in the DNS", d);
        doctor_fix(k, "check the spelling; register the domain or renew it, and set its NS records at the "
                      "registrar (see: dig +trace %s NS)", d);
    } else {
        k = doctor_add(c->rep, "domain.exists", DOCTOR_FAIL,
                       "%s: the name servers of %s give no usable answer",
                       st == DNS_TEMPFAIL ? "SERVFAIL or timeout" : "DNSSEC-bogus or malformed answer", d);
        doctor_fix(k, "the delegation is broken: make the NS records at the registrar name servers that serve "
                      "the zone, and check DNSSEC (DS) records (see: dig +trace %s NS)", d);
    }
    dns_answer_free(a);
    return st == DNS_OK || st == DNS_NODATA ? 0 : -1;
}

/* doctor_mx_cmp - qsort by preference, then name, for a stable report */
static int doctor_mx_cmp(const void *x, const void *y)
{
    const doctor_mx *a = x, *b = y;
    if (a->pref != b->pref)
        return a->pref < b->pref ? -1 : 1;
    return strcmp(a->host, b->host);
}

/* doctor_is_ip - whether an MX target is written as an address */
static int doctor_is_ip(const char *s)
{
    unsigned char b[16];
    size_t n = strlen(s);
    if (n > 2 && s[0] == '[' && s[n - 1] == ']')
        return 1;
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* doctor_mx_addrs - A and AAAA of one MX host into m; notes a CNAME and lookup failures */
static void doctor_mx_addrs(doctor_ctx *c, doctor_mx *m, buf *cname, buf *noaddr, int *tempfail)
{
    static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};
    for (size_t t = 0; t < 2; t++) {
        dns_answer *a = NULL;
        dns_status st = doctor_lookup(c, m->host, types[t], &a);
        if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL)
            *tempfail = 1;
        if (a && a->canon && t == 0)
            buf_printf(cname, "%s%s is a CNAME for %s", cname->len ? "; " : "", m->host, a->canon);
        for (size_t i = 0; a && i < a->count && m->naddr < DOCTOR_MAX_ADDRS; i++)
            if (a->rr[i].type == types[t])
                m->addr[m->naddr++] = xstrdup(a->rr[i].text);
        dns_answer_free(a);
    }
    if (m->naddr == 0)
        buf_printf(noaddr, "%s%s", noaddr->len ? ", " : "", m->host);
}

/* doctor_mx_report - mx.host, mx.cname, mx.address from what doctor_check_mx collected */
static void doctor_mx_report(doctor_ctx *c, buf *ipt, buf *cname, buf *noaddr, int tempfail)
{
    const char *d = c->o->domain;
    doctor_check *k;
    if (ipt->len) {
        k = doctor_add(c->rep, "mx.host", DOCTOR_FAIL, "MX target is an IP address: %s", buf_cstr(ipt));
        doctor_fix(k, "point the MX at a host name and give that name the address: %s. IN MX 10 mx.%s. and "
                      "mx.%s. IN A %s", d, d, d, buf_cstr(ipt));
    } else {
        doctor_add(c->rep, "mx.host", DOCTOR_OK, "every MX target is a host name");
    }
    if (cname->len) {
        k = doctor_add(c->rep, "mx.cname", DOCTOR_FAIL, "%s", buf_cstr(cname));
        doctor_fix(k, "point the MX record at the canonical name the CNAME leads to (RFC 2181 10.3)");
    } else {
        doctor_add(c->rep, "mx.cname", DOCTOR_OK, "no MX target is a CNAME");
    }
    if (noaddr->len && tempfail) {
        k = doctor_add(c->rep, "mx.address", DOCTOR_WARN, "could not look up the address of %s (DNS error)",
                       buf_cstr(noaddr));
        doctor_fix(k, "try again; if it persists, check the name servers of the MX host's zone");
    } else if (noaddr->len) {
        k = doctor_add(c->rep, "mx.address", DOCTOR_FAIL, "no A or AAAA record for %s", buf_cstr(noaddr));
        doctor_fix(k, "publish the server's address: %s. IN A <server IPv4>", buf_cstr(noaddr));
    } else {
        doctor_add(c->rep, "mx.address", DOCTOR_OK, "every MX host has an address");
    }
}

/* doctor_check_mx - mx.exists and, through doctor_mx_report, the per-host checks */
static void doctor_check_mx(doctor_ctx *c)
{
    const char *d = c->o->domain;
    dns_answer *a = NULL;
    dns_status st = doctor_lookup(c, d, DNS_T_MX, &a);
    doctor_check *k;
    if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
        k = doctor_add(c->rep, "mx.exists", DOCTOR_WARN, "could not look up MX (DNS error)");
        doctor_fix(k, "try again; if it persists, check the domain's name servers");
    } else if (st != DNS_OK) {
        k = doctor_add(c->rep, "mx.exists", DOCTOR_FAIL, "no MX record (senders fall back to the A record, if any)");
        doctor_fix(k, "%s. IN MX 10 mx.%s.  (and mx.%s. IN A <server IP>)", d, d, d);
    } else if (a->count == 1 && a->rr[0].len == 0) {
        k = doctor_add(c->rep, "mx.exists", DOCTOR_WARN, "null MX (MX 0 .): the domain says it receives no mail (RFC 7505)");
        doctor_fix(k, "fine for a domain that only sends; to receive mail replace it: %s. IN MX 10 mx.%s.", d, d);
    }
    if (st != DNS_OK || (a->count == 1 && a->rr[0].len == 0)) {
        dns_answer_free(a);
        return;
    }
    for (size_t i = 0; i < a->count && c->nmx < DOCTOR_MAX_MX; i++)
        if (a->rr[i].type == DNS_T_MX && a->rr[i].len) {
            c->mx[c->nmx].host = xstrdup(a->rr[i].text);
            c->mx[c->nmx++].pref = a->rr[i].pref;
        }
    dns_answer_free(a);
    qsort(c->mx, c->nmx, sizeof c->mx[0], doctor_mx_cmp);
    buf list, ipt, cname, noaddr;
    buf_init(&list, 4096);
    buf_init(&ipt, 1024);
    buf_init(&cname, 2048);
    buf_init(&noaddr, 2048);
    int tempfail = 0;
    for (size_t i = 0; i < c->nmx; i++) {
        buf_printf(&list, "%s%u %s", i ? ", " : "", c->mx[i].pref, c->mx[i].host);
        if (doctor_is_ip(c->mx[i].host))
            buf_printf(&ipt, "%s%s", ipt.len ? ", " : "", c->mx[i].host);
        else
            doctor_mx_addrs(c, &c->mx[i], &cname, &noaddr, &tempfail);
    }
    doctor_add(c->rep, "mx.exists", DOCTOR_OK, "%s", buf_cstr(&list));
    doctor_mx_report(c, &ipt, &cname, &noaddr, tempfail);
    buf_free(&list);
    buf_free(&ipt);
    buf_free(&cname);
    buf_free(&noaddr);
}

/* doctor_pick_server - the IP and HELO name to check: options first, else the best MX with an address */
static void doctor_pick_server(doctor_ctx *c)
{
    const doctor_mx *best = NULL;
    for (size_t i = 0; i < c->nmx && !best; i++)
        if (c->mx[i].naddr)
            best = &c->mx[i];
    if (c->o->ip)
        snprintf(c->ip, sizeof c->ip, "%s", c->o->ip);
    else if (best)
        snprintf(c->ip, sizeof c->ip, "%s", best->addr[0]);
    if (c->o->helo)
        snprintf(c->helo, sizeof c->helo, "%s", c->o->helo);
    else if (best)
        snprintf(c->helo, sizeof c->helo, "%s", best->host);
}

/* doctor_looks_dynamic - a reverse name with the address in it or an access-network word as a token */
int doctor_looks_dynamic(const char *name, const char *ip)
{
    static const char *words[] = {"dyn", "dynamic", "dhcp", "pool", "dsl", "adsl", "xdsl", "vdsl", "cable",
                                  "ppp", "pppoe", "dial", "dialup", "broadband", "cust", "customer", "client",
                                  "home", "residential", "res", "ip", "user", "mobile"};
    unsigned char b[4];
    if (inet_pton(AF_INET, ip, b) == 1) {
        char pat[4][32];
        snprintf(pat[0], sizeof pat[0], "%u-%u-%u-%u", b[0], b[1], b[2], b[3]);
        snprintf(pat[1], sizeof pat[1], "%u-%u-%u-%u", b[3], b[2], b[1], b[0]);
        snprintf(pat[2], sizeof pat[2], "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
        snprintf(pat[3], sizeof pat[3], "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
        for (size_t i = 0; i < 4; i++)
            if (strstr(name, pat[i]))
                return 1;
    }
    for (const char *p = name; *p;) {
        size_t n = 0;
        while (isalpha((unsigned char)p[n]))
            n++;
        for (size_t i = 0; n && i < sizeof words / sizeof words[0]; i++)
            if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
                return 1;
        p += n ? n : 1;
    }
    return 0;
}

/* doctor_check_ptr - ip.ptr, ip.fcrdns, ip.dynamic for c->ip */
static void doctor_check_ptr(doctor_ctx *c)
{
    const char *ip = c->ip, *d = c->o->domain;
    char rev[128], seen[512];
    dns_answer *a = NULL;
    dns_status st = dns_reverse_name(ip, rev, sizeof rev) == 0 ? doctor_lookup(c, rev, DNS_T_PTR, &a) : DNS_PERMFAIL;
    doctor_check *k;
    if (st != DNS_OK) {
        if (st == DNS_TEMPFAIL) {
            k = doctor_add(c->rep, "ip.ptr", DOCTOR_WARN, "could not look up the PTR of %s (DNS error)", ip);
            doctor_fix(k, "try again; the reverse zone's name servers may be failing");
        } else {
            k = doctor_add(c->rep, "ip.ptr", DOCTOR_FAIL, "no PTR record for %s (%s)", ip, rev);
            doctor_fix(k, "ask whoever gave you %s (your hosting provider) to set its reverse name: %s. IN PTR "
                          "mx.%s.  (a name that resolves back to %s)", ip, rev, d, ip);
        }
        doctor_add(c->rep, "ip.fcrdns", DOCTOR_SKIP, "no reverse name to confirm");
        doctor_add(c->rep, "ip.dynamic", DOCTOR_SKIP, "no reverse name to judge");
        dns_answer_free(a);
        return;
    }
    const char *name = NULL, *confirmed = NULL;
    for (size_t i = 0; i < a->count && !confirmed; i++) {
        if (a->rr[i].type != DNS_T_PTR)
            continue;
        if (!name)
            name = a->rr[i].text;
        if (doctor_resolves_to(c, a->rr[i].text, ip, seen, sizeof seen) == DNS_OK)
            confirmed = a->rr[i].text;
    }
    if (!name)
        name = "";
    doctor_add(c->rep, "ip.ptr", DOCTOR_OK, "%s -> %s", ip, name);
    if (confirmed) {
        doctor_add(c->rep, "ip.fcrdns", DOCTOR_OK, "%s resolves back to %s", confirmed, ip);
    } else {
        doctor_resolves_to(c, name, ip, seen, sizeof seen);
        k = doctor_add(c->rep, "ip.fcrdns", DOCTOR_FAIL, "%s resolves to %s, not to %s", name,
                       seen[0] ? seen : "nothing", ip);
        doctor_fix(k, "make the names agree: %s. IN A %s  (or have the PTR of %s changed to a name that "
                      "resolves to it)", name, ip, ip);
    }
    const char *judged = confirmed ? confirmed : name;
    if (doctor_looks_dynamic(judged, ip)) {
        k = doctor_add(c->rep, "ip.dynamic", DOCTOR_WARN, "%s looks like a dynamic or residential name", judged);
        doctor_fix(k, "ask the provider of %s to set its PTR to your mail host name, e.g. mx.%s, with a matching "
                      "A record", ip, d);
    } else {
        doctor_add(c->rep, "ip.dynamic", DOCTOR_OK, "%s looks like a server name", judged);
    }
    dns_answer_free(a);
}

/* doctor_check_helo - helo.resolves: the HELO name resolves to the server IP */
static void doctor_check_helo(doctor_ctx *c)
{
    char seen[512];
    doctor_check *k;
    if (!c->helo[0]) {
        doctor_add(c->rep, "helo.resolves", DOCTOR_SKIP, "no HELO name known (give --helo or -c CONF)");
        return;
    }
    dns_status st = doctor_resolves_to(c, c->helo, c->ip, seen, sizeof seen);
    if (st == DNS_OK) {
        doctor_add(c->rep, "helo.resolves", DOCTOR_OK, "%s resolves to %s", c->helo, c->ip);
        return;
    }
    if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
        k = doctor_add(c->rep, "helo.resolves", DOCTOR_WARN, "could not look up %s (DNS error)", c->helo);
        doctor_fix(k, "try again; if it persists, check the name servers of %s", c->helo);
        return;
    }
    if (st == DNS_NODATA)
        k = doctor_add(c->rep, "helo.resolves", DOCTOR_FAIL, "%s resolves to %s, not to %s", c->helo, seen, c->ip);
    else
        k = doctor_add(c->rep, "helo.resolves", DOCTOR_FAIL, "%s has no A or AAAA record", c->helo);
    doctor_fix(k, "publish %s. IN A %s, or set hostname in pochta.conf to a name that resolves to %s (ideally the "
                  "PTR name)", c->helo, c->ip, c->ip);
}

/* doctor_check_server - the IP checks, or skips when no IP is known */
static void doctor_check_server(doctor_ctx *c)
{
    if (!c->ip[0]) {
        static const char *ids[] = {"ip.ptr", "ip.fcrdns", "ip.dynamic", "helo.resolves"};
        for (size_t i = 0; i < 4; i++)
            doctor_add(c->rep, ids[i], DOCTOR_SKIP, "no server IP known: give --ip or publish an MX with an address");
        return;
    }
    doctor_check_ptr(c);
    doctor_check_helo(c);
}

/* doctor_delist_url - the URL in the list's TXT answer, else the known removal page, else NULL */
static char *doctor_delist_url(doctor_ctx *c, const char *qname, const char *zone)
{
    dns_answer *a = NULL;
    char *url = NULL;
    if (doctor_lookup(c, qname, DNS_T_TXT, &a) == DNS_OK)
        for (size_t i = 0; i < a->count && !url; i++) {
            const char *h = memmem(a->rr[i].text, a->rr[i].len, "http", 4);
            if (h) {
                size_t n = 0, left = a->rr[i].len - (size_t)(h - a->rr[i].text);
                while (n < left && h[n] > ' ' && h[n] != '"' && h[n] < 0x7f)
                    n++;
                url = xasprintf("%.*s", (int)n, h);
            }
        }
    dns_answer_free(a);
    for (size_t i = 0; !url && i < sizeof doctor_delist / sizeof doctor_delist[0]; i++)
        if (strcasecmp(zone, doctor_delist[i].zone) == 0)
            url = xstrdup(doctor_delist[i].url);
    return url;
}

/* doctor_bl_one - ask one list; 1 listed (appended to hits), 0 clean, -1 unsure (appended to unsure) */
static int doctor_bl_one(doctor_ctx *c, const char *key, const char *zone, buf *hits, buf *unsure)
{
    char *q = xasprintf("%s.%s", key, zone);
    dns_answer *a = NULL;
    dns_status st = doctor_lookup(c, q, DNS_T_A, &a);
    int rc = 0;
    if (st == DNS_OK) {
        const char *code = a->count ? a->rr[0].text : "";
        if (strncmp(code, "127.", 4) != 0 || strncmp(code, "127.255.255.", 12) == 0) {
            buf_printf(unsure, "%s%s (answered %s: query refused, e.g. from a public resolver)",
                       unsure->len ? "; " : "", zone, code);
            rc = -1;
        } else {
            char *url = doctor_delist_url(c, q, zone);
            buf_printf(hits, "%s%s (%s), delist: %s", hits->len ? "; " : "", zone, code,
                       url ? url : "see the list's web site");
            free(url);
            rc = 1;
        }
    } else if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
        buf_printf(unsure, "%s%s (DNS error)", unsure->len ? "; " : "", zone);
        rc = -1;
    }
    dns_answer_free(a);
    free(q);
    return rc;
}

/* doctor_check_bl - one blocklist check (bl.ip or bl.domain) of key against the comma-separated lists */
static void doctor_check_bl(doctor_ctx *c, const char *id, const char *what, const char *key, const char *lists)
{
    if (!key || !lists || !*lists || strcmp(lists, "none") == 0) {
        doctor_add(c->rep, id, DOCTOR_SKIP, "%s", key ? "no lists to ask" : "no server IP known");
        return;
    }
    buf hits, unsure, clean;
    buf_init(&hits, 4096);
    buf_init(&unsure, 4096);
    buf_init(&clean, 4096);
    size_t asked = 0;
    for (const char *p = lists; *p && asked < DOCTOR_MAX_LISTS;) {
        size_t n = strcspn(p, ", \t"), z = strcspn(p, ", \t=*");
        if (z > 0 && z < 200) {
            char *zone = xasprintf("%.*s", (int)(z < n ? z : n), p);
            if (doctor_bl_one(c, key, zone, &hits, &unsure) == 0)
                buf_printf(&clean, "%s%s", clean.len ? ", " : "", zone);
            free(zone);
            asked++;
        }
        p += n;
        p += strspn(p, ", \t");
    }
    doctor_check *k;
    if (hits.len) {
        k = doctor_add(c->rep, id, DOCTOR_FAIL, "%s is listed: %s", what, buf_cstr(&hits));
        doctor_fix(k, "find and stop the cause first (open relay, compromised account or script, bad list "
                      "hygiene), then ask each list for removal at the address given");
    } else if (unsure.len) {
        k = doctor_add(c->rep, id, DOCTOR_WARN, "%s could not be checked on: %s", what, buf_cstr(&unsure));
        doctor_fix(k, "use a resolver of your own (dns_server): Spamhaus and others refuse public resolvers");
    } else {
        doctor_add(c->rep, id, DOCTOR_OK, "%s is not listed on %s", what, buf_cstr(&clean));
    }
    buf_free(&hits);
    buf_free(&unsure);
    buf_free(&clean);
}

/* doctor_check_lists - bl.ip (reversed address) and bl.domain */
static void doctor_check_lists(doctor_ctx *c)
{
    char rev[128];
    const char *key = NULL;
    if (c->ip[0] && dns_reverse_name(c->ip, rev, sizeof rev) == 0) {
        char *suffix = strstr(rev, ".in-addr.arpa");
        if (!suffix)
            suffix = strstr(rev, ".ip6.arpa");
        if (suffix)
            *suffix = '\0';
        key = rev;
    }
    doctor_check_bl(c, "bl.ip", c->ip, key, c->o->dnsbl ? c->o->dnsbl : DOCTOR_DNSBL_DEFAULT);
    doctor_check_bl(c, "bl.domain", c->o->domain, c->o->domain, c->o->uribl ? c->o->uribl : DOCTOR_URIBL_DEFAULT);
}

/* doctor_run_domain - see doctor.h */
void doctor_run_domain(struct event_base *base, dns_resolver *r, const doctor_opts *o, doctor_report *rep)
{
    doctor_report_init(rep, o->domain, 0);
    doctor_ctx c;
    memset(&c, 0, sizeof c);
    c.base = base;
    c.r = r;
    c.o = o;
    c.rep = rep;
    if (doctor_check_domain(&c) == 0) {
        doctor_check_mx(&c);
        doctor_pick_server(&c);
        doctor_check_server(&c);
        doctor_check_spf(&c);
        doctor_check_dkim(&c);
        doctor_check_dmarc(&c);
        doctor_check_lists(&c);
        if (o->no_smtp)
            doctor_add(rep, "smtp.connect", DOCTOR_SKIP, "SMTP not probed (--no-smtp)");
        else
            doctor_check_smtp(&c);
    }
    for (size_t i = 0; i < c.nmx; i++) {
        free(c.mx[i].host);
        for (size_t j = 0; j < c.mx[i].naddr; j++)
            free(c.mx[i].addr[j]);
    }
}
