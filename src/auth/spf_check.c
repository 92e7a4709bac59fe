/*
 * spf_check - the asynchronous check_host() of RFC 7208 (sections 4, 5, 6)
 * on the dns_resolver interface. See spf.h for the API.
 *
 * A check is a state machine driven by DNS answers. It keeps a stack of
 * frames, one per check_host() in progress (the top-level domain, then one
 * per include:); redirect= replaces the current frame's domain and record
 * in place, so the redirected result becomes that frame's result (6.1).
 * One DNS query is in flight at a time (c->q, c->op says what it is for);
 * every answer handler decides a mechanism (match / no match), starts the
 * next query, or ends the whole check: temperror and permerror always end
 * it, because include and redirect pass both straight up (5.2, 6.1).
 *
 * The PTR names of the client that validate (reverse lookup, then forward
 * lookup of at most SPF_MAX_NAMES names) are computed once per check and
 * shared by the ptr mechanism (5.5) and the %{p} macro (7.3). exp= is
 * looked up only after the final result is fail, and only the exp= of the
 * record that produced that fail counts (6.2); its lookup is not counted
 * against any limit.
 *
 * Limits (4.6.4): SPF_MAX_DNS_TERMS terms that query DNS, SPF_MAX_VOID void
 * lookups, more than SPF_MAX_NAMES MX hosts is a permerror, PTR names past
 * SPF_MAX_NAMES are ignored; the whole check has a deadline.
 */
#include "auth/spf.h"
#include "auth/spf_check_int.h"

#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* spf_check_vars - the macro values for the current <domain> (7.3) */
void spf_check_vars(spf_check *c, const char *domain, spf_macro_vars *v)
{
    v->sender = c->res->sender;
    v->local = c->local;
    v->odomain = c->res->domain;
    v->domain = domain;
    v->ip_i = c->ip_i;
    v->ip_c = c->ip_c;
    v->ip_v = c->v6 ? "ip6" : "in-addr";
    v->helo = c->res->helo;
    v->receiver = c->res->receiver;
    v->now = (long long)time(NULL);
    v->ptr = c->ptr_state == SPF_PTR_DONE ? spf_ptr_pick(c, domain) : NULL;
}

/* spf_finish - end the check with the result in c->res; done() runs from the timer */
void spf_finish(spf_check *c)
{
    static const struct timeval now = {0, 0};
    if (c->finished)
        return;
    c->finished = 1;
    if (c->q) {
        dns_cancel(c->r, c->q);
        c->q = NULL;
    }
    c->res->dns_terms = c->dns_terms;
    c->res->void_lookups = c->voids;
    evtimer_del(c->timer);
    evtimer_add(c->timer, &now);
}

/* spf_error - end the check with temperror or permerror and a problem text */
void spf_error(spf_check *c, spf_result_code code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?'; /* names come from the peer's DNS: keep the problem one printable line */
    c->res->code = code;
    free(c->res->problem);
    c->res->problem = xstrdup(text);
    spf_finish(c);
}

/* spf_lookup - start the one query of the check */
void spf_lookup(spf_check *c, spf_op op, const char *name, uint16_t type)
{
    c->op = op;
    c->q = dns_lookup(c->r, name, type, spf_dns_cb, c);
}

/* spf_void - count a void lookup (4.6.4); 0, or -1 after ending the check with permerror */
int spf_void(spf_check *c)
{
    if (++c->voids > SPF_MAX_VOID) {
        spf_error(c, SPF_PERMERROR, "more than %d void DNS lookups", SPF_MAX_VOID);
        return -1;
    }
    return 0;
}

/* spf_addr_match - whether address text (A or AAAA presentation) is in the client's network of length bits */
int spf_addr_match(const spf_check *c, const char *text, int cidr4, int cidr6)
{
    unsigned char a[16];
    if (inet_pton(c->v6 ? AF_INET6 : AF_INET, text, a) != 1)
        return 0;
    return spf_prefix_eq(a, c->ip, c->v6 ? cidr6 : cidr4);
}

