/*
 * dns - the backend-independent part of the DNS layer: dispatch through the
 * resolver interface, answer building and copying, a synchronous wrapper,
 * names of statuses and types, and reverse-lookup names.
 *
 * Reverse names: RFC 1035 3.5 (in-addr.arpa), RFC 3596 2.5 (ip6.arpa).
 */
#include "dns/dns_internal.h"

#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* dns_lookup - start a lookup through the backend */
dns_query *dns_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    return r->lookup(r, name, type, cb, arg);
}

/* dns_cancel - forget q; its callback will not run */
void dns_cancel(dns_resolver *r, dns_query *q)
{
    if (r && q)
        r->cancel(r, q);
}

/* dns_resolver_free - cancel what is in flight and free the backend */
void dns_resolver_free(dns_resolver *r)
{
    if (r)
        r->free(r);
}

/* dns_answer_init - empty answer */
void dns_answer_init(dns_answer *a, const char *name, uint16_t type, dns_status st)
{
    memset(a, 0, sizeof *a);
    a->status = st;
    a->type = type;
    a->name = name;
}

/* dns_answer_add - append one record, copying its text */
void dns_answer_add(dns_answer *a, uint16_t type, uint32_t ttl, uint16_t pref, const char *text, size_t len)
{
    if (a->count >= DNS_MAX_RR)
        return;
    /* grow by doubling from 4: answers are small */
    if ((a->count & (a->count - 1)) == 0 && a->count >= 4)
        a->rr = xrealloc(a->rr, 2 * a->count * sizeof *a->rr);
    else if (a->count == 0)
        a->rr = xmalloc(4 * sizeof *a->rr);
    dns_rr *rr = &a->rr[a->count++];
    rr->type = type;
    rr->ttl = ttl;
    rr->pref = pref;
    rr->text = xmalloc(len + 1);
    memcpy(rr->text, text, len);
    rr->text[len] = '\0';
    rr->len = len;
    if (a->count == 1 || ttl < a->ttl)
        a->ttl = ttl;
}

/* dns_answer_clear - free records and canon */
void dns_answer_clear(dns_answer *a)
{
    for (size_t i = 0; i < a->count; i++)
        free(a->rr[i].text);
    free(a->rr);
    free(a->canon);
    a->rr = NULL;
    a->canon = NULL;
    a->count = 0;
}

/* dns_answer_dup - deep copy, name included (owned by the copy) */
dns_answer *dns_answer_dup(const dns_answer *a)
{
    dns_answer *c = xcalloc(1, sizeof *c);
    char *name = xstrdup(a->name ? a->name : "");
    dns_answer_init(c, name, a->type, a->status);
    for (size_t i = 0; i < a->count; i++)
        dns_answer_add(c, a->rr[i].type, a->rr[i].ttl, a->rr[i].pref, a->rr[i].text, a->rr[i].len);
    c->ttl = a->ttl;
    c->canon = a->canon ? xstrdup(a->canon) : NULL;
    return c;
}

/* dns_answer_free - free a copy made by dns_answer_dup */
void dns_answer_free(dns_answer *a)
{
    if (!a)
        return;
    dns_answer_clear(a);
    free((char *)a->name);
    free(a);
}

/* dns_name_norm - lower case, no trailing dot; rejects empty labels */
int dns_name_norm(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n >= outlen || n > 253)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '.' && (i == 0 || name[i - 1] == '.'))
            return -1;
        out[i] = (char)tolower((unsigned char)name[i]);
    }
    out[n] = '\0';
    return 0;
}

typedef struct dns_sync {
    int done;
    dns_answer *copy;
    dns_status status;
} dns_sync;

/* dns_sync_done - callback of dns_lookup_sync: keep a copy */
static void dns_sync_done(void *arg, const dns_answer *answer)
{
    dns_sync *s = arg;
    s->done = 1;
    s->status = answer->status;
    s->copy = dns_answer_dup(answer);
}

/* dns_lookup_sync - loop on base until the one lookup has answered */
dns_status dns_lookup_sync(struct event_base *base, dns_resolver *r, const char *name, uint16_t type,
                           dns_answer **out)
{
    dns_sync s = {0, NULL, DNS_TEMPFAIL};
    dns_lookup(r, name, type, dns_sync_done, &s);
    while (!s.done)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break; /* error, or nothing pending: cannot happen while the query's timer is */
    if (out)
        *out = s.copy;
    else
        dns_answer_free(s.copy);
    return s.done ? s.status : DNS_TEMPFAIL;
}

static const struct {
    uint16_t type;
    const char *name;
} dns_types[] = {
    {DNS_T_A, "A"},     {DNS_T_NS, "NS"},   {DNS_T_CNAME, "CNAME"}, {DNS_T_SOA, "SOA"},
    {DNS_T_PTR, "PTR"}, {DNS_T_MX, "MX"},   {DNS_T_TXT, "TXT"},     {DNS_T_AAAA, "AAAA"},
    {DNS_T_SPF, "SPF"},
};

/* dns_type_name - mnemonic of a type */
const char *dns_type_name(uint16_t type)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (dns_types[i].type == type)
            return dns_types[i].name;
    return NULL;
}

/* dns_type_parse - type for a mnemonic, case-insensitive */
uint16_t dns_type_parse(const char *s)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (strcasecmp(dns_types[i].name, s) == 0)
            return dns_types[i].type;
    return 0;
}

/* dns_status_name - lower-case name of a status for logs and the CLI */
const char *dns_status_name(dns_status st)
{
    switch (st) {
    case DNS_OK: return "ok";
    case DNS_NODATA: return "nodata";
    case DNS_NXDOMAIN: return "nxdomain";
    case DNS_TEMPFAIL: return "tempfail";
    case DNS_PERMFAIL: return "permfail";
    }
    return "unknown";
}

/* dns_reverse_name - PTR owner name for an IPv4 or IPv6 address */
int dns_reverse_name(const char *ip, char *out, size_t outlen)
{
    unsigned char a[16];
    int n;
    if (inet_pton(AF_INET, ip, a) == 1) {
        n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const char hex[] = "0123456789abcdef";
        if (outlen < 16 * 4 + sizeof "ip6.arpa")
            return -1;
        char *p = out;
        for (int i = 15; i >= 0; i--) {
            *p++ = hex[a[i] & 0xf];
            *p++ = '.';
            *p++ = hex[a[i] >> 4];
            *p++ = '.';
        }
        memcpy(p, "ip6.arpa", sizeof "ip6.arpa");
        return 0;
    } else {
        return -1;
    }
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}
