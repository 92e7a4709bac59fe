/*
 * dns_unbound - the real resolver: libunbound driven by the libevent loop.
 *
 * libunbound resolves on its own background thread (ub_ctx_async(ctx, 1))
 * and hands results back through a pipe; we watch that pipe's fd with a
 * persistent EV_READ event that calls ub_process(), so every callback runs
 * on the loop thread. (ub_ctx_async(ctx, 0) would fork() a resolver
 * process instead: unsafe in a daemon that already runs worker threads,
 * and the child's exit trips LeakSanitizer; the thread is the safe choice.)
 *
 * Unbound caches answers for their TTLs, negative answers too: that is our
 * DNS cache, there is no other one.
 *
 * With a server "ADDR:PORT" every query is forwarded there (tests: NSD on
 * loopback), localhost may be queried, there is no DNSSEC trust anchor (the
 * test zones are unsigned), and unbound's built-in local zones for test.
 * and 127.in-addr.arpa. are made transparent so those names reach the server.
 * With NULL, /etc/resolv.conf and /etc/hosts are used.
 *
 * Each query has a deadline (DNS_DEFAULT_TIMEOUT_MS, dns_unbound_set_timeout):
 * unbound may keep retrying an unresponsive server for minutes, so at the
 * deadline we ub_cancel() it and answer DNS_TEMPFAIL. A query stays in our
 * list until unbound is done with it, so unbound never calls back into
 * freed memory; dns_resolver_free() drops everything without callbacks.
 */
#include "dns/dns_internal.h"
#include "dns/dns_rdata.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

struct dns_query {
    struct dns_query *prev, *next;
    struct ub_res *res;
    struct event *timer;  /* owned: deadline, or "answer now" when not started */
    char *name;           /* owned copy of what was asked */
    uint16_t type;
    dns_callback cb;      /* NULL once the caller is answered or cancelled */
    void *arg;
    int async_id;
    int started;          /* unbound accepted the query and may call back */
    dns_status early;     /* answer of a query unbound refused to start */
};

typedef struct ub_res {
    dns_resolver iface;   /* first: a dns_resolver * is a ub_res * */
    struct event_base *base;
    struct ub_ctx *ctx;
    struct event *ev;     /* EV_READ|EV_PERSIST on ub_fd() */
    unsigned timeout_ms;
    dns_query *queries;   /* started or pending, including cancelled ones unbound still holds */
} ub_res;

/* ub_unlink - take q off the list and free it */
static void ub_unlink(ub_res *u, dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        u->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    event_free(q->timer);
    free(q->name);
    free(q);
}

/* ub_fill_records - decode every RDATA; -1 when one is malformed */
static int ub_fill_records(dns_answer *a, const struct ub_result *r, uint32_t ttl)
{
    buf text;
    buf_init(&text, DNS_RDATA_MAX);
    for (int i = 0; r->data[i]; i++) {
        uint16_t pref;
        buf_reset(&text);
        if (r->len[i] < 0 || dns_rdata_parse((uint16_t)r->qtype, (const unsigned char *)r->data[i],
                                             (size_t)r->len[i], &text, &pref) < 0) {
            buf_free(&text);
            return -1;
        }
        dns_answer_add(a, (uint16_t)r->qtype, ttl, pref, text.data ? text.data : "", text.len);
    }
    buf_free(&text);
    return 0;
}

/* ub_fill - map a libunbound result onto a dns_answer */
static void ub_fill(dns_answer *a, int err, const struct ub_result *r)
{
    if (err != 0 || !r) {
        a->status = DNS_TEMPFAIL;
        return;
    }
    uint32_t ttl = r->ttl > 0 ? (uint32_t)r->ttl : 0;
    a->ttl = ttl;
    if (r->bogus) {
        /* DNSSEC says the data is forged or broken: retrying will not fix it */
        a->status = DNS_PERMFAIL;
        return;
    }
    char canon[DNS_NAME_MAX], asked[DNS_NAME_MAX];
    if (r->canonname && dns_name_norm(r->canonname, canon, sizeof canon) == 0 &&
        (dns_name_norm(a->name, asked, sizeof asked) < 0 || strcmp(canon, asked) != 0))
        a->canon = xstrdup(canon);
    switch (r->rcode) {
    case 0:
        break;
    case 3:
        a->status = DNS_NXDOMAIN;
        return;
    default:
        /* SERVFAIL, REFUSED, FORMERR...: the server (or our path to it) is
         * broken, not the name; the sender may retry later, so TEMPFAIL */
        a->status = DNS_TEMPFAIL;
        return;
    }
    if (!r->havedata) {
        a->status = DNS_NODATA;
        return;
    }
    if (ub_fill_records(a, r, ttl) < 0) {
        /* a malformed answer is a server problem too: TEMPFAIL, never "no record" */
        dns_answer_clear(a);
        a->status = DNS_TEMPFAIL;
        return;
    }
    a->status = a->count ? DNS_OK : DNS_NODATA;
}

