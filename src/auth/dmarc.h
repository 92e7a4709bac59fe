/*
 * dmarc - Domain-based Message Authentication, Reporting and Conformance
 * (RFC 7489): policy record parsing, policy discovery, identifier
 * alignment and the policy result for one message.
 *
 * Flow for the daemon: extract the RFC5322.From domain; dmarc_lookup_start()
 * finds the policy (at _dmarc.FROM, then at _dmarc.ORG where ORG is the
 * organisational domain from the public suffix list, section 6.6.3); with
 * the SPF result (MAIL FROM or HELO identity) and the DKIM results,
 * dmarc_evaluate() decides pass/fail and the action (none, quarantine,
 * reject) after pct sampling (section 6.6.4).
 *
 * Three-valued discipline: a DNS failure during discovery is temperror,
 * never "no policy"; a temperror from SPF or DKIM with nothing aligned
 * passing gives temperror (defer), not fail.
 *
 * np= (RFC 9091, DMARCbis): when the record came from the organisational
 * domain, the From domain is looked up (A); NXDOMAIN makes np= the policy
 * instead of sp= (a DNS failure there counts as "exists": sp=). Reports
 * (rua/ruf) are parsed and kept, not sent.
 */
#ifndef POCHTA_AUTH_DMARC_H
#define POCHTA_AUTH_DMARC_H

#include "auth/dkim.h"
#include "dns/dns.h"

#include <stddef.h>

struct event_base;

typedef enum {
    DMARC_POLICY_NONE = 0,
    DMARC_POLICY_QUARANTINE,
    DMARC_POLICY_REJECT,
} dmarc_policy;

/* DMARC_URIS_MAX - bytes of rua=/ruf= kept (as written, comma-separated) */
#define DMARC_URIS_MAX 512

typedef struct dmarc_record {
    dmarc_policy p;
    dmarc_policy sp;      /* = p when absent */
    dmarc_policy np;      /* = sp when absent (RFC 9091: non-existent subdomains) */
    int adkim_strict;     /* adkim=s */
    int aspf_strict;      /* aspf=s */
    unsigned pct;         /* 0..100, default 100 */
    unsigned long ri;     /* default 86400 */
    char fo[16];          /* default "0" */
    char rua[DMARC_URIS_MAX];
    char ruf[DMARC_URIS_MAX];
} dmarc_record;

/*
 * dmarc_record_parse - parse a TXT record (section 6.3, ABNF of 6.4):
 * v=DMARC1 first, p= directly after it, tag names case-insensitive,
 * duplicates and malformed values refused, unknown tags ignored. A record
 * with a missing or invalid p= (or invalid sp=) but a valid rua= is taken
 * as p=none (section 6.6.3). 0, or -1 with err.
 */
int dmarc_record_parse(const char *txt, size_t len, dmarc_record *rec, char *err, size_t errlen);

/* dmarc_org_domain - organisational domain (PSL registrable domain) of domain, lower case; 0, or -1 when domain is a public suffix or invalid */
int dmarc_org_domain(const char *domain, char *out, size_t outlen);

typedef enum {
    DMARC_LOOKUP_FOUND = 0,
    DMARC_LOOKUP_NONE = 1,       /* no record (or several: section 6.6.3 step 5) */
    DMARC_LOOKUP_TEMPERROR = -1, /* DNS failed temporarily */
    DMARC_LOOKUP_PERMERROR = -2, /* the record found is malformed */
} dmarc_lookup_status;

typedef struct dmarc_lookup_result {
    dmarc_lookup_status status;
    dmarc_record rec;             /* valid when FOUND */
    char policy_domain[256];      /* where the record was (or the From domain) */
    int from_nxdomain;            /* record found at the org domain and the From domain does not exist (np=) */
    char error[128];
} dmarc_lookup_result;

typedef void (*dmarc_lookup_fn)(void *arg, const dmarc_lookup_result *res);
typedef struct dmarc_lookup dmarc_lookup;

/*
 * dmarc_lookup_start - discover the policy for from_domain. done runs later
 * on r's loop exactly once unless cancelled; when from_domain is unusable it
 * runs before this returns (permerror) and NULL is returned. The handle is
 * freed after done returns.
 */
dmarc_lookup *dmarc_lookup_start(dns_resolver *r, const char *from_domain, dmarc_lookup_fn done, void *arg);
void dmarc_lookup_cancel(dmarc_lookup *l);
/* dmarc_lookup_sync - start and loop on base until done (CLI and tests) */
void dmarc_lookup_sync(struct event_base *base, dns_resolver *r, const char *from_domain, dmarc_lookup_result *out);

/* An authenticated identifier as SPF or DKIM reported it. */
typedef enum {
    DMARC_AUTH_NONE = 0,
    DMARC_AUTH_PASS,
    DMARC_AUTH_FAIL,     /* also softfail, neutral: anything not pass */
    DMARC_AUTH_TEMPERROR,
    DMARC_AUTH_PERMERROR,
} dmarc_auth;

typedef struct dmarc_ident {
    dmarc_auth result;
    const char *domain; /* SPF: the MAIL FROM (or HELO) domain; DKIM: d= */
} dmarc_ident;

typedef enum {
    DMARC_RESULT_NONE = 0,
    DMARC_RESULT_PASS,
    DMARC_RESULT_FAIL,
    DMARC_RESULT_TEMPERROR,
    DMARC_RESULT_PERMERROR,
} dmarc_result;

typedef struct dmarc_eval {
    dmarc_result result;
    dmarc_policy policy;   /* p= or sp= as applies to the From domain (for A-R policy.dmarc) */
    dmarc_policy action;   /* what to do: the policy on fail, after pct; NONE otherwise */
    int aligned_spf;       /* SPF passed for an aligned domain */
    int aligned_dkim;      /* some DKIM signature passed for an aligned d= */
    int sampled_out;       /* failed but pct excluded this message: action lowered a step */
    char policy_domain[256];
    char reason[128];
} dmarc_eval;

/*
 * dmarc_evaluate - sections 4.2 and 6.6: alignment of spf (may be NULL) and
 * the ndkim DKIM identifiers with from_domain under lk's record; pct_roll is
 * a number in 0..99 (random per message in the daemon, fixed in tests)
 * compared with pct=.
 */
void dmarc_evaluate(const char *from_domain, const dmarc_lookup_result *lk, const dmarc_ident *spf,
                    const dmarc_ident *dkim, size_t ndkim, unsigned pct_roll, dmarc_eval *out);

/* dmarc_dkim_idents - turn verifier results into identifiers (pointers into res); returns the count */
size_t dmarc_dkim_idents(const dkim_results *res, dmarc_ident *out, size_t max);

/* dmarc_aligned - identifier alignment (section 3.1): strict = same name, relaxed = same org domain */
int dmarc_aligned(const char *a, const char *b, int strict);

/* names for A-R and logs */
const char *dmarc_result_name(dmarc_result r);   /* "none", "pass", "fail", "temperror", "permerror" */
const char *dmarc_policy_name(dmarc_policy p);   /* "none", "quarantine", "reject" */

#endif