/* spf_prefix_eq - first bits bits of a and b are equal */
int spf_prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* spf_frame_push - a new check_host() for domain (the top, or an include) */
static void spf_frame_push(spf_check *c, const char *domain)
{
    spf_frame *f = &c->frames[c->depth++];
    memset(f, 0, sizeof *f);
    f->domain = xstrdup(domain);
}

/* spf_frame_pop - drop the top frame */
static void spf_frame_pop(spf_check *c)
{
    spf_frame *f = &c->frames[--c->depth];
    free(f->domain);
    spf_record_free(f->rec);
    memset(f, 0, sizeof *f);
}

/* spf_qual_result - the result a matching directive gives (4.6.2) */
static spf_result_code spf_qual_result(char q)
{
    switch (q) {
    case '-': return SPF_FAIL;
    case '~': return SPF_SOFTFAIL;
    case '?': return SPF_NEUTRAL;
    default: return SPF_PASS;
    }
}

/* spf_term_done - the current term of the top frame matched or not */
void spf_term_done(spf_check *c, int match)
{
    spf_frame *f = &c->frames[c->depth - 1];
    const spf_term *t = &f->rec->terms[f->term];
    if (match) {
        spf_frame_done(c, spf_qual_result(t->qualifier), t->text);
        return;
    }
    f->term++;
    f->counted = 0;
}

/* spf_frame_done - the top frame's check_host() returned code (mech: what matched) */
void spf_frame_done(spf_check *c, spf_result_code code, const char *mech)
{
    if (c->depth == 1) {
        spf_frame *f = &c->frames[0];
        c->res->code = code;
        c->res->mechanism = mech ? xstrdup(mech) : NULL;
        if (code == SPF_FAIL && f->rec && f->rec->exp)
            spf_exp_start(c);
        else
            spf_finish(c);
        return;
    }
    spf_frame_pop(c); /* an include: its result decides the parent's include term (5.2) */
    if (code == SPF_NONE) {
        spf_error(c, SPF_PERMERROR, "include target %s has no SPF record", c->frames[c->depth].domain);
        return;
    }
    spf_term_done(c, code == SPF_PASS);
}

/* spf_record_answer - TXT records of the top frame's domain: select, parse (4.4, 4.5) */
static void spf_record_answer(spf_check *c, const dns_answer *a)
{
    spf_frame *f = &c->frames[c->depth - 1];
    if (a->status == DNS_TEMPFAIL || a->status == DNS_PERMFAIL) {
        spf_error(c, SPF_TEMPERROR, "DNS error looking up the SPF record of %s", f->domain);
        return;
    }
    const dns_rr *found = NULL;
    size_t n = 0;
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        if (a->rr[i].type == DNS_T_TXT && spf_record_is_spf(a->rr[i].text, a->rr[i].len)) {
            found = &a->rr[i];
            n++;
        }
    if (n == 0) {
        if (c->depth == 1 && !f->redirected)
            spf_frame_done(c, SPF_NONE, NULL);
        else
            spf_error(c, SPF_PERMERROR, "no SPF record at %s", f->domain);
        return;
    }
    if (n > 1) {
        spf_error(c, SPF_PERMERROR, "more than one SPF record at %s", f->domain);
        return;
    }
    char err[160];
    if (spf_record_parse(found->text, found->len, &f->rec, err, sizeof err) < 0) {
        spf_error(c, SPF_PERMERROR, "%s", err);
        return;
    }
    spf_run(c);
}

/* spf_count_term - count a DNS-querying term once (4.6.4); 0 or -1 after permerror */
static int spf_count_term(spf_check *c, spf_frame *f)
{
    if (f->counted)
        return 0;
    f->counted = 1;
    if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
        spf_error(c, SPF_PERMERROR, "more than %d DNS-querying terms", SPF_MAX_DNS_TERMS);
        return -1;
    }
    return 0;
}

/*
 * spf_target - the query name of spec (NULL = the frame's domain) into out:
 * SPF_GO, SPF_PENDING when %{p} must be resolved first, SPF_NONAME when it
 * cannot be a DNS name (treated as a name that does not exist).
 */
