/*
 * spf_parse - the parts of SPF (RFC 7208) that need no DNS: record
 * selection, record parsing, macro syntax checks and macro expansion, and
 * the domain-name checks of initial processing. Pure functions on
 * (ptr, len), so they are unit-tested and fuzzed without a network; the
 * asynchronous evaluator (spf_check.c) is built on them.
 *
 * API:
 *   spf_record_is_spf()  - does a TXT string select as an SPF record (4.5)
 *   spf_record_parse()   - whole-record syntax check and parse (4.6, 5, 6, 12)
 *   spf_macro_check()    - macro-string / explain-string syntax (7.1)
 *   spf_macro_expand()   - expansion with transformers and URL escaping (7.3)
 *   spf_target_name()    - expanded domain-spec -> query name (7.3: trailing
 *                          dot dropped, left labels cut to 253 octets)
 *   spf_domain_ok()      - initial-processing check of <domain> (4.3)
 *
 * Limits: SPF_MAX_RECORD bytes per record, SPF_MAX_TERMS terms, expansions
 * capped at SPF_MAX_EXPANSION bytes; past them the record is a permerror
 * (or the expansion fails), never a crash or a silent truncation.
 *
 * Ownership: a parsed spf_record and everything in it is owned by the
 * caller and freed with spf_record_free().
 */
#ifndef POCHTA_AUTH_SPF_PARSE_H
#define POCHTA_AUTH_SPF_PARSE_H

#include "lib/buf.h"

#include <stddef.h>

/* SPF_MAX_RECORD - longest record text accepted (a DNS message holds 64 KB; real records are < 1 KB) */
#define SPF_MAX_RECORD 16384
/* SPF_MAX_TERMS - terms per record; more is a permerror, not a silent cut */
#define SPF_MAX_TERMS 256
/* SPF_MAX_EXPANSION - bytes one macro expansion may produce */
#define SPF_MAX_EXPANSION 8192
/* SPF_MAX_NAME - longest query name after expansion (RFC 7208 7.3, RFC 1035 2.3.4) */
#define SPF_MAX_NAME 253
/* SPF_MAX_LABEL - longest DNS label (RFC 1035 2.3.4) */
#define SPF_MAX_LABEL 63

typedef enum {
    SPF_M_ALL,
    SPF_M_INCLUDE,
    SPF_M_A,
    SPF_M_MX,
    SPF_M_PTR,
    SPF_M_IP4,
    SPF_M_IP6,
    SPF_M_EXISTS,
} spf_mech_type;

typedef struct spf_term {
    spf_mech_type type;
    char qualifier;          /* '+', '-', '~' or '?' ('+' when not written) */
    char *text;              /* the directive as written, for mechanism= (owned) */
    char *spec;              /* domain-spec, unexpanded; NULL = the current <domain> (owned) */
    unsigned char net[16];   /* ip4 (first 4 bytes) or ip6 network */
    int cidr4, cidr6;        /* prefix lengths; 32 and 128 when not written */
} spf_term;

typedef struct spf_record {
    spf_term *terms;  /* the directives in order (owned) */
    size_t nterms;
    size_t cap;       /* terms allocated */
    char *redirect;   /* redirect= domain-spec or NULL (owned) */
    char *exp;        /* exp= domain-spec or NULL (owned) */
} spf_record;

/* spf_record_is_spf - 1 when txt starts with "v=spf1" (any case) followed by a space or its end (4.5) */
int spf_record_is_spf(const char *txt, size_t len);

/*
 * spf_record_parse - parse a whole selected record; 0 with *out (caller
 * frees with spf_record_free), or -1 with a one-line reason in err: any
 * syntax error anywhere is a permerror before evaluation starts (4.6).
 */
int spf_record_parse(const char *txt, size_t len, spf_record **out, char *err, size_t errlen);
void spf_record_free(spf_record *r);

/* flags for the macro functions */
#define SPF_MACRO_EXP 1  /* explanation text: letters c, r, t and SP allowed (7.1, 6.2) */

/* spf_macro_check - 0 when s is a valid macro-string (explain-string with SPF_MACRO_EXP), else -1 */
int spf_macro_check(const char *s, size_t len, int flags);
/* spf_macro_uses_p - whether a valid macro-string uses the %{p} letter (needs PTR lookups first) */
int spf_macro_uses_p(const char *s, size_t len);
/* spf_domain_spec_check - 0 when s is a valid domain-spec: macro-string ending in a macro or "." toplabel ["."] (7.1) */
int spf_domain_spec_check(const char *s, size_t len);

/* The values the macro letters stand for (7.3); all NUL-terminated, borrowed. */
typedef struct spf_macro_vars {
    const char *sender;   /* s: local@domain */
    const char *local;    /* l */
    const char *odomain;  /* o: domain of the sender */
    const char *domain;   /* d: current <domain> */
    const char *ip_i;     /* i: dotted quad, or 32 dot-separated nibbles for IPv6 */
    const char *ip_c;     /* c: readable address (RFC 5952 for IPv6) */
    const char *ip_v;     /* v: "in-addr" or "ip6" */
    const char *helo;     /* h */
    const char *ptr;      /* p: validated name or "unknown" */
    const char *receiver; /* r */
    long long now;        /* t */
} spf_macro_vars;

/* spf_macro_expand - append the expansion of s to out; 0, or -1 on bad syntax or past out's cap */
int spf_macro_expand(const char *s, size_t len, const spf_macro_vars *v, int flags, buf *out);

/*
 * spf_target_name - expand domain-spec spec into out (a DNS name ready to
 * ask): trailing dot removed, leftmost labels dropped until it fits in 253
 * octets. 0 on success; -1 when the expansion fails or the result cannot be
 * a DNS name (empty label, label over 63): the caller treats that name as
 * non-existent.
 */
int spf_target_name(const char *spec, const spf_macro_vars *v, char *out, size_t outlen);

/* spf_domain_ok - 1 when domain (len bytes, trailing dot allowed) is a usable multi-label FQDN (4.3) */
int spf_domain_ok(const char *domain, size_t len);

/* spf_ip_nibbles - the %{i} form of a 16-byte IPv6 address into out (64 bytes) */
void spf_ip_nibbles(const unsigned char ip6[16], char *out, size_t outlen);

#endif
