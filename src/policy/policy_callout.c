/*
 * policy_callout - the sender_verify check: sender address verification
 * by callout. Asks the sender domain's best MX, with a null-sender session
 * that stops after RCPT (EHLO, MAIL FROM:<>, RCPT TO:<sender>, QUIT; never
 * DATA), whether the sender address exists.
 *
 *   RCPT 2xx           -> exists: remembered callout_positive_ttl
 *   RCPT 5xx           -> refused: 550 5.1.7 quoting the MX, remembered callout_negative_ttl
 *   4xx, timeout, no connection, DNS failure -> 450 4.1.7 (try later), not remembered
 *   5xx before RCPT, no MX host address, NXDOMAIN -> cannot verify: no verdict (other checks judge)
 *
 * Never a flood: at most callout_rate probes per sender domain per minute
 * (more are deferred), one connection per probe, callout_timeout for the
 * whole dialogue, results cached in memory (at most POLICY_VCACHE_MAX
 * addresses; expired ones are dropped first when it is full). Only the
 * best MX's first IPv4 address is tried. Off unless `sender_verify` is
 * listed in policy_mail. Replies from the MX are read with a line cap.
 */
#include "policy/policy_internal.h"

#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/accounts.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define POLICY_VCACHE_BUCKETS 4096
#define POLICY_VCACHE_MAX 50000
#define POLICY_CALLOUT_LINE_MAX 1024 /* a reply line longer than this ends the probe */

typedef struct policy_vent {
    struct policy_vent *next;
    long long expires;
    int exists;
    char reply[160]; /* the MX's refusal, for the text */
    char addr[];
} policy_vent;

struct policy_vcache {
    policy_vent *b[POLICY_VCACHE_BUCKETS];
    size_t count;
};

typedef struct policy_callout {
    policy_run *r;
    struct bufferevent *bev;
    int step;              /* 0 banner, 1 EHLO, 2 MAIL, 3 RCPT */
    char host[330];        /* "name[address]" for logs and texts */
} policy_callout;

/* policy_vcache_hash - FNV-1a of the lower-cased address */
static size_t policy_vcache_hash(const char *a)
{
    unsigned h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)((*a >= 'A' && *a <= 'Z') ? *a + 32 : *a)) * 16777619u;
    return h % POLICY_VCACHE_BUCKETS;
}

/* policy_vcache_free - drop every entry */
void policy_vcache_free(struct policy_vcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < POLICY_VCACHE_BUCKETS; i++)
        while (c->b[i]) {
            policy_vent *e = c->b[i];
            c->b[i] = e->next;
            free(e);
        }
    free(c);
}

/* policy_vcache_get - a fresh entry for addr, or NULL (expired ones are unlinked) */
static policy_vent *policy_vcache_get(struct policy_vcache *c, const char *addr, long long now)
{
    for (policy_vent **l = &c->b[policy_vcache_hash(addr)]; *l;) {
        policy_vent *e = *l;
        if (e->expires <= now) {
            *l = e->next;
            free(e);
            c->count--;
            continue;
        }
        if (strcasecmp(e->addr, addr) == 0)
            return e;
        l = &e->next;
    }
    return NULL;
}

/* policy_vcache_put - remember a result (skipped when the cache is full of live entries) */
static void policy_vcache_put(policy_engine *eng, const char *addr, int exists, const char *reply, long long now)
{
    struct policy_vcache *c = eng->vcache;
    for (size_t i = 0; c->count >= POLICY_VCACHE_MAX && i < POLICY_VCACHE_BUCKETS; i++)
        for (policy_vent **l = &c->b[i]; *l;) {
            policy_vent *e = *l;
            if (e->expires <= now) {
                *l = e->next;
                free(e);
                c->count--;
            } else {
                l = &e->next;
            }
        }
    if (c->count >= POLICY_VCACHE_MAX || policy_vcache_get(c, addr, now))
        return;
    size_t n = strlen(addr) + 1;
    policy_vent *e = xcalloc(1, sizeof *e + n);
    memcpy(e->addr, addr, n);
    e->exists = exists;
    e->expires = now + (exists ? eng->cfg->callout_positive_ttl : eng->cfg->callout_negative_ttl);
    snprintf(e->reply, sizeof e->reply, "%s", reply ? reply : "");
    size_t h = policy_vcache_hash(addr);
    e->next = c->b[h];
    c->b[h] = e;
    c->count++;
}

/* policy_callout_refused - the verdict for an address the MX refused */
static void policy_callout_refused(policy_run *r, const char *reply, int cached)
{
    policy_set(r, POLICY_REJECT, 550, "5.1.7", "Sender address rejected: <%.200s> does not exist: its mail server "
               "said \"%.150s\"%s; use an address that can receive replies (sender_verify)", r->ctx->sender, reply,
               cached ? " (remembered from an earlier check)" : "");
}

/* policy_callout_bye - say QUIT straight into the idle socket (best effort: a reply is not awaited, and
 * nothing outlives the run, so no connection lingers past shutdown) */
