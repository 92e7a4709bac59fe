/*
 * spf - Sender Policy Framework checks (RFC 7208), asynchronous on the
 * dns_resolver interface (src/dns/dns.h), so a check never blocks the
 * event loop and the same code runs against libunbound or the in-memory
 * resolver of tests.
 *
 * API:
 *   spf_check_start()   - run check_host() (4) for the MAIL FROM identity
 *                         (postmaster@HELO for the null sender, 2.4) or for
 *                         the HELO identity alone (2.3); done() gets the result
 *   spf_check_cancel()  - stop a check; done() will not run
 *   spf_result_name()   - "pass", "fail", ... (2.6)
 *   spf_received_header() - the Received-SPF: header field (9.1)
 *
 * Everything of RFC 7208 is implemented: all mechanisms and modifiers,
 * macros (with the validated %{p}), exp=, the limits of 4.6.4 (10 DNS
 * terms, 2 void lookups, 10 MX / 10 PTR names) and an overall deadline
 * (SPF_DEFAULT_TIMEOUT_MS, 4.6.4: "at least 20 seconds") past which the
 * result is temperror. A DNS timeout or SERVFAIL is temperror, never none.
 *
 * Ownership: the request is copied by spf_check_start(). The result passed
 * to done() belongs to the callee, who frees it with spf_result_free().
 * done() always runs from the event loop, never from inside
 * spf_check_start(); the check's handle is dead once done() has been called.
 */
#ifndef POCHTA_AUTH_SPF_H
#define POCHTA_AUTH_SPF_H

#include "dns/dns.h"

#include <stddef.h>

struct event_base;

/* SPF_DEFAULT_TIMEOUT_MS - deadline for a whole check (RFC 7208 4.6.4 asks for at least 20 s) */
#define SPF_DEFAULT_TIMEOUT_MS 20000
/* SPF_MAX_DNS_TERMS - include, a, mx, ptr, exists, redirect per check (4.6.4) */
#define SPF_MAX_DNS_TERMS 10
/* SPF_MAX_VOID - lookups answering NXDOMAIN or no records (4.6.4) */
#define SPF_MAX_VOID 2
/* SPF_MAX_NAMES - MX hosts, and PTR names, looked at per mechanism (4.6.4) */
#define SPF_MAX_NAMES 10

typedef enum {
    SPF_NONE,
    SPF_NEUTRAL,
    SPF_PASS,
    SPF_FAIL,
    SPF_SOFTFAIL,
    SPF_TEMPERROR,
    SPF_PERMERROR,
} spf_result_code;

typedef enum {
    SPF_ID_MAILFROM = 0, /* MAIL FROM; the null sender checks postmaster@HELO */
    SPF_ID_HELO = 1,     /* the HELO/EHLO name alone */
} spf_identity;

typedef struct spf_request {
    struct event_base *base; /* the loop the resolver runs on (required) */
    const char *ip;          /* client address, IPv4 or IPv6 text (IPv4-mapped counts as IPv4) */
    const char *mail_from;   /* MAIL FROM address without <>; NULL or "" = null sender */
    const char *helo;        /* HELO/EHLO argument; NULL = "" */
    const char *receiver;    /* our host name for %{r} and receiver=; NULL = "unknown" */
    spf_identity identity;
    unsigned timeout_ms;     /* whole check; 0 = SPF_DEFAULT_TIMEOUT_MS */
} spf_request;

typedef struct spf_result {
    spf_result_code code;
    spf_identity identity;  /* the identity checked */
    char *domain;           /* the domain check_host() started at; NULL when none could be formed */
    char *sender;           /* the <sender> used (postmaster@HELO for the null sender) */
    char *mechanism;        /* the top-level directive that matched ("-all"), "default", or NULL */
    char *explanation;      /* fail only: the exp= text expanded, or NULL (default explanation) */
    char *problem;          /* permerror/temperror: what went wrong; else NULL */
    char *ip;               /* the client address as checked */
    char *helo;
    char *mail_from;        /* as given ("" for the null sender) */
    char *receiver;
    unsigned dns_terms;     /* DNS-querying terms evaluated, for logs */
    unsigned void_lookups;
} spf_result;

typedef void (*spf_done_fn)(void *arg, spf_result *res);

typedef struct spf_check spf_check;

/*
 * spf_check_start - begin a check; done(arg, res) runs later on req->base,
 * exactly once unless cancelled. Returns the handle for spf_check_cancel.
 * A malformed IP or missing base gives a permerror result (still delivered
 * through done()); NULL is returned only when req->base is NULL.
 */
spf_check *spf_check_start(dns_resolver *r, const spf_request *req, spf_done_fn done, void *arg);
/* spf_check_cancel - stop c (queries cancelled, no callback); only before done() ran */
void spf_check_cancel(spf_check *c);

/* spf_result_free - free a result given to done(); NULL is fine */
void spf_result_free(spf_result *res);
/* spf_result_name - RFC 7208 2.6 name: "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *spf_result_name(spf_result_code code);
/* spf_result_parse - inverse of spf_result_name (case-insensitive); -1 when unknown */
int spf_result_parse(const char *name);

/*
 * spf_received_header - "Received-SPF: RESULT (COMMENT) key=value; ..."
 * (9.1) as one unfolded line without CRLF, in a new string the caller
 * frees. The comment says in words what the result means; keys are
 * client-ip, envelope-from, helo, receiver, identity, mechanism, problem.
 */
char *spf_received_header(const spf_result *res);

/*
 * spf_default_explanation - the text given for a fail without exp=
 * (6.2): "domain of SENDER does not designate IP as permitted sender";
 * caller frees.
 */
char *spf_default_explanation(const spf_result *res);

#endif
