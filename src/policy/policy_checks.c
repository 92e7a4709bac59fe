/*
 * policy_checks - one function per check of the envelope policy (the
 * table policy_checks[] at the end). Each fills r->cur through policy_set
 * and returns 0, or starts lookups and returns 1 (see policy_run.c).
 *
 * Reply codes: a refusal is 5xx only when the data says so (NXDOMAIN, no
 * record, a listing); any DNS timeout or SERVFAIL gives 450/451 4.4.3.
 * Enhanced codes: RFC 3463, 5.7.25 reverse DNS (RFC 7372), 5.7.27 null MX
 * (RFC 7505), 4.7.1 greylisting (RFC 6647). DNSBL lookups that fail are
 * ignored (a broken list must not stop mail) and logged.
 */
#include "policy/policy_internal.h"

#include "auth/spf.h"
#include "config/config.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "store/accounts.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* policy_tmp - DNS statuses that say "try again", not "no" */
static int policy_tmp(int st)
{
    return st == DNS_TEMPFAIL;
}

/* policy_domain_of - the domain part of an address, or NULL */
static const char *policy_domain_of(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

/* chk_conn_rate - connections per minute from this IP */
static int chk_conn_rate(policy_run *r)
{
    unsigned lim = r->e->cfg->rate_connections;
    unsigned n = lim ? policy_rate_hit(r->e->rate, r->ctx->ip, POLICY_RATE_CONN, time(NULL)) : 0;
    if (lim && n > lim) {
        policy_set(r, POLICY_DEFER, 421, "4.7.0", "Too many connections from %s: %u in the last minute (the limit "
                   "is %u); wait a minute and reconnect (conn_rate)", r->ctx->ip, n, lim);
        r->cur.close = 1;
    }
    return 0;
}

/* chk_client_ptr - the client address has a PTR record */
static int chk_client_ptr(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    if (c->ptr_status == DNS_TEMPFAIL)
        policy_set(r, POLICY_DEFER, 450, "4.7.25", "Client host rejected: the reverse DNS (PTR) lookup of %s failed "
                   "temporarily; try again later (client_ptr)", c->ip);
    else if (!c->ptr_name || !*c->ptr_name)
        policy_set(r, POLICY_REJECT, 550, "5.7.25", "Client host rejected: %s has no reverse DNS (PTR) record; ask "
                   "whoever runs this address to publish a PTR naming your mail server (client_ptr)", c->ip);
    return 0;
}

/* chk_client_fcrdns - the PTR name resolves back to the client address */
static int chk_client_fcrdns(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    if (c->ptr_status == DNS_TEMPFAIL || (c->ptr_name && c->fwd_status == DNS_TEMPFAIL))
        policy_set(r, POLICY_DEFER, 450, "4.7.25", "Client host rejected: cannot confirm the reverse DNS of %s right "
                   "now (DNS lookup failed temporarily); try again later (client_fcrdns)", c->ip);
    else if (!c->ptr_name || !*c->ptr_name)
        policy_set(r, POLICY_REJECT, 550, "5.7.25", "Client host rejected: %s has no reverse DNS (PTR) record, so it "
                   "cannot be forward-confirmed; publish a PTR naming your mail server (client_fcrdns)", c->ip);
    else if (!c->client_name || strcmp(c->client_name, "unknown") == 0)
        policy_set(r, POLICY_REJECT, 550, "5.7.25", "Client host rejected: the reverse name %s of %s does not "
                   "resolve back to %s (forward-confirmed reverse DNS failed); make the A/AAAA record of %s list "
                   "%s (client_fcrdns)", c->ptr_name, c->ip, c->ip, c->ptr_name, c->ip);
    return 0;
}

/* chk_client_dynamic - the client name looks like a residential/dynamic pool address */
static int chk_client_dynamic(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    char why[96];
    if (c->ptr_name && *c->ptr_name && policy_dynamic_name(c->ptr_name, c->ip, why, sizeof why))
        policy_set(r, POLICY_REJECT, 550, "5.7.25", "Client host rejected: %s [%s] looks like a dynamic address (%s); "
                   "we do not accept mail from dynamic IPs: send through your provider's mail server or give "
                   "your server a PTR name of its own (client_dynamic)", c->ptr_name, c->ip, why);
    return 0;
}

/* chk_helo_syntax - the name is a domain or an address literal, not a bare address */
static int chk_helo_syntax(policy_run *r)
{
    const char *h = r->ctx->helo;
    unsigned char a[16];
    if (h && (inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1))
        policy_set(r, POLICY_REJECT, 501, "5.5.2", "Helo command rejected: \"%.100s\" is an address without "
                   "brackets; send your host name, or an address literal like [%.60s] (RFC 5321 4.1.3) "
                   "(helo_syntax)", h, h);
    return 0;
}

/* chk_helo_fqdn - the name is fully qualified */
static int chk_helo_fqdn(policy_run *r)
{
    const char *h = r->ctx->helo;
    if (h && h[0] != '[' && !mail_domain_is_fqdn(h, strlen(h)))
        policy_set(r, POLICY_REJECT, 504, "5.5.2", "Helo command rejected: \"%.100s\" is not a fully qualified host "
                   "name; configure your mail server to greet with its full name, like mail.example.org "
                   "(helo_fqdn)", h);
    return 0;
}

/* chk_helo_not_self - the client does not claim our name, a local domain or our address */
static int chk_helo_not_self(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    const char *h = c->helo;
    if (!h)
        return 0;
    int self = strcasecmp(h, r->e->cfg->hostname) == 0;
    if (!self && h[0] == '[' && c->local_ip) {
        size_t n = strlen(h);
        const char *lit = strncasecmp(h, "[IPv6:", 6) == 0 ? h + 6 : h + 1;
        self = n > 2 && h[n - 1] == ']' && strlen(c->local_ip) == (size_t)(h + n - 1 - lit) &&
               strncasecmp(lit, c->local_ip, strlen(c->local_ip)) == 0;
    }
    if (!self && h[0] != '[' && r->e->accounts) {
        acct_status st = accounts_domain_is_local(r->e->accounts, h);
        if (st == ACCT_TEMPFAIL) {
            policy_set(r, POLICY_DEFER, 451, "4.3.0", "Temporary failure of our account database while checking "
                       "the HELO name; try again later (helo_not_self)");
            return 0;
        }
        self = st == ACCT_OK;
    }
    if (self)
        policy_set(r, POLICY_REJECT, 550, "5.7.1", "Helo command rejected: \"%.100s\" is our own name or address, "
                   "and you are not us; greet with your own host name (helo_not_self)", h);
    return 0;
}

/* helo_resolves_rest - no A record: MX and AAAA answered */
static int helo_resolves_rest(policy_run *r)
{
    int tmp = r->scratch[0] == 't';
    for (size_t i = 0; i < r->nq; i++) {
        const dns_answer *a = r->ans[i];
        if (a && a->status == DNS_OK)
            return 0;
        tmp |= !a || policy_tmp(a->status);
    }
    if (tmp)
        policy_set(r, POLICY_DEFER, 450, "4.4.3", "Helo command rejected: cannot resolve \"%.100s\" right now (DNS "
                   "lookup failed temporarily); try again later (helo_resolves)", r->ctx->helo);
    else
        policy_set(r, POLICY_REJECT, 550, "5.7.1", "Helo command rejected: host name \"%.100s\" has no A, AAAA or MX "
                   "record; greet with a name that resolves, ideally your PTR name (helo_resolves)", r->ctx->helo);
    return 0;
}

/* helo_resolves_a - the A lookup answered: done when it found one, else ask MX and AAAA */
static int helo_resolves_a(policy_run *r)
{
    const dns_answer *a = r->ans[0];
    if (a && a->status == DNS_OK)
        return 0;
    r->scratch[0] = (!a || policy_tmp(a->status)) ? 't' : 'n';
    dns_answer_free(r->ans[0]);
    r->ans[0] = NULL;
    r->nq = 0;
    policy_lookup(r, r->ctx->helo, DNS_T_MX);
    policy_lookup(r, r->ctx->helo, DNS_T_AAAA);
    r->finish = helo_resolves_rest;
    return 1;
}

/* chk_helo_resolves - the HELO name has an A, AAAA or MX record. A first: with a warm cache
 * one lookup settles the usual case; the client's own forward-confirmed name needs none. */
static int chk_helo_resolves(policy_run *r)
{
    const char *h = r->ctx->helo;
    if (!h || h[0] == '[' || (r->ctx->client_name && strcasecmp(h, r->ctx->client_name) == 0))
        return 0;
    policy_lookup(r, h, DNS_T_A);
    r->finish = helo_resolves_a;
    return 1;
}

/* chk_msg_rate - MAIL commands per minute from this IP */
static int chk_msg_rate(policy_run *r)
{
    unsigned lim = r->e->cfg->rate_messages;
    unsigned n = lim ? policy_rate_hit(r->e->rate, r->ctx->ip, POLICY_RATE_MSG, time(NULL)) : 0;
    if (lim && n > lim)
        policy_set(r, POLICY_DEFER, 450, "4.7.1", "Too many messages from %s: %u in the last minute (the limit is "
                   "%u); slow down and try again in a minute (msg_rate)", r->ctx->ip, n, lim);
    return 0;
}

/* chk_sender_fqdn - the sender's domain is fully qualified */
static int chk_sender_fqdn(policy_run *r)
{
    const char *s = r->ctx->sender;
    const char *d = policy_domain_of(s);
    if (s && *s && (!d || (d[0] != '[' && !mail_domain_is_fqdn(d, strlen(d)))))
        policy_set(r, POLICY_REJECT, 504, "5.5.2", "Sender address rejected: <%.200s> needs a fully qualified "
                   "domain, like user@example.org (sender_fqdn)", s);
    return 0;
}

/* sender_domain_addr - no MX record: A and AAAA answered (implicit MX, RFC 5321 5.1) */
static int sender_domain_addr(policy_run *r)
{
    const char *d = policy_domain_of(r->ctx->sender);
    int tmp = 0;
    for (size_t i = 0; i < r->nq; i++) {
        const dns_answer *a = r->ans[i];
        if (a && a->status == DNS_OK)
            return 0;
        tmp |= !a || policy_tmp(a->status);
    }
    if (tmp)
        policy_set(r, POLICY_DEFER, 451, "4.4.3", "Sender address rejected: cannot check domain %s right now (DNS "
                   "lookup failed temporarily); try again later (sender_domain)", d);
    else
        policy_set(r, POLICY_REJECT, 550, "5.1.8", "Sender address rejected: domain %s has no MX, A or AAAA record, "
                   "so it cannot receive replies; publish an MX record for it (sender_domain)", d);
    return 0;
}

/* sender_domain_mx - the MX lookup answered: decided, or go on with A and AAAA */
static int sender_domain_mx(policy_run *r)
{
    const char *d = policy_domain_of(r->ctx->sender);
    const dns_answer *mx = r->ans[0];
    if (mx && mx->status == DNS_OK) {
        if (mx->count == 1 && mx->rr[0].text[0] == '\0')
            policy_set(r, POLICY_REJECT, 550, "5.7.27", "Sender address rejected: domain %s publishes a null MX "
                       "(RFC 7505): it sends no mail and cannot receive replies; use another sender address "
                       "(sender_domain)", d);
        return 0;
    }
    if (!mx || policy_tmp(mx->status)) {
        policy_set(r, POLICY_DEFER, 451, "4.4.3", "Sender address rejected: cannot check domain %s right now (DNS "
                   "lookup failed temporarily); try again later (sender_domain)", d);
        return 0;
    }
    if (mx->status == DNS_NXDOMAIN) {
        policy_set(r, POLICY_REJECT, 550, "5.1.8", "Sender address rejected: domain %s does not exist (NXDOMAIN); "
                   "send from an address in a real domain (sender_domain)", d);
        return 0;
    }
    dns_answer_free(r->ans[0]);
    r->ans[0] = NULL;
    r->nq = 0;
    policy_lookup(r, d, DNS_T_A);
    policy_lookup(r, d, DNS_T_AAAA);
    r->finish = sender_domain_addr;
    return 1;
}

/* chk_sender_domain - the sender domain exists and can receive mail: MX first, A/AAAA only without one */
static int chk_sender_domain(policy_run *r)
{
    const char *d = policy_domain_of(r->ctx->sender);
    if (!d || d[0] == '[')
        return 0;
    policy_lookup(r, d, DNS_T_MX);
    r->finish = sender_domain_mx;
    return 1;
}

/* chk_own_domain_forgery - a sender in our own domains from outside must be authenticated or pass SPF */
static int chk_own_domain_forgery(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    const char *d = policy_domain_of(c->sender);
    if (!d || c->spf_mail == SPF_PASS)
        return 0;
    int ours = strcasecmp(d, r->e->cfg->hostname) == 0;
    if (!ours && r->e->accounts) {
        acct_status st = accounts_domain_is_local(r->e->accounts, d);
        if (st == ACCT_TEMPFAIL) {
            policy_set(r, POLICY_DEFER, 451, "4.3.0", "Temporary failure of our account database while checking the "
                       "sender domain; try again later (own_domain_forgery)");
            return 0;
        }
        ours = st == ACCT_OK;
    }
    if (ours)
        policy_set(r, POLICY_REJECT, 550, "5.7.1", "Sender address rejected: <%.200s> is in our own domain %s, but "
                   "you did not authenticate and SPF does not pass (spf=%s); our users send through the submission "
                   "port with AUTH (own_domain_forgery)", c->sender, d,
                   c->spf_mail < 0 ? "none" : spf_result_name((spf_result_code)c->spf_mail));
    return 0;
}

/* chk_rcpt_fqdn - the recipient's domain is fully qualified */
static int chk_rcpt_fqdn(policy_run *r)
{
    const char *d = policy_domain_of(r->ctx->rcpt);
    if (r->ctx->rcpt && (!d || (d[0] != '[' && !mail_domain_is_fqdn(d, strlen(d)))))
        policy_set(r, POLICY_REJECT, 504, "5.5.2", "Recipient address rejected: <%.200s> needs a fully qualified "
                   "domain (rcpt_fqdn)", r->ctx->rcpt);
    return 0;
}

/* chk_rcpt_rate - accepted recipients per minute from this IP */
static int chk_rcpt_rate(policy_run *r)
{
    unsigned lim = r->e->cfg->rate_recipients;
    unsigned n = lim ? policy_rate_hit(r->e->rate, r->ctx->ip, POLICY_RATE_RCPT, time(NULL)) : 0;
    if (lim && n > lim)
        policy_set(r, POLICY_DEFER, 452, "4.7.1", "Too many recipients from %s: %u in the last minute (the limit is "
                   "%u); send the rest in a minute (rcpt_rate)", r->ctx->ip, n, lim);
    return 0;
}

/* chk_greylist - defer the first attempt of an unknown triplet (RFC 6647) */
static int chk_greylist(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    unsigned wait;
    if (!r->e->grey || c->allowlisted)
        return 0;
    greylist_verdict v = greylist_check(r->e->grey, c->ip, c->sender, c->rcpt, time(NULL), &wait);
    if (v == GREYLIST_TEMPFAIL)
        log_warn(c->id, "event=greylist_unavailable verdict=pass reason=\"greylist store failed; failing open\"");
    else if (v == GREYLIST_DEFER)
        policy_set(r, POLICY_DEFER, 451, "4.7.1", "Greylisted: this is the first attempt from %s for <%.150s> to "
                   "<%.150s>; this is normal for new senders: retry in %u seconds and it will be accepted "
                   "(greylist, RFC 6647)", c->ip, c->sender && *c->sender ? c->sender : "", c->rcpt, wait);
    else
        log_debug(c->id, "event=greylist verdict=%s", v == GREYLIST_KNOWN ? "known_client" : "pass");
    return 0;
}

/* chk_bounce_multi_rcpt - a bounce goes to exactly one recipient (at DATA: the count; at RCPT: the
 * second one is refused, which also covers BDAT, where the DATA stage does not run) */
static int chk_bounce_multi_rcpt(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    int rcpt = r->stage == POLICY_STAGE_RCPT;
    if (c->sender && !*c->sender && c->nrcpts > (rcpt ? 0u : 1u))
        policy_set(r, POLICY_REJECT, 550, "5.5.3", "%s rejected: a message with the null sender (a bounce) goes to "
                   "exactly one recipient, this one has %u (bounce_multi_rcpt)", rcpt ? "Recipient" : "Data command",
                   c->nrcpts + (unsigned)rcpt);
    return 0;
}

int policy_dnsbl_run(policy_run *r); /* policy_dnsbl.c */

const policy_check_def policy_checks[CHK_COUNT] = {
    [CHK_CONN_RATE] = {"conn_rate", 0, chk_conn_rate},
    [CHK_CLIENT_PTR] = {"client_ptr", 0, chk_client_ptr},
    [CHK_CLIENT_FCRDNS] = {"client_fcrdns", 0, chk_client_fcrdns},
    [CHK_CLIENT_DYNAMIC] = {"client_dynamic", 0, chk_client_dynamic},
    [CHK_DNSBL] = {"dnsbl", 0, policy_dnsbl_run},
    [CHK_HELO_SYNTAX] = {"helo_syntax", 0, chk_helo_syntax},
    [CHK_HELO_FQDN] = {"helo_fqdn", 0, chk_helo_fqdn},
    [CHK_HELO_NOT_SELF] = {"helo_not_self", 0, chk_helo_not_self},
    [CHK_HELO_RESOLVES] = {"helo_resolves", 0, chk_helo_resolves},
    [CHK_MSG_RATE] = {"msg_rate", 0, chk_msg_rate},
    [CHK_SENDER_FQDN] = {"sender_fqdn", 0, chk_sender_fqdn},
    [CHK_SENDER_DOMAIN] = {"sender_domain", 0, chk_sender_domain},
    [CHK_OWN_DOMAIN_FORGERY] = {"own_domain_forgery", 0, chk_own_domain_forgery},
    [CHK_RCPT_FQDN] = {"rcpt_fqdn", 0, chk_rcpt_fqdn},
    [CHK_RCPT_RATE] = {"rcpt_rate", 0, chk_rcpt_rate},
    [CHK_GREYLIST] = {"greylist", 0, chk_greylist},
    [CHK_BOUNCE_MULTI_RCPT] = {"bounce_multi_rcpt", 0, chk_bounce_multi_rcpt},
    [CHK_SENDER_VERIFY] = {"sender_verify", 0, policy_callout_run},
};