static void policy_callout_bye(policy_callout *co)
{
    evutil_socket_t fd = bufferevent_getfd(co->bev);
    if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(co->bev)) == 0) {
        ssize_t n = send(fd, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)n;
    }
    bufferevent_free(co->bev);
    co->bev = NULL;
}

/* policy_callout_cancel - the run is dropped: close at once */
static void policy_callout_cancel(policy_run *r)
{
    policy_callout *co = r->extra;
    if (co->bev)
        bufferevent_free(co->bev);
    free(co);
    r->extra = NULL;
}

/* policy_callout_end - the probe is over (r->cur set): detach and go on with the stage */
static void policy_callout_end(policy_callout *co, int quit)
{
    policy_run *r = co->r;
    if (co->bev && quit)
        policy_callout_bye(co);
    else if (co->bev)
        bufferevent_free(co->bev);
    co->bev = NULL;
    free(co);
    r->extra = NULL;
    r->cancel_extra = NULL;
    policy_resume(r);
}

/* policy_callout_unsure - no answer we can use: try again later */
static void policy_callout_unsure(policy_callout *co, const char *what)
{
    policy_run *r = co->r;
    log_info(r->ctx->id, "event=sender_verify sender=<%s> mx=%s result=tempfail detail=\"%s\"", r->ctx->sender,
             co->host, what);
    policy_set(r, POLICY_DEFER, 450, "4.1.7", "Sender address rejected: cannot verify <%.200s> now (%s at %.100s); "
               "try again later (sender_verify)", r->ctx->sender, what, co->host);
}

/* policy_callout_reply - one complete reply of the MX (code, last line text) */
static void policy_callout_reply(policy_callout *co, int code, const char *text)
{
    policy_run *r = co->r;
    static const char *const steps[] = {"banner", "EHLO", "MAIL FROM:<>", "RCPT"};
    if (co->step < 3 && code >= 200 && code < 300) {
        struct evbuffer *out = bufferevent_get_output(co->bev);
        if (co->step == 0)
            evbuffer_add_printf(out, "EHLO %s\r\n", r->e->cfg->hostname);
        else if (co->step == 1)
            evbuffer_add_printf(out, "MAIL FROM:<>\r\n");
        else
            evbuffer_add_printf(out, "RCPT TO:<%s>\r\n", r->ctx->sender);
        co->step++;
        return;
    }
    long long now = time(NULL);
    if (co->step == 3 && code >= 200 && code < 300) {
        log_info(r->ctx->id, "event=sender_verify sender=<%s> mx=%s result=exists", r->ctx->sender, co->host);
        policy_vcache_put(r->e, r->ctx->sender, 1, NULL, now);
    } else if (code >= 500 && co->step == 3) {
        log_info(r->ctx->id, "event=sender_verify sender=<%s> mx=%s result=refused code=%d", r->ctx->sender, co->host,
                 code);
        policy_vcache_put(r->e, r->ctx->sender, 0, text, now);
        policy_callout_refused(r, text, 0);
    } else if (code >= 500) {
        /* the MX will not talk to a null sender at all: we learn nothing about the address */
        log_info(r->ctx->id, "event=sender_verify sender=<%s> mx=%s result=unverifiable step=%s code=%d",
                 r->ctx->sender, co->host, steps[co->step], code);
    } else {
        char what[64];
        snprintf(what, sizeof what, "%d at %s", code, steps[co->step]);
        policy_callout_unsure(co, what);
    }
    policy_callout_end(co, 1);
}

/* policy_callout_on_read - read reply lines; a reply ends at "NNN " */
static void policy_callout_on_read(struct bufferevent *bev, void *arg)
{
    policy_callout *co = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
        int ok = len >= 3 && len <= POLICY_CALLOUT_LINE_MAX && line[0] >= '2' && line[0] <= '5' &&
                 line[1] >= '0' && line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
                 (len == 3 || line[3] == ' ' || line[3] == '-');
        int last = ok && (len == 3 || line[3] == ' ');
        int code = ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
        if (!ok) {
            free(line);
            policy_callout_unsure(co, "malformed reply");
            policy_callout_end(co, 0);
            return;
        }
        if (last) {
            char text[160];
            for (size_t i = 0; i < len && i + 1 < sizeof text; i++)
                text[i] = (line[i] >= 32 && line[i] < 127 && line[i] != '"') ? line[i] : '?';
            text[len < sizeof text ? len : sizeof text - 1] = '\0';
            free(line);
            policy_callout_reply(co, code, text);
            return; /* one reply per command: nothing else is pipelined */
        }
        free(line);
    }
    if (evbuffer_get_length(in) > POLICY_CALLOUT_LINE_MAX) {
        policy_callout_unsure(co, "reply line too long");
        policy_callout_end(co, 0);
    }
}

/* policy_callout_on_event - connected, or failed/timed out */
static void policy_callout_on_event(struct bufferevent *bev, short what, void *arg)
{
    policy_callout *co = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    policy_callout_unsure(co, (what & BEV_EVENT_TIMEOUT) ? "timeout" : "connection failed");
    policy_callout_end(co, 0);
}

