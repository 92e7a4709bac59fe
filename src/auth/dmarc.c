/*
 * dmarc - policy discovery, alignment and evaluation (RFC 7489 sections
 * 3.1, 6.6). See dmarc.h for the API.
 *
 * Organisational domains come from libpsl with the system's public suffix
 * list (Debian's publicsuffix package via psl_latest), falling back to
 * the list built into libpsl; loaded once per process.
 *
 * Discovery (section 6.6.3): TXT at _dmarc.FROM; records not starting with
 * v=DMARC1 are dropped; exactly one must remain. None -> try _dmarc.ORG
 * when ORG differs. More than one -> no policy. A DNS failure at either step
 * is temperror.
 */
#include "auth/dmarc.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <event2/event.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const psl_ctx_t *dmarc_psl;
static pthread_once_t dmarc_psl_once = PTHREAD_ONCE_INIT;

/* dmarc_psl_init - load the system list once; libpsl's built-in list when it is missing */
static void dmarc_psl_init(void)
{
    dmarc_psl = psl_latest(NULL);
    if (!dmarc_psl)
        dmarc_psl = psl_builtin();
}

/* dmarc_lower - lower-case copy of a domain without a trailing dot; 0 or -1 when too long or empty */
static int dmarc_lower(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    if (n && in[n - 1] == '.')
        n--;
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
    return 0;
}

/* dmarc_org_domain - PSL registrable domain */
int dmarc_org_domain(const char *domain, char *out, size_t outlen)
{
    char low[256];
    if (!domain || dmarc_lower(domain, low, sizeof low) < 0 || low[0] == '.')
        return -1;
    pthread_once(&dmarc_psl_once, dmarc_psl_init);
    const char *reg = dmarc_psl ? psl_registrable_domain(dmarc_psl, low) : NULL;
    if (!reg || strlen(reg) >= outlen)
        return -1;
    memmove(out, reg, strlen(reg) + 1); /* reg points into low */
    return 0;
}

/* dmarc_aligned - strict: equal; relaxed: same organisational domain (both must have one) */
int dmarc_aligned(const char *a, const char *b, int strict)
{
    char la[256], lb[256];
    if (!a || !b || dmarc_lower(a, la, sizeof la) < 0 || dmarc_lower(b, lb, sizeof lb) < 0)
        return 0;
    if (strict)
        return strcmp(la, lb) == 0;
    char oa[256], ob[256];
    if (dmarc_org_domain(la, oa, sizeof oa) < 0 || dmarc_org_domain(lb, ob, sizeof ob) < 0)
        return 0;
    return strcmp(oa, ob) == 0;
}

struct dmarc_lookup {
    dns_resolver *r;
    dns_query *q;
    dmarc_lookup_fn done;
    void *arg;
    char from[256];
    char org[256];       /* "" when none or equal to from */
    int at_org;          /* the query in flight is for org */
    dmarc_lookup_result res;
};

