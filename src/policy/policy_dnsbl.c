/*
 * policy_dnsbl - the dnsbl check: DNS block lists and allow lists
 * (RFC 5782). For client 192.0.2.1 and zone Z it asks A of 1.2.0.192.Z
 * (IPv6: the 32 nibbles reversed), all zones at once. An answer counts as a
 * listing only when its address is one of the zone's return codes (default:
 * any 127.0.0.0/8 except 127.255.255.0/24, which lists use to say "query
 * refused"). A listing on an allow list marks the client allowlisted (it
 * then skips this check's refusal and greylisting); otherwise the weights
 * of the listing block lists are summed and, at dnsbl_threshold, the client
 * is refused with the list's name and its lookup URL: from the list's TXT
 * record when it gives one, else the list's known web page.
 *
 * A list that does not answer (timeout, SERVFAIL) is logged and ignored:
 * a broken list must neither refuse nor delay mail.
 */
#include "policy/policy_internal.h"

#include "config/config.h"
#include "lib/log.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Lookup pages of well-known lists, for when the TXT record gives no URL. */
static const struct {
    const char *zone, *url;
} policy_dnsbl_pages[] = {
    {"zen.spamhaus.org", "https://check.spamhaus.org/"},
    {"sbl.spamhaus.org", "https://check.spamhaus.org/"},
    {"xbl.spamhaus.org", "https://check.spamhaus.org/"},
    {"bl.spamcop.net", "https://www.spamcop.net/bl.shtml"},
    {"b.barracudacentral.org", "https://www.barracudacentral.org/lookups"},
};

/* policy_dnsbl_base - the reversed address without .in-addr.arpa / .ip6.arpa; 0 or -1 */
static int policy_dnsbl_base(const char *ip, char *out, size_t outlen)
{
    if (dns_reverse_name(ip, out, outlen) < 0)
        return -1;
    char *suffix = strstr(out, ".in-addr.arpa");
    if (!suffix)
        suffix = strstr(out, ".ip6.arpa");
    if (!suffix)
        return -1;
    *suffix = '\0';
    return 0;
}

/* policy_dnsbl_code - the first listing address of answer a for zone z, or NULL */
static const char *policy_dnsbl_code(const policy_zone *z, const dns_answer *a)
{
    for (size_t i = 0; a && a->status == DNS_OK && i < a->count; i++)
        if (policy_zone_listed(z, a->rr[i].text))
            return a->rr[i].text;
    return NULL;
}

/* policy_dnsbl_url - a lookup URL: from the TXT answer, or the list's known page, into out */
static void policy_dnsbl_url(const dns_answer *txt, const char *zone, const char *ip, char *out, size_t outlen)
{
    for (size_t i = 0; txt && txt->status == DNS_OK && i < txt->count; i++) {
        const char *t = txt->rr[i].text;
        size_t len = txt->rr[i].len;
        const char *h = memmem(t, len, "http", 4);
        if (!h)
            continue;
        size_t n = 0;
        while (h + n < t + len && n + 1 < outlen && isgraph((unsigned char)h[n]))
            n++;
        memcpy(out, h, n);
        out[n] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof policy_dnsbl_pages / sizeof policy_dnsbl_pages[0]; i++)
        if (strcmp(zone, policy_dnsbl_pages[i].zone) == 0) {
            snprintf(out, outlen, "%s", policy_dnsbl_pages[i].url);
            return;
        }
    snprintf(out, outlen, "the web site of %s (look up %s there)", zone, ip);
}

/* policy_dnsbl_txt_done - the TXT of the first listing zone answered: refuse */
static int policy_dnsbl_txt_done(policy_run *r)
{
    char url[200];
    const policy_conf *pc = &r->e->conf;
    size_t z = (unsigned char)r->scratch[0];
    policy_dnsbl_url(r->ans[0], pc->bl[z].zone, r->ctx->ip, url, sizeof url);
    policy_set(r, POLICY_REJECT, 554, "5.7.1", "Service unavailable; client [%s] is listed on %s (%s, score %s); "
               "see %s to find out why and how to be delisted (dnsbl)", r->ctx->ip, pc->bl[z].zone,
               r->scratch + 1, r->scratch + 32, url);
    return 0;
}

/* policy_dnsbl_done - every zone answered: allowlisted, refused, or nothing */
static int policy_dnsbl_done(policy_run *r)
{
    const policy_conf *pc = &r->e->conf;
    char base[80];
    for (size_t i = 0; i < pc->nal; i++)
        if (policy_dnsbl_code(&pc->al[i], r->ans[i])) {
            r->ctx->allowlisted = 1;
            log_info(r->ctx->id, "event=dnsbl client=%s allowlisted_by=%s", r->ctx->ip, pc->al[i].zone);
            return 0;
        }
    unsigned score = 0;
    int first = -1;
    for (size_t i = 0; i < pc->nbl; i++) {
        const dns_answer *a = r->ans[pc->nal + i];
        const char *code = policy_dnsbl_code(&pc->bl[i], a);
        if (a && a->status == DNS_TEMPFAIL)
            log_warn(r->ctx->id, "event=dnsbl_unavailable zone=%s client=%s verdict=ignored", pc->bl[i].zone, r->ctx->ip);
        if (!code)
            continue;
        score += pc->bl[i].weight;
        log_info(r->ctx->id, "event=dnsbl client=%s listed_on=%s code=%s weight=%u", r->ctx->ip, pc->bl[i].zone, code,
                 pc->bl[i].weight);
        if (first < 0) {
            first = (int)i;
            snprintf(r->scratch + 1, 31, "code %s", code);
        }
    }
    if (first < 0 || score < r->e->cfg->dnsbl_threshold)
        return 0;
    r->scratch[0] = (char)first;
    snprintf(r->scratch + 32, 32, "%u of %u", score, r->e->cfg->dnsbl_threshold);
    /* one more round trip for the list's own explanation (its TXT record) */
    for (size_t i = 0; i < r->nq; i++) {
        dns_answer_free(r->ans[i]);
        r->ans[i] = NULL;
    }
    r->nq = 0;
    policy_dnsbl_base(r->ctx->ip, base, sizeof base);
    char name[400];
    snprintf(name, sizeof name, "%s.%s", base, pc->bl[first].zone);
    policy_lookup(r, name, DNS_T_TXT);
    r->finish = policy_dnsbl_txt_done;
    return 1;
}

/* policy_dnsbl_run - start the lookups of every allow and block list */
int policy_dnsbl_run(policy_run *r)
{
    const policy_conf *pc = &r->e->conf;
    char base[80], name[400];
    if (pc->nbl + pc->nal == 0 || policy_dnsbl_base(r->ctx->ip, base, sizeof base) < 0)
        return 0;
    for (size_t i = 0; i < pc->nal; i++) {
        snprintf(name, sizeof name, "%s.%s", base, pc->al[i].zone);
        policy_lookup(r, name, DNS_T_A);
    }
    for (size_t i = 0; i < pc->nbl; i++) {
        snprintf(name, sizeof name, "%s.%s", base, pc->bl[i].zone);
        policy_lookup(r, name, DNS_T_A);
    }
    r->finish = policy_dnsbl_done;
    return 1;
}
