/*
 * dns_static - the in-memory resolver for tests (see dns.h).
 *
 * Records live in a singly linked list (tests hold tens of them, so a
 * linear search is the simplest thing that works). Names are compared after
 * dns_name_norm (case-insensitive, trailing dot ignored). A CNAME at the
 * asked name is followed (up to DNS_STATIC_CNAME_HOPS) unless the CNAME
 * itself is asked for, and the answer's canon names the target.
 *
 * Every query has its own zero-timeout libevent timer, so the callback runs on
 * the next loop turn and never from inside dns_lookup() (dns.h contract);
 * the answer is computed when the timer fires, so records added between
 * lookup and answer are seen. All records answer with TTL DNS_STATIC_TTL.
 */
#include "dns/dns_internal.h"

#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define DNS_STATIC_TTL 300
/* DNS_STATIC_CNAME_HOPS - chain length followed before answering TEMPFAIL (a loop) */
#define DNS_STATIC_CNAME_HOPS 8

typedef struct static_rec {
    struct static_rec *next;
    char *name;     /* normalised; owned */
    uint16_t type;  /* 0 marks a name that times out */
    uint16_t pref;
    char *text;     /* owned, NUL-terminated, len bytes */
    size_t len;
} static_rec;

struct dns_query {
    struct dns_query *prev, *next;
    struct static_res *res;
    struct event *ev;   /* owned */
    char *name;         /* owned copy of what was asked */
    uint16_t type;
    dns_callback cb;
    void *arg;
};

typedef struct static_res {
    dns_resolver iface;  /* first: a dns_resolver * is a static_res * */
    struct event_base *base;
    static_rec *recs;
    dns_query *queries;  /* in flight */
} static_res;

/* static_find - first record of name with type (any type when type is 0xffff) */
static const static_rec *static_find(const static_res *s, const char *name, uint16_t type)
{
    for (const static_rec *r = s->recs; r; r = r->next)
        if (strcmp(r->name, name) == 0 && (type == 0xffff ? r->type != 0 : r->type == type))
            return r;
    return NULL;
}

/* static_timed_out - whether name was marked by dns_static_timeout */
static int static_timed_out(const static_res *s, const char *name)
{
    return static_find(s, name, 0) != NULL;
}

/* static_answer - compute the answer for q into a */
static void static_answer(static_res *s, const dns_query *q, dns_answer *a)
{
    char name[DNS_NAME_MAX];
    dns_answer_init(a, q->name, q->type, DNS_OK);
    if (dns_name_norm(q->name, name, sizeof name) < 0) {
        a->status = DNS_PERMFAIL;
        return;
    }
    for (int hop = 0;; hop++) {
        if (static_timed_out(s, name))
            goto fail;
        const static_rec *cname = static_find(s, name, DNS_T_CNAME);
        if (!cname || q->type == DNS_T_CNAME)
            break;
        /* a loop or junk: a real resolver would SERVFAIL */
        if (hop == DNS_STATIC_CNAME_HOPS || dns_name_norm(cname->text, name, sizeof name) < 0)
            goto fail;
        free(a->canon);
        a->canon = xstrdup(name);
    }
    for (const static_rec *r = s->recs; r; r = r->next)
        if (r->type == q->type && strcmp(r->name, name) == 0)
            dns_answer_add(a, r->type, DNS_STATIC_TTL, r->pref, r->text, r->len);
    if (a->count == 0) {
        a->status = static_find(s, name, 0xffff) ? DNS_NODATA : DNS_NXDOMAIN;
        a->ttl = DNS_STATIC_TTL;
    }
    return;
fail:
    free(a->canon);
    a->canon = NULL;
    a->status = DNS_TEMPFAIL;
}

/* static_unlink - take q off the in-flight list and free it */
static void static_unlink(static_res *s, dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        s->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    event_free(q->ev);
    free(q->name);
    free(q);
}

