/*
 * policy_internal - what the files of src/policy/ share: the parsed
 * configuration (policy_conf), the check table, the run structure that
 * carries a stage through its asynchronous DNS lookups, and the rate table.
 * Not for use outside src/policy/ (unit tests excepted).
 */
#ifndef POCHTA_POLICY_POLICY_INTERNAL_H
#define POCHTA_POLICY_POLICY_INTERNAL_H

#include "policy/greylist.h"
#include "policy/policy.h"

#include "dns/dns.h"
#include "lib/cidr.h"

#include <stdint.h>

/* Limits of the configuration (each one refused with its own message). */
#define POLICY_MAX_CHECKS 24   /* checks in one stage list */
#define POLICY_MAX_ZONES 8     /* DNS block lists, and allow lists */
#define POLICY_MAX_CODES 8     /* return-code ranges of one zone */
#define POLICY_MAX_NAMES 64    /* domains or addresses in one whitelist */
#define POLICY_MAX_LOOKUPS 24  /* DNS lookups one check has in flight */

typedef enum { POLICY_ACT_REJECT, POLICY_ACT_DEFER, POLICY_ACT_WARN } policy_action;
typedef enum { POLICY_MODE_ENFORCE, POLICY_MODE_WARN, POLICY_MODE_OFF } policy_mode;

typedef enum {
    CHK_CONN_RATE, CHK_CLIENT_PTR, CHK_CLIENT_FCRDNS, CHK_CLIENT_DYNAMIC, CHK_DNSBL,
    CHK_HELO_SYNTAX, CHK_HELO_FQDN, CHK_HELO_NOT_SELF, CHK_HELO_RESOLVES,
    CHK_MSG_RATE, CHK_SENDER_FQDN, CHK_SENDER_DOMAIN, CHK_OWN_DOMAIN_FORGERY,
    CHK_RCPT_FQDN, CHK_RCPT_RATE, CHK_GREYLIST, CHK_BOUNCE_MULTI_RCPT, CHK_SENDER_VERIFY,
    CHK_COUNT
} policy_check_id;

/* A whitelist: networks, domains (".example" = it and its subdomains) and addresses. */
typedef struct policy_list {
    cidr_list nets;
    char *domains[POLICY_MAX_NAMES];
    size_t ndomains;
    char *addrs[POLICY_MAX_NAMES];
    size_t naddrs;
} policy_list;

typedef struct policy_zone {
    char *zone;
    unsigned weight;
    uint32_t lo[POLICY_MAX_CODES], hi[POLICY_MAX_CODES]; /* host order; none = any 127/8 but 127.255.255/24 */
    size_t ncodes;
} policy_zone;

typedef struct policy_item {
    policy_check_id id;
    policy_action act;
} policy_item;

typedef struct policy_conf {
    policy_mode mode;
    policy_item items[POLICY_STAGE_COUNT][POLICY_MAX_CHECKS];
    size_t nitems[POLICY_STAGE_COUNT];
    policy_list whitelist;
    policy_list *exempt[CHK_COUNT]; /* NULL = none for that check */
    policy_zone bl[POLICY_MAX_ZONES], al[POLICY_MAX_ZONES];
    size_t nbl, nal;
} policy_conf;

/* policy_conf_parse - the policy keys of cfg into pc (zeroed first); 0, or -1 with err naming key and value */
int policy_conf_parse(const struct pochta_config *cfg, policy_conf *pc, char *err, size_t errlen);
void policy_conf_free(policy_conf *pc);
/* policy_list_parse - "192.0.2.0/24 example.org .example.net user@example.com"; 0 or -1 with err */
int policy_list_parse(const char *text, policy_list *l, char *err, size_t errlen);
void policy_list_free(policy_list *l);
/* policy_list_match - 1 when ctx's client IP, client name, HELO or sender (domain) is in l */
int policy_list_match(const policy_list *l, const policy_ctx *ctx);
/* policy_zone_parse - one "ZONE[=CODES][*WEIGHT]" (allow: no weight); 0 or -1 */
int policy_zone_parse(const char *spec, int allow, policy_zone *z);
/* policy_zone_listed - 1 when the A record text a is a listing code of z */
int policy_zone_listed(const policy_zone *z, const char *a);
/* policy_check_name - "client_ptr" ...; policy_check_lookup - the id of a name, or -1 */
const char *policy_check_name(policy_check_id id);
int policy_check_lookup(const char *name, size_t len);
/* policy_dynamic_name - 1 when name looks like a dynamic address of ip; why says what gave it away */
int policy_dynamic_name(const char *name, const char *ip, char *why, size_t whylen);

/* Per-client-IP counters over fixed one-minute windows. */
typedef enum { POLICY_RATE_CONN, POLICY_RATE_MSG, POLICY_RATE_RCPT } policy_rate_kind;
typedef struct policy_rate policy_rate;
policy_rate *policy_rate_new(void);
void policy_rate_free(policy_rate *t);
/* policy_rate_hit - count one event of ip at now; returns the count in the current window */
unsigned policy_rate_hit(policy_rate *t, const char *ip, policy_rate_kind kind, long long now);

struct policy_engine {
    const struct pochta_config *cfg;
    struct event_base *base;
    dns_resolver *dns;
    struct accounts *accounts;
    policy_conf conf;
    cidr_list trusted;
    greylist *grey;      /* NULL when no stage lists greylist */
    policy_rate *rate;
    policy_rate *callout_rate;       /* sender_verify probes per sender domain */
    struct policy_vcache *vcache;    /* sender_verify results (policy_callout.c) */
};

/* A check: 0 = decided (r->cur filled, DUNNO when nothing against), 1 = waiting for DNS. */
typedef int (*policy_check_fn)(policy_run *r);

struct policy_run {
    policy_engine *e;
    policy_stage stage;
    policy_ctx *ctx;
    policy_done_fn done;
    void *arg;
    size_t next;                 /* index of the next check in the stage list */
    const policy_item *item;     /* the check running */
    policy_result cur, held, final;
    int have_held, decided, async;
    /* lookups of the running check */
    struct policy_slot {
        policy_run *r;
        size_t idx;
    } slot[POLICY_MAX_LOOKUPS];  /* callback argument of each lookup */
    dns_query *q[POLICY_MAX_LOOKUPS];
    dns_answer *ans[POLICY_MAX_LOOKUPS];
    size_t nq, pending;
    policy_check_fn finish;      /* called when the last lookup answered */
    void (*cancel_extra)(policy_run *r); /* drops another kind of wait (the callout's connection) */
    void *extra;
    char scratch[256];           /* a check's own notes between its phases */
};

/* policy_lookup - start one lookup of the running check; its answer lands in r->ans[slot] */
void policy_lookup(policy_run *r, const char *name, uint16_t type);
/* policy_resume - a check's own asynchronous step (not a lookup) finished with r->cur: go on */
void policy_resume(policy_run *r);
/* policy_callout_run - the sender_verify check (policy_callout.c); policy_vcache_free - its cache */
int policy_callout_run(policy_run *r);
void policy_vcache_free(struct policy_vcache *c);
/* policy_set - fill r->cur */
void policy_set(policy_run *r, policy_kind kind, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* policy_checks - the check table: name, stages it may be listed in (bit mask), function */
typedef struct policy_check_def {
    const char *name;
    unsigned stages;
    policy_check_fn run;
} policy_check_def;
extern const policy_check_def policy_checks[CHK_COUNT];

#endif