static int spf_target(spf_check *c, const spf_frame *f, const char *spec, char *out, size_t outlen)
{
    if (!spec) {
        snprintf(out, outlen, "%s", f->domain);
        return SPF_GO;
    }
    if (c->ptr_state != SPF_PTR_DONE && spf_macro_uses_p(spec, strlen(spec))) {
        spf_ptr_start(c);
        return SPF_PENDING;
    }
    spf_macro_vars v;
    spf_check_vars(c, f->domain, &v);
    return spf_target_name(spec, &v, out, outlen) == 0 ? SPF_GO : SPF_NONAME;
}

/* spf_eval_dns_term - a, mx, ptr, exists, include: SPF_MATCH, SPF_NOMATCH, SPF_PENDING or SPF_STOP */
static int spf_eval_dns_term(spf_check *c, spf_frame *f, const spf_term *t)
{
    char name[SPF_MAX_NAME + 2];
    if (spf_count_term(c, f) < 0)
        return SPF_STOP;
    if (t->type == SPF_M_PTR && c->ptr_state != SPF_PTR_DONE) {
        spf_ptr_start(c);
        return SPF_PENDING;
    }
    int tr = spf_target(c, f, t->spec, name, sizeof name);
    if (tr == SPF_PENDING)
        return SPF_PENDING;
    if (t->type == SPF_M_PTR)
        return spf_ptr_match(c, tr == SPF_GO ? name : NULL);
    if (tr == SPF_NONAME) {
        if (t->type == SPF_M_INCLUDE) {
            spf_error(c, SPF_PERMERROR, "include target of %s is not a domain name", t->text);
            return SPF_STOP;
        }
        return spf_void(c) < 0 ? SPF_STOP : SPF_NOMATCH;
    }
    switch (t->type) {
    case SPF_M_INCLUDE:
        if (c->depth == SPF_MAX_DEPTH) { /* cannot happen within the term limit; keep the invariant */
            spf_error(c, SPF_PERMERROR, "includes nested too deep at %s", t->text);
            return SPF_STOP;
        }
        spf_frame_push(c, name);
        return SPF_PUSHED;
    case SPF_M_A:
        spf_lookup(c, SPF_OP_ADDR, name, c->v6 ? DNS_T_AAAA : DNS_T_A);
        return SPF_PENDING;
    case SPF_M_MX:
        spf_lookup(c, SPF_OP_MX, name, DNS_T_MX);
        return SPF_PENDING;
    default: /* exists: always an A lookup, whatever the client's family (5.7) */
        spf_lookup(c, SPF_OP_EXISTS, name, DNS_T_A);
        return SPF_PENDING;
    }
}

/* spf_eval_term - one directive of the top frame */
static int spf_eval_term(spf_check *c, spf_frame *f, const spf_term *t)
{
    switch (t->type) {
    case SPF_M_ALL:
        return SPF_MATCH;
    case SPF_M_IP4: /* an IPv4-mapped client was turned into IPv4 at the start (5) */
        return !c->v6 && spf_prefix_eq(t->net, c->ip, t->cidr4) ? SPF_MATCH : SPF_NOMATCH;
    case SPF_M_IP6:
        return c->v6 && spf_prefix_eq(t->net, c->ip, t->cidr6) ? SPF_MATCH : SPF_NOMATCH;
    default:
        return spf_eval_dns_term(c, f, t);
    }
}

/* spf_redirect - no directive matched and the record has redirect= (6.1) */
static int spf_redirect(spf_check *c, spf_frame *f)
{
    char name[SPF_MAX_NAME + 2];
    if (spf_count_term(c, f) < 0)
        return SPF_STOP;
    int tr = spf_target(c, f, f->rec->redirect, name, sizeof name);
    if (tr == SPF_PENDING)
        return SPF_PENDING;
    if (tr == SPF_NONAME) {
        spf_error(c, SPF_PERMERROR, "redirect target %s is not a domain name", f->rec->redirect);
        return SPF_STOP;
    }
    spf_record_free(f->rec);
    f->rec = NULL;
    free(f->domain);
    f->domain = xstrdup(name);
    f->term = 0;
    f->counted = 0;
    f->redirected = 1;
    return SPF_PUSHED;
}

