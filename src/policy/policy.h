/*
 * policy - the envelope policy engine: ordered checks per SMTP stage
 * (connect, HELO, MAIL, RCPT, DATA), each with an action (reject, defer,
 * warn), global and per-check whitelists, greylisting, DNS block/allow
 * lists and per-IP rate limits. It knows nothing of sockets: the SMTP
 * session fills a policy_ctx with what it knows and asks for a verdict
 * (glue in src/smtp/smtp_policy.c). See docs/internals/policy.md.
 *
 * Verdicts follow Postfix's restriction engine: checks run in order, the
 * first definite refusal wins; a temporary failure (DNS timeout, SERVFAIL,
 * database busy) is held back so a later definite refusal can override it,
 * and is given only when nothing refused. A temporary failure is never a
 * 5xx. Every refusal names the check, the value seen and how to fix it.
 *
 * DNS: every lookup goes through the asynchronous resolver (dns.h), so a
 * stage may finish later, on the loop; unbound caches answers for their TTLs.
 *
 * Ownership: the engine is the daemon's (policy_engine_free). A run borrows
 * its policy_ctx, which must stay valid until the run finished or was
 * cancelled.
 */
#ifndef POCHTA_POLICY_POLICY_H
#define POCHTA_POLICY_POLICY_H

#include <stddef.h>

struct pochta_config;
struct event_base;
struct dns_resolver;
struct accounts;

typedef enum {
    POLICY_STAGE_CONNECT,
    POLICY_STAGE_HELO,
    POLICY_STAGE_MAIL,
    POLICY_STAGE_RCPT,
    POLICY_STAGE_DATA,
    POLICY_STAGE_COUNT
} policy_stage;

/* The outcome of a check or a stage (Postfix: DUNNO / OK / DEFER / REJECT). */
typedef enum {
    POLICY_DUNNO = 0,  /* nothing against: go on */
    POLICY_ACCEPT = 1, /* whitelisted: skip the rest of the stage */
    POLICY_DEFER = 2,  /* temporary: 4xx */
    POLICY_REJECT = 3, /* permanent: 5xx */
} policy_kind;

typedef struct policy_result {
    policy_kind kind;
    int code;           /* SMTP reply code (0 for DUNNO/ACCEPT) */
    char enh[12];       /* RFC 3463 enhanced code */
    char text[480];     /* names the check, the value seen and what to fix */
    const char *check;  /* name of the check that decided, or NULL */
    int close;          /* answer and close the connection (connection rate) */
} policy_result;

/* What the session knows; strings may be NULL when not known yet. */
typedef struct policy_ctx {
    const char *id;          /* session ID for logs */
    const char *queue_id;    /* queue ID of the transaction, or NULL */
    const char *ip;          /* client address */
    const char *local_ip;    /* our address on this connection, or NULL */
    const char *client_name; /* forward-confirmed name or "unknown" */
    const char *ptr_name;    /* first PTR name, confirmed or not, or NULL */
    int ptr_status;          /* dns_status of the PTR lookup (DNS_NXDOMAIN when none) */
    int fwd_status;          /* dns_status of the forward lookup of ptr_name */
    const char *helo;
    const char *sender;      /* MAIL FROM address without <>; "" = null sender */
    const char *rcpt;        /* the recipient being checked (RCPT stage) */
    unsigned nrcpts;         /* accepted recipients so far (DATA stage) */
    int spf_mail;            /* spf_result_code of MAIL FROM, or -1 when not computed (taken as none) */
    int authenticated;       /* SMTP AUTH succeeded */
    int trusted;             /* client in trusted_networks */
    int allowlisted;         /* set by the dnsbl check when a DNS allowlist lists the client */
} policy_ctx;

typedef struct policy_engine policy_engine;
typedef struct policy_run policy_run;
typedef void (*policy_done_fn)(void *arg, const policy_result *res);

/* policy_conf_check - parse the policy keys of cfg only (pochtad -n); 0, or -1 with err naming the key */
int policy_conf_check(const struct pochta_config *cfg, char *err, size_t errlen);

/* policy_engine_new - engine for cfg (kept by reference); NULL with err on a bad setting or database error */
policy_engine *policy_engine_new(const struct pochta_config *cfg, struct event_base *base,
                                 struct dns_resolver *dns, struct accounts *accounts, char *err, size_t errlen);
void policy_engine_free(policy_engine *e);

/*
 * policy_start - run the checks of stage for ctx. When every check could
 * answer at once, fills *out and returns NULL; otherwise returns a run and
 * calls done(arg, result) later on the loop (never from inside this call).
 */
policy_run *policy_start(policy_engine *e, policy_stage stage, policy_ctx *ctx, policy_done_fn done, void *arg,
                         policy_result *out);
/* policy_skip_reason - why ctx skips every check (authenticated, trusted_network, whitelisted, policy_off), or NULL */
const char *policy_skip_reason(policy_engine *e, const policy_ctx *ctx);
/* policy_cancel - drop a run in flight; done will not be called */
void policy_cancel(policy_run *r);

/* policy_stage_name - "connect", "helo", "mail", "rcpt", "data" */
const char *policy_stage_name(policy_stage st);

#endif
