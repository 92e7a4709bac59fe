/*
 * dns - asynchronous DNS lookups for every part of pochta.
 *
 * One interface, three implementations:
 *   - dns_unbound_new(): libunbound, integrated with the libevent loop, so a
 *     lookup never blocks other sessions; answers cached by unbound with
 *     their TTLs. With a server "ADDR:PORT" it forwards every query there
 *     (tests point it at their NSD on loopback); with NULL it reads
 *     /etc/resolv.conf.
 *   - dns_static_new(): answers from records loaded in memory, for unit
 *     tests of parsers (the SPF suite, DKIM key records) that must not need
 *     a network. It can also play timeouts.
 *   - dns_cache_new(): a small answer cache on the loop thread in front of
 *     another resolver (the daemon's and each delivery worker's).
 *
 * Results are three-valued and more: a timeout or SERVFAIL is DNS_TEMPFAIL,
 * never "not found". Callbacks always run later, on the loop thread, never
 * from inside dns_lookup(). A cancelled query never calls back.
 *
 * Ownership: the dns_answer passed to a callback belongs to the resolver and
 * is freed when the callback returns; copy what you keep.
 */
#ifndef POCHTA_DNS_DNS_H
#define POCHTA_DNS_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

enum {
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_CNAME = 5,
    DNS_T_SOA = 6,
    DNS_T_PTR = 12,
    DNS_T_MX = 15,
    DNS_T_TXT = 16,
    DNS_T_AAAA = 28,
    DNS_T_SPF = 99,
};

typedef enum {
    DNS_OK = 0,        /* at least one record of the type asked */
    DNS_NODATA = 1,    /* the name exists, no record of that type */
    DNS_NXDOMAIN = 2,  /* the name does not exist */
    DNS_TEMPFAIL = -1, /* timeout, SERVFAIL, network error: try again later */
    DNS_PERMFAIL = -2, /* malformed name or answer, REFUSED: will not get better */
} dns_status;

typedef struct dns_rr {
    uint16_t type;
    uint32_t ttl;
    uint16_t pref;  /* MX preference; 0 for other types */
    /* A/AAAA: presentation form ("192.0.2.1", "2001:db8::1");
     * MX/PTR/CNAME/NS: target name, lower case, no trailing dot ("" = root,
     *   so a null MX is pref 0 with text "");
     * TXT/SPF: the character-strings concatenated, raw bytes (may hold NUL). */
    char *text;
    size_t len;
} dns_rr;

typedef struct dns_answer {
    dns_status status;
    uint16_t type;    /* the type asked */
    const char *name; /* the name asked */
    dns_rr *rr;       /* in the order received */
    size_t count;
    uint32_t ttl;     /* smallest TTL seen; negative-cache TTL when none */
    char *canon;      /* name after CNAMEs, or NULL when none were followed */
} dns_answer;

typedef void (*dns_callback)(void *arg, const dns_answer *answer);

typedef struct dns_resolver dns_resolver;
typedef struct dns_query dns_query;

/* The interface: a backend fills these in. */
struct dns_resolver {
    dns_query *(*lookup)(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg);
    void (*cancel)(dns_resolver *r, dns_query *q);
    void (*free)(dns_resolver *r);
};

/*
 * dns_lookup - start a lookup; cb(arg, answer) runs later on the loop, exactly
 * once unless cancelled. Returns a handle for dns_cancel, valid only until
 * the callback has run: cancelling after that is a caller bug. A resolver
 * must not be freed from inside one of its callbacks.
 */
dns_query *dns_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg);
/* dns_cancel - the callback of q will not run */
void dns_cancel(dns_resolver *r, dns_query *q);
/* dns_resolver_free - cancel queries in flight (no callbacks) and free r; NULL is fine */
void dns_resolver_free(dns_resolver *r);

/* dns_unbound_new - libunbound resolver on base; server is "ADDR:PORT", "ADDR" or NULL (resolv.conf). NULL on failure with err set. */
dns_resolver *dns_unbound_new(struct event_base *base, const char *server, char *err, size_t errlen);

/*
 * dns_static_new - in-memory resolver for tests. Records are added with
 * dns_static_add(); a name marked with dns_static_timeout() answers
 * DNS_TEMPFAIL for every type. A name with no record of the asked type but
 * other records answers DNS_NODATA; an unknown name DNS_NXDOMAIN.
 */
dns_resolver *dns_static_new(struct event_base *base);
void dns_static_add(dns_resolver *r, const char *name, uint16_t type, uint16_t pref, const char *text, size_t len);
void dns_static_timeout(dns_resolver *r, const char *name);

/*
 * dns_cache_new - a resolver answering repeated questions from memory and
 * passing the others to inner, which it owns from then on (dns_resolver_free
 * frees both). At most `slots` answers (rounded up to a power of two) are
 * kept, each for its TTL but at most max_ttl seconds; failures are never
 * kept. Use it on inner's loop thread.
 */
#define DNS_CACHE_SLOTS 4096
#define DNS_CACHE_MAX_TTL 3600
dns_resolver *dns_cache_new(struct event_base *base, dns_resolver *inner, size_t slots, unsigned max_ttl);
/*
 * dns_unbound_set_timeout - per-query deadline in milliseconds for an
 * unbound resolver (default DNS_DEFAULT_TIMEOUT_MS). At the deadline the
 * query is cancelled in libunbound and answers DNS_TEMPFAIL, so a dead
 * server gives a 4xx instead of a hung session. Ignored for other backends.
 */
#define DNS_DEFAULT_TIMEOUT_MS 5000
void dns_unbound_set_timeout(dns_resolver *r, unsigned ms);

/*
 * dns_lookup_sync - run one lookup to completion by looping on base (for the
 * CLI and tests: other events on base run meanwhile). Returns the status;
 * *out (when out is not NULL) receives a copy the caller frees with
 * dns_answer_free().
 */
dns_status dns_lookup_sync(struct event_base *base, dns_resolver *r, const char *name, uint16_t type,
                           dns_answer **out);
/* dns_answer_dup - deep copy of an answer (caller frees with dns_answer_free) */
dns_answer *dns_answer_dup(const dns_answer *a);
void dns_answer_free(dns_answer *a);

/* dns_type_name - "A", "MX", ... or NULL for a type we do not name */
const char *dns_type_name(uint16_t type);
/* dns_type_parse - DNS_T_* for "A", "mx", ...; 0 when unknown */
uint16_t dns_type_parse(const char *s);

/* dns_status_name - "ok", "nodata", "nxdomain", "tempfail", "permfail" */
const char *dns_status_name(dns_status st);
/* dns_reverse_name - "4.3.2.1.in-addr.arpa" or ip6.arpa nibbles for an address; 0 or -1 when not an IP */
int dns_reverse_name(const char *ip, char *out, size_t outlen);

#endif