/* ub_deliver - answer the caller once and forget the query when unbound is done with it */
static void ub_deliver(ub_res *u, dns_query *q, int err, const struct ub_result *r, int unbound_done)
{
    dns_answer a;
    dns_answer_init(&a, q->name, q->type, DNS_OK);
    if (r || err)
        ub_fill(&a, err, r);
    else
        a.status = q->started ? DNS_TEMPFAIL : q->early;
    dns_callback cb = q->cb;
    void *cbarg = q->arg;
    char *name = q->name;
    q->name = NULL;
    q->cb = NULL;
    if (unbound_done)
        ub_unlink(u, q);  /* the handle dies before cb runs: cb may start new lookups */
    a.name = name;
    if (a.status == DNS_TEMPFAIL || a.status == DNS_PERMFAIL)
        log_debug("-", "event=dns_fail name=%s type=%u status=%s", name, a.type,
                  dns_status_name(a.status));
    cb(cbarg, &a);
    dns_answer_clear(&a);
    free(name);
}

/* ub_done - libunbound's callback, from inside ub_process() on the loop */
static void ub_done(void *mydata, int err, struct ub_result *result)
{
    dns_query *q = mydata;
    ub_res *u = q->res;
    if (!q->cb) {
        ub_unlink(u, q);  /* answered by its deadline or cancelled already */
    } else {
        evtimer_del(q->timer);
        ub_deliver(u, q, err, result, 1);
    }
    ub_resolve_free(result);
}

/* ub_forget - stop q in unbound; free it unless unbound still holds it */
static void ub_forget(ub_res *u, dns_query *q)
{
    q->cb = NULL;
    evtimer_del(q->timer);
    if (!q->started || ub_cancel(u->ctx, q->async_id) == 0)
        ub_unlink(u, q);
    /* else unbound has it and will call ub_done, which frees it */
}

/* ub_deadline - the timer: the deadline passed, or a query that never started */
static void ub_deadline(evutil_socket_t fd, short what, void *arg)
{
    dns_query *q = arg;
    ub_res *u = q->res;
    if (q->started) {
        log_info("-", "event=dns_timeout name=%s type=%u ms=%u", q->name, q->type, u->timeout_ms);
        int still_held = ub_cancel(u->ctx, q->async_id) != 0;
        ub_deliver(u, q, 0, NULL, !still_held);
    } else {
        ub_deliver(u, q, 0, NULL, 1);
    }
}

/* ub_readable - unbound's pipe has results: run their callbacks */
static void ub_readable(evutil_socket_t fd, short what, void *arg)
{
    ub_res *u = arg;
    int rc = ub_process(u->ctx);
    if (rc != 0)
        log_warn("-", "event=dns_process_error error=\"%s\"", ub_strerror(rc));
}

/* ub_lookup - hand the query to unbound and arm its deadline */
static dns_query *ub_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    ub_res *u = (ub_res *)r;
    dns_query *q = xcalloc(1, sizeof *q);
    q->res = u;
    q->name = xstrdup(name);
    q->type = type;
    q->cb = cb;
    q->arg = arg;
    q->timer = evtimer_new(u->base, ub_deadline, q);
    if (!q->timer)
        abort();  /* libevent fails here only when out of memory */
    q->next = u->queries;
    if (q->next)
        q->next->prev = q;
    u->queries = q;

    char norm[DNS_NAME_MAX];
    struct timeval tv = {0, 0};
    int rc = UB_SYNTAX;
    if (dns_name_norm(name, norm, sizeof norm) == 0)
        rc = ub_resolve_async(u->ctx, norm, type, 1 /* IN */, q, ub_done, &q->async_id);
    if (rc == 0) {
        q->started = 1;
        tv.tv_sec = u->timeout_ms / 1000;
        tv.tv_usec = (long)(u->timeout_ms % 1000) * 1000;
    } else {
        /* a name that cannot be asked will never resolve; anything else is our trouble */
        q->early = rc == UB_SYNTAX ? DNS_PERMFAIL : DNS_TEMPFAIL;
    }
    evtimer_add(q->timer, &tv);  /* the answer comes later even when unbound refused at once */
    return q;
}