/* dmarc_is_candidate - whether a TXT record claims to be DMARC (v=DMARC1 prefix, loosely) */
static int dmarc_is_candidate(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i >= len || (p[i] != 'v' && p[i] != 'V'))
        return 0;
    for (i++; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
        ;
    if (i >= len || p[i] != '=')
        return 0;
    for (i++; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
        ;
    if (len - i < 6 || strncasecmp(p + i, "DMARC1", 6) != 0)
        return 0;
    i += 6;
    return i == len || p[i] == ';' || p[i] == ' ' || p[i] == '\t';
}

/* dmarc_query - ask for _dmarc.NAME */
static void dmarc_query_name(dmarc_lookup *l, const char *name);

/* dmarc_finish - report and free */
static void dmarc_finish(dmarc_lookup *l)
{
    l->done(l->arg, &l->res);
    free(l);
}

/* dmarc_exist_answer - the From domain's A lookup: NXDOMAIN means np= applies (RFC 9091 2.1) */
static void dmarc_exist_answer(void *arg, const dns_answer *a)
{
    dmarc_lookup *l = arg;
    l->q = NULL;
    l->res.from_nxdomain = a->status == DNS_NXDOMAIN;
    dmarc_finish(l);
}

/* dmarc_answer - one _dmarc TXT answer */
static void dmarc_answer(void *arg, const dns_answer *a)
{
    dmarc_lookup *l = arg;
    l->q = NULL;
    snprintf(l->res.policy_domain, sizeof l->res.policy_domain, "%s", l->at_org ? l->org : l->from);
    if (a->status == DNS_TEMPFAIL) {
        l->res.status = DMARC_LOOKUP_TEMPERROR;
        snprintf(l->res.error, sizeof l->res.error, "DNS error looking up _dmarc.%.80s", l->res.policy_domain);
        dmarc_finish(l);
        return;
    }
    const dns_rr *found = NULL;
    size_t n = 0;
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        if (dmarc_is_candidate(a->rr[i].text, a->rr[i].len)) {
            found = &a->rr[i];
            n++;
        }
    if (n == 1) {
        if (dmarc_record_parse(found->text, found->len, &l->res.rec, l->res.error, sizeof l->res.error) < 0)
            l->res.status = DMARC_LOOKUP_PERMERROR;
        else
            l->res.status = DMARC_LOOKUP_FOUND;
        if (l->res.status == DMARC_LOOKUP_FOUND && l->at_org) { /* does the From domain exist? (np=) */
            l->q = dns_lookup(l->r, l->from, DNS_T_A, dmarc_exist_answer, l);
            return;
        }
        dmarc_finish(l);
        return;
    }
    if (n == 0 && !l->at_org && l->org[0]) {
        l->at_org = 1;
        dmarc_query_name(l, l->org);
        return;
    }
    /* no record; or several, which section 6.6.3 says to treat as none; policy_domain stays the From domain */
    snprintf(l->res.policy_domain, sizeof l->res.policy_domain, "%s", l->from);
    l->res.status = DMARC_LOOKUP_NONE;
    snprintf(l->res.error, sizeof l->res.error, "%s", n ? "multiple records" : "no record");
    dmarc_finish(l);
}

/* dmarc_query_name - start the TXT lookup of _dmarc.name */
static void dmarc_query_name(dmarc_lookup *l, const char *name)
{
    char q[300];
    snprintf(q, sizeof q, "_dmarc.%s", name);
    l->q = dns_lookup(l->r, q, DNS_T_TXT, dmarc_answer, l);
}

/* dmarc_lookup_start - see dmarc.h */
dmarc_lookup *dmarc_lookup_start(dns_resolver *r, const char *from_domain, dmarc_lookup_fn done, void *arg)
{
    dmarc_lookup *l = xcalloc(1, sizeof *l);
    l->r = r;
    l->done = done;
    l->arg = arg;
    if (!from_domain || dmarc_lower(from_domain, l->from, sizeof l->from) < 0 || strlen(l->from) > 240) {
        l->res.status = DMARC_LOOKUP_PERMERROR;
        snprintf(l->res.error, sizeof l->res.error, "unusable From domain");
        dmarc_finish(l);
        return NULL;
    }
    snprintf(l->res.policy_domain, sizeof l->res.policy_domain, "%s", l->from);
    if (dmarc_org_domain(l->from, l->org, sizeof l->org) < 0 || strcmp(l->org, l->from) == 0)
        l->org[0] = '\0';
    dmarc_query_name(l, l->from);
    return l;
}

/* dmarc_lookup_cancel - no callback */
void dmarc_lookup_cancel(dmarc_lookup *l)
{
    if (!l)
        return;
    if (l->q)
        dns_cancel(l->r, l->q);
    free(l);
}

typedef struct dmarc_sync {
    int done;
    dmarc_lookup_result *out;
} dmarc_sync;

/* dmarc_sync_done - keep a copy */
static void dmarc_sync_done(void *arg, const dmarc_lookup_result *res)
{
    dmarc_sync *s = arg;
    *s->out = *res;
    s->done = 1;
}

/* dmarc_lookup_sync - loop until discovered */
void dmarc_lookup_sync(struct event_base *base, dns_resolver *r, const char *from_domain, dmarc_lookup_result *out)
{
    dmarc_sync s = {0, out};
    memset(out, 0, sizeof *out);
    dmarc_lookup_start(r, from_domain, dmarc_sync_done, &s);
    while (!s.done)
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            break;
}

/* dmarc_lower_step - the pct exclusion of section 6.6.4: reject -> quarantine -> none */
static dmarc_policy dmarc_lower_step(dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

/* dmarc_evaluate - see dmarc.h */
void dmarc_evaluate(const char *from_domain, const dmarc_lookup_result *lk, const dmarc_ident *spf,
                    const dmarc_ident *dkim, size_t ndkim, unsigned pct_roll, dmarc_eval *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->policy_domain, sizeof out->policy_domain, "%s", lk->policy_domain);
    if (lk->status != DMARC_LOOKUP_FOUND) {
        out->result = lk->status == DMARC_LOOKUP_TEMPERROR   ? DMARC_RESULT_TEMPERROR
                      : lk->status == DMARC_LOOKUP_PERMERROR ? DMARC_RESULT_PERMERROR
                                                             : DMARC_RESULT_NONE;
        snprintf(out->reason, sizeof out->reason, "%s", lk->error);
        return;
    }
    const dmarc_record *rec = &lk->rec;
    char from[256];
    int is_org = dmarc_lower(from_domain, from, sizeof from) == 0 && strcasecmp(from, lk->policy_domain) == 0;
    out->policy = is_org ? rec->p : lk->from_nxdomain ? rec->np : rec->sp;
    int temp = 0;
    if (spf) {
        out->aligned_spf = spf->result == DMARC_AUTH_PASS && dmarc_aligned(spf->domain, from_domain, rec->aspf_strict);
        temp |= spf->result == DMARC_AUTH_TEMPERROR;
    }
    for (size_t i = 0; i < ndkim; i++) {
        if (dkim[i].result == DMARC_AUTH_PASS && dmarc_aligned(dkim[i].domain, from_domain, rec->adkim_strict))
            out->aligned_dkim = 1;
        temp |= dkim[i].result == DMARC_AUTH_TEMPERROR;
    }
    if (out->aligned_spf || out->aligned_dkim) {
        out->result = DMARC_RESULT_PASS;
        return;
    }
    if (temp) { /* an answer might have passed: defer rather than apply the policy */
        out->result = DMARC_RESULT_TEMPERROR;
        snprintf(out->reason, sizeof out->reason, "SPF or DKIM temporary error, nothing aligned passed");
        return;
    }
    out->result = DMARC_RESULT_FAIL;
    out->action = out->policy;
    if (pct_roll >= rec->pct && out->action != DMARC_POLICY_NONE) {
        out->sampled_out = 1;
        out->action = dmarc_lower_step(out->action);
    }
    snprintf(out->reason, sizeof out->reason, "no aligned SPF or DKIM pass");
}

/* dmarc_dkim_idents - verifier results as identifiers */
size_t dmarc_dkim_idents(const dkim_results *res, dmarc_ident *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < res->count && n < max; i++) {
        dkim_result r = res->sig[i].result;
        out[n].result = r == DKIM_PASS ? DMARC_AUTH_PASS : r == DKIM_TEMPERROR ? DMARC_AUTH_TEMPERROR
                        : r == DKIM_PERMERROR ? DMARC_AUTH_PERMERROR : DMARC_AUTH_FAIL;
        out[n].domain = res->sig[i].domain;
        n++;
    }
    return n;
}

/* dmarc_result_name - A-R keyword */
const char *dmarc_result_name(dmarc_result r)
{
    switch (r) {
    case DMARC_RESULT_NONE: return "none";
    case DMARC_RESULT_PASS: return "pass";
    case DMARC_RESULT_FAIL: return "fail";
    case DMARC_RESULT_TEMPERROR: return "temperror";
    case DMARC_RESULT_PERMERROR: return "permerror";
    }
    return "permerror";
}