/* policy_callout_connect - open the probe connection to ip */
static int policy_callout_connect(policy_run *r, const char *host, const char *ip)
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)r->e->cfg->callout_port);
    if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
        return 0;
    policy_callout *co = xcalloc(1, sizeof *co);
    co->r = r;
    snprintf(co->host, sizeof co->host, "%.253s[%.63s]", host, ip);
    co->bev = bufferevent_socket_new(r->e->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(co->bev, policy_callout_on_read, NULL, policy_callout_on_event, co);
    struct timeval tv = {r->e->cfg->callout_timeout, 0};
    bufferevent_set_timeouts(co->bev, &tv, &tv);
    bufferevent_enable(co->bev, EV_READ | EV_WRITE);
    r->extra = co;
    r->cancel_extra = policy_callout_cancel;
    if (bufferevent_socket_connect(co->bev, (struct sockaddr *)&sin, sizeof sin) < 0) {
        policy_callout_unsure(co, "connection failed");
        bufferevent_free(co->bev);
        free(co);
        r->extra = NULL;
        r->cancel_extra = NULL;
        return 0;
    }
    log_debug(r->ctx->id, "event=sender_verify_probe sender=<%s> mx=%s", r->ctx->sender, co->host);
    return 1;
}

/* policy_callout_a_done - the MX host's address: connect */
static int policy_callout_a_done(policy_run *r)
{
    const dns_answer *a = r->ans[0];
    char host[256];
    snprintf(host, sizeof host, "%s", r->scratch);
    if (a && a->status == DNS_TEMPFAIL) {
        policy_set(r, POLICY_DEFER, 450, "4.1.7", "Sender address rejected: cannot verify <%.200s> now (DNS lookup "
                   "of its mail server %.100s failed temporarily); try again later (sender_verify)", r->ctx->sender, host);
        return 0;
    }
    if (!a || a->status != DNS_OK || a->count == 0)
        return 0; /* no IPv4 address: cannot verify */
    char ip[64];
    snprintf(ip, sizeof ip, "%s", a->rr[0].text);
    return policy_callout_connect(r, host, ip);
}

/* policy_callout_mx_done - pick the best MX (or the domain itself) and look up its address */
static int policy_callout_mx_done(policy_run *r)
{
    const dns_answer *mx = r->ans[0];
    const char *dom = strrchr(r->ctx->sender, '@') + 1;
    const char *host = NULL;
    if (mx && mx->status == DNS_TEMPFAIL) {
        policy_set(r, POLICY_DEFER, 450, "4.1.7", "Sender address rejected: cannot verify <%.200s> now (MX lookup "
                   "of %.100s failed temporarily); try again later (sender_verify)", r->ctx->sender, dom);
        return 0;
    }
    if (mx && mx->status == DNS_OK) {
        int best = -1;
        for (size_t i = 0; i < mx->count; i++)
            if (mx->rr[i].text[0] && (best < 0 || mx->rr[i].pref < mx->rr[best].pref))
                best = (int)i;
        host = best >= 0 ? mx->rr[best].text : NULL;
    } else if (mx && mx->status == DNS_NODATA) {
        host = dom; /* implicit MX (RFC 5321 5.1) */
    }
    if (!host)
        return 0; /* null MX or no domain: sender_domain judges that */
    snprintf(r->scratch, sizeof r->scratch, "%s", host);
    dns_answer_free(r->ans[0]);
    r->ans[0] = NULL;
    r->nq = 0;
    policy_lookup(r, r->scratch, DNS_T_A);
    r->finish = policy_callout_a_done;
    return 1;
}

/* policy_callout_run - cached answer, rate limit, or start the probe */
int policy_callout_run(policy_run *r)
{
    const policy_ctx *c = r->ctx;
    const char *at = c->sender ? strrchr(c->sender, '@') : NULL;
    if (!at || !at[1] || at[1] == '[')
        return 0; /* null sender (bounces) and address literals are not probed */
    const char *dom = at + 1;
    if (r->e->accounts && accounts_domain_is_local(r->e->accounts, dom) != ACCT_NOTFOUND)
        return 0; /* our own domains: own_domain_forgery and the account table judge */
    if (!r->e->vcache)
        r->e->vcache = xcalloc(1, sizeof(struct policy_vcache));
    long long now = time(NULL);
    policy_vent *e = policy_vcache_get(r->e->vcache, c->sender, now);
    if (e) {
        if (!e->exists)
            policy_callout_refused(r, e->reply, 1);
        return 0;
    }
    unsigned n = policy_rate_hit(r->e->callout_rate, dom, POLICY_RATE_CONN, now);
    if (n > r->e->cfg->callout_rate) {
        policy_set(r, POLICY_DEFER, 450, "4.1.7", "Sender address rejected: cannot verify <%.200s> now (we limit "
                   "probes of %.100s to %u a minute); try again in a few minutes (sender_verify)", c->sender, dom,
                   r->e->cfg->callout_rate);
        return 0;
    }
    policy_lookup(r, dom, DNS_T_MX);
    r->finish = policy_callout_mx_done;
    return 1;
}