/* spf_run - evaluate until a query is in flight or the check has ended */
void spf_run(spf_check *c)
{
    while (!c->finished && !c->q) {
        spf_frame *f = &c->frames[c->depth - 1];
        if (!f->rec) {
            spf_lookup(c, SPF_OP_RECORD, f->domain, DNS_T_TXT);
            return;
        }
        int rc;
        if (f->term < f->rec->nterms)
            rc = spf_eval_term(c, f, &f->rec->terms[f->term]);
        else if (f->rec->redirect)
            rc = spf_redirect(c, f);
        else {
            spf_frame_done(c, SPF_NEUTRAL, "default"); /* 4.7: no match, no redirect */
            continue;
        }
        if (rc == SPF_MATCH || rc == SPF_NOMATCH)
            spf_term_done(c, rc == SPF_MATCH);
        else if (rc == SPF_STOP)
            return;
        /* SPF_PENDING with no query (the PTR names were settled at once) re-runs the term */
    }
}

/* spf_addr_answer - A/AAAA of an "a" mechanism (5.3) */
static void spf_addr_answer(spf_check *c, const dns_answer *a)
{
    const spf_frame *f = &c->frames[c->depth - 1];
    const spf_term *t = &f->rec->terms[f->term];
    if (a->status == DNS_TEMPFAIL || a->status == DNS_PERMFAIL) {
        spf_error(c, SPF_TEMPERROR, "DNS error looking up %s", a->name);
        return;
    }
    int match = 0;
    if (a->status != DNS_OK || a->count == 0) {
        if (spf_void(c) < 0)
            return;
    }
    for (size_t i = 0; a->status == DNS_OK && i < a->count && !match; i++)
        match = spf_addr_match(c, a->rr[i].text, t->cidr4, t->cidr6);
    spf_term_done(c, match);
    spf_run(c);
}

/* spf_exists_answer - any A record makes "exists" match (5.7) */
static void spf_exists_answer(spf_check *c, const dns_answer *a)
{
    if (a->status == DNS_TEMPFAIL || a->status == DNS_PERMFAIL) {
        spf_error(c, SPF_TEMPERROR, "DNS error looking up %s", a->name);
        return;
    }
    int match = a->status == DNS_OK && a->count > 0;
    if (!match && spf_void(c) < 0)
        return;
    spf_term_done(c, match);
    spf_run(c);
}

/* spf_dns_cb - every answer of the check comes here */
void spf_dns_cb(void *arg, const dns_answer *a)
{
    spf_check *c = arg;
    c->q = NULL;
    switch (c->op) {
    case SPF_OP_RECORD: spf_record_answer(c, a); break;
    case SPF_OP_ADDR: spf_addr_answer(c, a); break;
    case SPF_OP_EXISTS: spf_exists_answer(c, a); break;
    case SPF_OP_MX: spf_mx_answer(c, a); break;
    case SPF_OP_MX_ADDR: spf_mx_addr_answer(c, a); break;
    case SPF_OP_PTR: spf_ptr_answer(c, a); break;
    case SPF_OP_PTR_ADDR: spf_ptr_addr_answer(c, a); break;
    case SPF_OP_EXP: spf_exp_answer(c, a); break;
    }
}

/* spf_continue - resume after the PTR names were validated for %{p} or ptr */
void spf_continue(spf_check *c)
{
    if (c->in_exp)
        spf_exp_step(c);
    else
        spf_run(c);
}

/* spf_deliver - the timer: hand the result over (or time the check out) and free the check */
static void spf_deliver(evutil_socket_t fd, short what, void *arg)
{
    spf_check *c = arg;
    if (!c->finished) {
        spf_error(c, SPF_TEMPERROR, "SPF check timed out");
        /* spf_finish re-armed the timer with no delay; deliver now instead */
    }
    spf_result *res = c->res;
    spf_done_fn done = c->done;
    void *darg = c->arg;
    c->res = NULL;
    spf_check_free(c);
    done(darg, res);
}