/* static_fire - the timer: answer, call back, forget the query */
static void static_fire(evutil_socket_t fd, short what, void *arg)
{
    dns_query *q = arg;
    static_res *s = q->res;
    dns_answer a;
    static_answer(s, q, &a);
    dns_callback cb = q->cb;
    void *cbarg = q->arg;
    /* unlinked before the callback: the handle is dead once cb runs, and cb may start new lookups */
    char *name = q->name;
    q->name = NULL;
    static_unlink(s, q);
    a.name = name;
    cb(cbarg, &a);
    dns_answer_clear(&a);
    free(name);
}

/* static_lookup - queue a query answered on the next loop turn */
static dns_query *static_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    static_res *s = (static_res *)r;
    dns_query *q = xcalloc(1, sizeof *q);
    q->res = s;
    q->name = xstrdup(name);
    q->type = type;
    q->cb = cb;
    q->arg = arg;
    q->ev = evtimer_new(s->base, static_fire, q);
    if (!q->ev) {
        abort();  /* libevent only fails here on out of memory */
    }
    q->next = s->queries;
    if (q->next)
        q->next->prev = q;
    s->queries = q;
    struct timeval now = {0, 0};
    evtimer_add(q->ev, &now);
    return q;
}

/* static_cancel - drop a query before its timer fired */
static void static_cancel(dns_resolver *r, dns_query *q)
{
    static_unlink((static_res *)r, q);
}

/* static_free - free records and queries in flight (without callbacks) */
static void static_free(dns_resolver *r)
{
    static_res *s = (static_res *)r;
    while (s->queries)
        static_unlink(s, s->queries);
    while (s->recs) {
        static_rec *n = s->recs->next;
        free(s->recs->name);
        free(s->recs->text);
        free(s->recs);
        s->recs = n;
    }
    free(s);
}

/* dns_static_new - empty in-memory resolver on base */
dns_resolver *dns_static_new(struct event_base *base)
{
    static_res *s = xcalloc(1, sizeof *s);
    s->iface.lookup = static_lookup;
    s->iface.cancel = static_cancel;
    s->iface.free = static_free;
    s->base = base;
    return &s->iface;
}

/* static_push - add a record (type 0 = timeout marker); bad names are ignored */
static void static_push(static_res *s, const char *name, uint16_t type, uint16_t pref, const char *text, size_t len)
{
    char norm[DNS_NAME_MAX];
    if (dns_name_norm(name, norm, sizeof norm) < 0)
        return;
    static_rec *rec = xcalloc(1, sizeof *rec);
    rec->name = xstrdup(norm);
    rec->type = type;
    rec->pref = pref;
    rec->text = xmalloc(len + 1);
    memcpy(rec->text, text, len);
    rec->text[len] = '\0';
    rec->len = len;
    /* appended at the tail so answers keep the order records were added in */
    static_rec **p = &s->recs;
    while (*p)
        p = &(*p)->next;
    *p = rec;
}

/* dns_static_add - add one record; names are stored normalised (MX/CNAME/PTR targets too) */
void dns_static_add(dns_resolver *r, const char *name, uint16_t type, uint16_t pref, const char *text, size_t len)
{
    char target[DNS_NAME_MAX];
    if (type == DNS_T_MX || type == DNS_T_CNAME || type == DNS_T_PTR || type == DNS_T_NS) {
        /* "" and "." are the root (null MX); anything else is normalised like an answer from the wire */
        if (len == 0 || (len == 1 && text[0] == '.'))
            len = 0;
        else if (len < sizeof target && memchr(text, '\0', len) == NULL) {
            memcpy(target, text, len);
            target[len] = '\0';
            if (dns_name_norm(target, target, sizeof target) == 0) {
                text = target;
                len = strlen(target);
            }
        }
    }
    static_push((static_res *)r, name, type, pref, text, len);
}

/* dns_static_timeout - every lookup of name answers DNS_TEMPFAIL */
void dns_static_timeout(dns_resolver *r, const char *name)
{
    static_push((static_res *)r, name, 0, 0, "", 0);
}
