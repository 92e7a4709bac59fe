/*
 * dns_cache - a small answer cache in front of another resolver (see dns.h).
 *
 * libunbound caches answers too, but each lookup still travels to its
 * worker thread and back through two pipes (writes, fcntl calls, thread
 * wake-ups), and the envelope checks ask the same dozen names for every
 * message of a busy client. Answers are kept here, on the loop thread that
 * asks, so a repeated question costs a table probe and one timer.
 *
 * The table is direct-mapped: (type, normalised name) hashes to one slot
 * and a new answer replaces whatever was there, so memory is bounded by the
 * slot count and there is no eviction bookkeeping. An entry lives for the
 * answer's TTL, at most max_ttl seconds (CLOCK_MONOTONIC); a hit answers
 * with the TTL that remains. TEMPFAIL and PERMFAIL answers and TTL 0 are
 * never kept, so a failing server is asked again each time.
 *
 * Like every resolver it belongs to one loop thread: no locking.
 */
#include "dns/dns_internal.h"

#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cache_entry {
    char *name;          /* normalised; owned; NULL = empty slot */
    uint16_t type;
    time_t expires;      /* CLOCK_MONOTONIC seconds */
    dns_answer *answer;  /* owned copy (dns_answer_dup) */
} cache_entry;

struct dns_query {
    struct dns_query *prev, *next;
    struct cache_res *res;
    struct event *ev;    /* a hit: zero-timeout timer delivering it; owned */
    dns_query *inner;    /* a miss: the inner resolver's query */
    dns_answer *hit;     /* a hit: the copy to deliver; owned */
    char *name;          /* normalised; owned; NULL when the name is malformed (never kept) */
    uint16_t type;
    dns_callback cb;
    void *arg;
};

typedef struct cache_res {
    dns_resolver iface;  /* first: a dns_resolver * is a cache_res * */
    struct event_base *base;
    dns_resolver *inner; /* owned */
    cache_entry *slots;
    size_t nslots;       /* a power of two */
    unsigned max_ttl;
    dns_query *queries;  /* in flight */
} cache_res;

/* cache_now - monotonic seconds */
static time_t cache_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec;
}

/* cache_slot - the slot of (name, type): FNV-1a over the name and the type */
static cache_entry *cache_slot(cache_res *c, const char *name, uint16_t type)
{
    uint32_t h = 2166136261u ^ type;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &c->slots[h & (c->nslots - 1)];
}

/* cache_entry_clear - empty a slot */
static void cache_entry_clear(cache_entry *e)
{
    free(e->name);
    dns_answer_free(e->answer);
    memset(e, 0, sizeof *e);
}

/* cache_store - keep a copy of answer a for (name, type) when it may be kept */
static void cache_store(cache_res *c, const char *name, uint16_t type, const dns_answer *a)
{
    int keep = a->status == DNS_OK || a->status == DNS_NODATA || a->status == DNS_NXDOMAIN;
    if (!keep || a->ttl == 0)
        return;
    cache_entry *e = cache_slot(c, name, type);
    cache_entry_clear(e);
    e->name = xstrdup(name);
    e->type = type;
    e->expires = cache_now() + (time_t)(a->ttl < c->max_ttl ? a->ttl : c->max_ttl);
    e->answer = dns_answer_dup(a);
}

/* cache_find - a copy of the live answer for (name, type) with the TTL that remains; NULL when none */
static dns_answer *cache_find(cache_res *c, const char *name, uint16_t type)
{
    cache_entry *e = cache_slot(c, name, type);
    if (!e->name || e->type != type || strcmp(e->name, name) != 0)
        return NULL;
    time_t left = e->expires - cache_now();
    if (left <= 0) {
        cache_entry_clear(e);
        return NULL;
    }
    dns_answer *a = dns_answer_dup(e->answer);
    a->ttl = (uint32_t)left < a->ttl ? (uint32_t)left : a->ttl;
    for (size_t i = 0; i < a->count; i++)
        if (a->rr[i].ttl > a->ttl)
            a->rr[i].ttl = a->ttl;
    return a;
}

/* cache_unlink_free - take q off the in-flight list and free it */
static void cache_unlink_free(cache_res *c, dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        c->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    if (q->ev)
        event_free(q->ev);
    dns_answer_free(q->hit);
    free(q->name);
    free(q);
}

/* cache_hit_fire - the timer of a hit: deliver the copy */
static void cache_hit_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_query *q = arg;
    dns_callback cb = q->cb;
    void *cbarg = q->arg;
    dns_answer *hit = q->hit;
    q->hit = NULL;
    cache_unlink_free(q->res, q); /* before the callback, as every backend: the handle is dead once cb runs */
    cb(cbarg, hit);
    dns_answer_free(hit);
}

/* cache_inner_done - the inner resolver answered a miss: keep it, pass it on */
static void cache_inner_done(void *arg, const dns_answer *a)
{
    dns_query *q = arg;
    q->inner = NULL;
    if (q->name)
        cache_store(q->res, q->name, q->type, a);
    dns_callback cb = q->cb;
    void *cbarg = q->arg;
    cache_unlink_free(q->res, q);
    cb(cbarg, a);
}

/* cache_lookup - a hit answers on the next loop turn; a miss asks the inner resolver */
static dns_query *cache_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    cache_res *c = (cache_res *)r;
    char norm[DNS_NAME_MAX];
    int ok = dns_name_norm(name, norm, sizeof norm) == 0; /* else the inner resolver reports the bad name */
    dns_query *q = xcalloc(1, sizeof *q);
    q->res = c;
    q->name = ok ? xstrdup(norm) : NULL;
    q->type = type;
    q->cb = cb;
    q->arg = arg;
    q->next = c->queries;
    if (q->next)
        q->next->prev = q;
    c->queries = q;
    if (ok && (q->hit = cache_find(c, norm, type))) {
        free((char *)q->hit->name); /* the answer names what was asked, in the caller's spelling */
        q->hit->name = xstrdup(name);
        q->ev = evtimer_new(c->base, cache_hit_fire, q);
        struct timeval now = {0, 0};
        evtimer_add(q->ev, &now);
    } else {
        q->inner = dns_lookup(c->inner, name, type, cache_inner_done, q);
    }
    return q;
}

/* cache_cancel - forget q (no callback): stop its timer or cancel the inner query */
static void cache_cancel(dns_resolver *r, dns_query *q)
{
    cache_res *c = (cache_res *)r;
    if (q->inner)
        dns_cancel(c->inner, q->inner);
    cache_unlink_free(c, q);
}

/* cache_free - cancel what is in flight, free the table and the inner resolver */
static void cache_free(dns_resolver *r)
{
    cache_res *c = (cache_res *)r;
    while (c->queries)
        cache_cancel(r, c->queries);
    for (size_t i = 0; i < c->nslots; i++)
        cache_entry_clear(&c->slots[i]);
    free(c->slots);
    dns_resolver_free(c->inner);
    free(c);
}

/* dns_cache_new - a caching resolver in front of inner (which it then owns) */
dns_resolver *dns_cache_new(struct event_base *base, dns_resolver *inner, size_t slots, unsigned max_ttl)
{
    size_t n = 1;
    while (n < slots && n < ((size_t)1 << 20))
        n <<= 1;
    cache_res *c = xcalloc(1, sizeof *c);
    c->iface.lookup = cache_lookup;
    c->iface.cancel = cache_cancel;
    c->iface.free = cache_free;
    c->base = base;
    c->inner = inner;
    c->slots = xcalloc(n, sizeof *c->slots);
    c->nslots = n;
    c->max_ttl = max_ttl;
    return &c->iface;
}