/* spf_parse_ip - client address into c (IPv4-mapped IPv6 becomes IPv4, 5) and its macro forms */
static int spf_parse_ip(spf_check *c, const char *ip)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1) {
        c->v6 = 0;
        memcpy(c->ip, a, 4);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        c->v6 = memcmp(a, mapped, 12) != 0;
        memcpy(c->ip, c->v6 ? a : a + 12, c->v6 ? 16 : 4);
    } else {
        return -1;
    }
    inet_ntop(c->v6 ? AF_INET6 : AF_INET, c->ip, c->ip_c, sizeof c->ip_c);
    if (c->v6)
        spf_ip_nibbles(c->ip, c->ip_i, sizeof c->ip_i);
    else
        snprintf(c->ip_i, sizeof c->ip_i, "%s", c->ip_c);
    return 0;
}

/* spf_identity_setup - <sender>, local-part and <domain> from the request (2.3, 2.4, 4.3) */
static void spf_identity_setup(spf_check *c, const spf_request *req)
{
    spf_result *res = c->res;
    const char *from = req->mail_from ? req->mail_from : "";
    if (req->identity == SPF_ID_HELO || from[0] == '\0') {
        c->local = xstrdup("postmaster");
        res->domain = xstrdup(res->helo);
    } else {
        const char *at = strrchr(from, '@');
        /* 4.3: no local-part means "postmaster"; no "@" at all is taken as a bare domain */
        c->local = at && at > from ? xstrndup(from, (size_t)(at - from)) : xstrdup("postmaster");
        res->domain = xstrdup(at ? at + 1 : from);
    }
    size_t dl = strlen(res->domain);
    if (dl > 0 && res->domain[dl - 1] == '.')
        res->domain[dl - 1] = '\0'; /* a trailing dot names the same domain */
    res->sender = xasprintf("%s@%s", c->local, res->domain);
}

/* spf_check_start - set up the check and start its first lookup */
spf_check *spf_check_start(dns_resolver *r, const spf_request *req, spf_done_fn done, void *arg)
{
    if (!req->base)
        return NULL;
    spf_check *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->done = done;
    c->arg = arg;
    c->timer = evtimer_new(req->base, spf_deliver, c);
    if (!c->timer)
        abort(); /* libevent fails here only when out of memory */
    struct timeval tv = {0, 0};
    unsigned ms = req->timeout_ms ? req->timeout_ms : SPF_DEFAULT_TIMEOUT_MS;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (long)(ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    spf_result *res = c->res = xcalloc(1, sizeof *res);
    res->identity = req->identity;
    res->helo = xstrdup(req->helo ? req->helo : "");
    res->mail_from = xstrdup(req->mail_from ? req->mail_from : "");
    res->receiver = xstrdup(req->receiver ? req->receiver : "unknown");
    res->ip = xstrdup(req->ip ? req->ip : "");
    spf_identity_setup(c, req);
    if (!req->ip || spf_parse_ip(c, req->ip) < 0) {
        spf_error(c, SPF_PERMERROR, "client address '%s' is not an IP address", req->ip ? req->ip : "");
        return c;
    }
    free(res->ip);
    res->ip = xstrdup(c->ip_c);
    if (!spf_domain_ok(res->domain, strlen(res->domain))) {
        res->code = SPF_NONE; /* 4.3: a malformed or single-label domain gives none */
        spf_finish(c);
        return c;
    }
    spf_frame_push(c, res->domain);
    spf_run(c);
    return c;
}

/* spf_check_free - release everything of c but the result */
void spf_check_free(spf_check *c)
{
    if (c->q)
        dns_cancel(c->r, c->q);
    while (c->depth > 0)
        spf_frame_pop(c);
    event_free(c->timer);
    spf_names_clear(&c->names, &c->nnames);
    spf_names_clear(&c->valid, &c->nvalid);
    free(c->exp_text);
    free(c->local);
    spf_result_free(c->res);
    free(c);
}

/* spf_check_cancel - stop c without calling back */
void spf_check_cancel(spf_check *c)
{
    if (c)
        spf_check_free(c);
}