/* ub_cancel_query - dns_cancel for this backend */
static void ub_cancel_query(dns_resolver *r, dns_query *q)
{
    ub_forget((ub_res *)r, q);
}

/* ub_free - drop every query without callbacks, then the context */
static void ub_free(dns_resolver *r)
{
    ub_res *u = (ub_res *)r;
    if (u->ev)
        event_free(u->ev);
    if (u->ctx)
        ub_ctx_delete(u->ctx);  /* joins unbound's thread; it calls nothing of ours after this */
    while (u->queries)
        ub_unlink(u, u->queries);
    free(u);
}

/* ub_forwarder - "ADDR:PORT", "[V6]:PORT", "ADDR" or "V6" -> unbound's "ADDR@PORT"; -1 when malformed */
static int ub_forwarder(const char *server, char *out, size_t outlen)
{
    const char *host = server, *port = NULL;
    size_t hlen = strlen(server);
    const char *colon = strrchr(server, ':');
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        if (!close || (close[1] != '\0' && close[1] != ':'))
            return -1;
        host = server + 1;
        hlen = (size_t)(close - host);
        port = close[1] == ':' ? close + 2 : NULL;
    } else if (colon && strchr(server, ':') == colon) {
        hlen = (size_t)(colon - server);  /* one colon: IPv4 or name with a port */
        port = colon + 1;
    }
    if (hlen == 0)
        return -1;
    if (port) {
        char *end;
        unsigned long p = strtoul(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p == 0 || p > 65535)
            return -1;
        int n = snprintf(out, outlen, "%.*s@%lu", (int)hlen, host, p);
        return n > 0 && (size_t)n < outlen ? 0 : -1;
    }
    int n = snprintf(out, outlen, "%.*s", (int)hlen, host);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ub_configure - forwarding or system resolver settings; -1 with err set */
static int ub_configure(struct ub_ctx *ctx, const char *server, char *err, size_t errlen)
{
    int rc;
    if (server) {
        char fwd[300];
        if (ub_forwarder(server, fwd, sizeof fwd) < 0) {
            snprintf(err, errlen, "bad DNS server '%s' (want ADDR:PORT)", server);
            return -1;
        }
        /* the test server lives on loopback, and serves names unbound would
         * otherwise answer itself (RFC 6761 zones). "nodefault" is ignored
         * when set through ub_ctx_set_option (libunbound 1.17), "transparent"
         * works: with no local data the query goes to the forwarder. */
        if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
            (rc = ub_ctx_set_option(ctx, "local-zone:", "test. transparent")) != 0 ||
            (rc = ub_ctx_set_option(ctx, "local-zone:", "127.in-addr.arpa. transparent")) != 0 ||
            (rc = ub_ctx_set_fwd(ctx, fwd)) != 0) {
            snprintf(err, errlen, "DNS server '%s': %s", server, ub_strerror(rc));
            return -1;
        }
    } else if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0 || (rc = ub_ctx_hosts(ctx, NULL)) != 0) {
        snprintf(err, errlen, "system resolver: %s", ub_strerror(rc));
        return -1;
    }
    if ((rc = ub_ctx_async(ctx, 1)) != 0) {
        snprintf(err, errlen, "unbound async: %s", ub_strerror(rc));
        return -1;
    }
    return 0;
}

/* dns_unbound_new - libunbound resolver on base (see the file header) */
dns_resolver *dns_unbound_new(struct event_base *base, const char *server, char *err, size_t errlen)
{
    ub_res *u = xcalloc(1, sizeof *u);
    u->iface.lookup = ub_lookup;
    u->iface.cancel = ub_cancel_query;
    u->iface.free = ub_free;
    u->base = base;
    u->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    u->ctx = ub_ctx_create();
    if (!u->ctx) {
        snprintf(err, errlen, "cannot create the unbound context");
        goto fail;
    }
    if (ub_configure(u->ctx, server, err, errlen) < 0)
        goto fail;
    u->ev = event_new(base, ub_fd(u->ctx), EV_READ | EV_PERSIST, ub_readable, u);
    if (!u->ev || event_add(u->ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch the unbound fd");
        goto fail;
    }
    return &u->iface;
fail:
    ub_free(&u->iface);
    return NULL;
}

/* dns_unbound_set_timeout - per-query deadline; only for resolvers made by dns_unbound_new */
void dns_unbound_set_timeout(dns_resolver *r, unsigned ms)
{
    if (r && r->lookup == ub_lookup)
        ((ub_res *)r)->timeout_ms = ms ? ms : 1;
}
