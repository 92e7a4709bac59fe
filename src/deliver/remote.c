/*
 * remote - one outbound SMTP attempt for one recipient (API in remote.h):
 * route (MX, A/AAAA), connection (cached or new, remote_pool.c), greeting,
 * EHLO and STARTTLS, the transaction, and what the attempt says in msglog.
 *
 * Blocking, on the delivery worker thread: the scheduler already runs
 * each message on a worker, so a slow remote server holds one worker and
 * never the event loop. The connection's I/O is remote_conn.c. Each worker
 * owns a private event_base and libunbound resolver behind a small answer
 * cache (dns_cache; created on first use, freed at thread exit) and runs
 * MX/A/AAAA lookups to completion with dns_lookup_sync. At most
 * REMOTE_MAX_MX hosts and REMOTE_MAX_ADDRS addresses per host are tried.
 */
#include "deliver/remote.h"
#include "config/config.h"
#include "deliver/dkim_out.h"
#include "deliver/remote_conn.h"
#include "deliver/remote_pool.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/smtp_cmd.h"
#include "queue/queue_file.h"
#include "store/msglog.h"

#include <ctype.h>
#include <event2/event.h>
#include <idn2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_MAX_MX 10
#define REMOTE_MAX_ADDRS 4
#define REMOTE_SLOT_WAIT_MS 30000 /* longest wait for a session slot of a busy destination, then 4.4.5 */
#define REMOTE_QUIT_WAIT_MS 2000  /* QUIT of an idle connection we give up: do not wait long for a reply */
#define REMOTE_DNS_SLOTS 256      /* MX and address answers kept per delivery worker */

typedef struct remote_ctx {
    struct event_base *base;
    dns_resolver *dns;
} remote_ctx;

static pthread_key_t remote_key;
static pthread_once_t remote_once = PTHREAD_ONCE_INIT;

/* remote_ctx_free - thread exit: free that worker's resolver and base */
static void remote_ctx_free(void *p)
{
    remote_ctx *c = p;
    dns_resolver_free(c->dns);
    if (c->base)
        event_base_free(c->base);
    free(c);
}

/* remote_key_init - create the per-thread key once */
static void remote_key_init(void)
{
    pthread_key_create(&remote_key, remote_ctx_free);
}

/* remote_thread_ctx - this worker's resolver, made on first use; NULL when it cannot be made */
static remote_ctx *remote_thread_ctx(const pochta_config *cfg)
{
    pthread_once(&remote_once, remote_key_init);
    remote_ctx *c = pthread_getspecific(remote_key);
    if (c)
        return c;
    char err[256];
    c = calloc(1, sizeof *c);
    dns_resolver *unbound = NULL;
    if (!c || !(c->base = event_base_new()) || !(unbound = dns_unbound_new(c->base, cfg->dns_server, err, sizeof err))) {
        if (c)
            remote_ctx_free(c);
        return NULL;
    }
    dns_unbound_set_timeout(unbound, cfg->dns_timeout_ms);
    c->dns = dns_cache_new(c->base, unbound, REMOTE_DNS_SLOTS, DNS_CACHE_MAX_TTL);
    pthread_setspecific(remote_key, c);
    return c;
}

typedef struct remote_out {
    const buf *sig; /* DKIM-Signature fields to put before the message (may be empty) */
    const char *rcpt; /* RCPT TO address: the domain in A-labels unless the message is SMTPUTF8 */
    char *status;
    size_t statuslen;
    char *reason;
    size_t reasonlen;
    const queue_rcpt_dsn *rd; /* the recipient's NOTIFY and ORCPT (RFC 3461) */
    int *dsn_passed;          /* set when the server took them (it offered DSN) */
    const char *mail_from;    /* MAIL FROM: the VERP return path, or the sender */
    const char *dest;         /* the destination whose session slots we use: lower-case A-label domain */
    int busy;                 /* no slot within REMOTE_SLOT_WAIT_MS: stop trying, defer (4.4.5) */
} remote_out;

/* remote_dsn_params - RFC 3461 4: RET/ENVID for MAIL and NOTIFY/ORCPT for RCPT, when the server offers DSN */
static void remote_dsn_params(const remote_conn *c, const queue_msg *m, const remote_out *o, char *mail,
                              size_t mlen, char *rcpt, size_t rlen)
{
    mail[0] = rcpt[0] = '\0';
    if (!c->ext_dsn)
        return;
    char envid[QUEUE_ENVID_MAX * 3 + 1] = "";
    if (m->dsn_envid)
        smtp_xtext_encode(m->dsn_envid, envid, sizeof envid);
    snprintf(mail, mlen, "%s%s%s", m->dsn_ret == QUEUE_RET_HDRS ? " RET=HDRS" : m->dsn_ret ? " RET=FULL" : "",
             envid[0] ? " ENVID=" : "", envid);
    int n = o->rd->notify;
    if (n)
        snprintf(rcpt, rlen, " NOTIFY=%s%s%s%s", (n & QUEUE_NOTIFY_NEVER) ? "NEVER" : "",
                 (n & QUEUE_NOTIFY_SUCCESS) ? "SUCCESS," : "", (n & QUEUE_NOTIFY_FAILURE) ? "FAILURE," : "",
                 (n & QUEUE_NOTIFY_DELAY) ? "DELAY," : "");
    size_t k = strlen(rcpt);
    if (k && rcpt[k - 1] == ',')
        rcpt[--k] = '\0';
    if (o->rd->orcpt)
        snprintf(rcpt + k, rlen - k, " ORCPT=%s", o->rd->orcpt);
}

/*
 * remote_enhanced_code - the RFC 3463 code that p starts with ("5.7.26"),
 * written to out with the class cls, which is the reply code's: when the two
 * disagree ("550 4.2.2"), the reply code decides whether the failure is
 * permanent, so the notice must not say otherwise. 1, or 0 when p holds none.
 */
static int remote_enhanced_code(const char *p, char cls, char *out, size_t outlen)
{
    if (*p != '2' && *p != '4' && *p != '5')
        return 0;
    size_t k = 1;
    for (int part = 0; part < 2; part++) { /* ".subject.detail", 1-3 digits each */
        if (p[k++] != '.')
            return 0;
        size_t d = 0;
        for (; d < 3 && isdigit((unsigned char)p[k]); d++)
            k++;
        if (!d)
            return 0;
    }
    if (p[k] && p[k] != ' ')
        return 0;
    snprintf(out, outlen, "%c%.*s", cls, (int)k - 1, p + 1);
    return 1;
}

/* remote_fail - classify a refusal at a stage: 5xx PERMFAIL, else TEMPFAIL; fills status and reason */
static remote_status remote_fail(remote_conn *c, const char *stage, remote_out *o)
{
    const char *r = c->reply;
    int perm = c->code >= 500 && c->code < 600;
    char cls = perm ? '5' : '4';
    /* the reply's enhanced code, on its first line whether that is continued ("550-5.7.26") or not */
    if (strlen(r) < 5 || (r[3] != ' ' && r[3] != '-') || !remote_enhanced_code(r + 4, cls, o->status, o->statuslen))
        snprintf(o->status, o->statuslen, "%c.0.0", cls);
    snprintf(o->reason, o->reasonlen, "%s[%s] said: %s (%s)", c->host, c->ip, r, stage);
    return perm ? REMOTE_PERMFAIL : REMOTE_TEMPFAIL;
}

/* remote_hello - EHLO (HELO if refused) and STARTTLS when offered; 0, or -1 (o filled) */
static int remote_hello(remote_conn *c, remote_out *o, remote_status *st)
{
    int code = remote_conn_cmd(c, "EHLO %s", c->cfg->hostname);
    if (code != 250)
        code = remote_conn_cmd(c, "HELO %s", c->cfg->hostname);
    if (code != 250) {
        *st = remote_fail(c, "after HELO", o);
        return -1;
    }
    if (!c->ext_tls || c->ssl || c->skip_tls)
        return 0;
    int t = remote_conn_starttls(c);
    if (t < 0 || (t == 0 && remote_conn_cmd(c, "EHLO %s", c->cfg->hostname) != 250)) {
        *st = remote_fail(c, "after STARTTLS", o);
        return -1;
    }
    return 0;
}

/*
 * remote_open - greeting, EHLO and STARTTLS of a new connection; 0, or -1
 * (o and *st filled). A 5xx greeting speaks for that host, not for the
 * recipient: as Postfix does by default (smtp_skip_5xx_greeting), it is a
 * temporary failure, so the next MX host is tried and the message waits.
 */
static int remote_open(remote_conn *c, remote_out *o, remote_status *st)
{
    if (remote_conn_reply(c) != 220) {
        *st = remote_fail(c, "in the greeting", o);
        if (*st == REMOTE_PERMFAIL) {
            *st = REMOTE_TEMPFAIL;
            o->status[0] = '4';
        }
        return -1;
    }
    return remote_hello(c, o, st);
}

/* remote_content - after 354: the DKIM fields, the body, the final dot and its reply */
static remote_status remote_content(remote_conn *c, const queue_msg *m, remote_out *o)
{
    if ((o->sig->len && remote_conn_send(c, o->sig->data, o->sig->len) < 0) ||
        remote_conn_body(c, m->data.data, m->data.len) < 0 || remote_conn_reply(c) != 250)
        return remote_fail(c, "after end of data", o);
    snprintf(o->status, o->statuslen, "2.0.0");
    snprintf(o->reason, o->reasonlen, "%s", c->reply);
    *o->dsn_passed = c->ext_dsn;
    return REMOTE_OK;
}

/*
 * remote_envelope_pipelined - MAIL, RCPT and DATA in one write, then their
 * three replies in order (RFC 2920 3.1). The first refusal is the one
 * reported; a server that answers DATA with 354 after refusing the
 * recipient gets a lone dot, so nothing is sent for nobody.
 */
static remote_status remote_envelope_pipelined(remote_conn *c, const queue_msg *m, remote_out *o,
                                               const char *params, const char *dsn_mail, const char *dsn_rcpt)
{
    if (remote_conn_queue(c, "MAIL FROM:<%s>%s%s", o->mail_from, params, dsn_mail) < 0 ||
        remote_conn_queue(c, "RCPT TO:<%s>%s", o->rcpt, dsn_rcpt) < 0 || remote_conn_queue(c, "DATA") < 0) {
        snprintf(c->reply, sizeof c->reply, "connection lost while sending");
        return remote_fail(c, "after MAIL FROM", o);
    }
    static const char *const stage[] = {"after MAIL FROM", "after RCPT TO", "after DATA"};
    int bad = -1, bad_code = 0, code = 0;
    char bad_reply[REMOTE_REPLY_MAX];
    for (int i = 0; i < 3 && code >= 0; i++) {
        code = remote_conn_reply(c);
        int ok = i == 0 ? code == 250 : i == 1 ? code == 250 || code == 251 : code == 354;
        if (!ok && bad < 0) {
            bad = i;
            bad_code = code;
            snprintf(bad_reply, sizeof bad_reply, "%s", c->reply);
        }
    }
    if (bad < 0)
        return remote_content(c, m, o);
    if (code == 354) /* a refusal earlier, yet DATA accepted: end it empty */
        remote_conn_cmd(c, ".");
    c->code = bad_code;
    snprintf(c->reply, sizeof c->reply, "%s", bad_reply);
    return remote_fail(c, stage[bad], o);
}

/* remote_transaction - MAIL, RCPT, DATA of one message on a session past EHLO */
static remote_status remote_transaction(remote_conn *c, const queue_msg *m, remote_out *o)
{
    if (m->smtputf8 && !c->ext_utf8) {
        snprintf(o->status, o->statuslen, "5.6.7");
        snprintf(o->reason, o->reasonlen, "%s[%s] does not support SMTPUTF8, and this message needs it "
                 "(international address or headers): it cannot be delivered there", c->host, c->ip);
        return REMOTE_PERMFAIL;
    }
    char params[128] = "";
    size_t pl = 0;
    if (c->ext_size)
        pl += (size_t)snprintf(params + pl, sizeof params - pl, " SIZE=%zu", m->data.len + o->sig->len);
    if (m->body_8bit && c->ext_8bit)
        pl += (size_t)snprintf(params + pl, sizeof params - pl, " BODY=8BITMIME");
    if (m->smtputf8)
        snprintf(params + pl, sizeof params - pl, " SMTPUTF8");
    char dsn_mail[QUEUE_ENVID_MAX * 3 + 32], dsn_rcpt[QUEUE_ORCPT_MAX + 64];
    remote_dsn_params(c, m, o, dsn_mail, sizeof dsn_mail, dsn_rcpt, sizeof dsn_rcpt);
    if (c->ext_pipelining)
        return remote_envelope_pipelined(c, m, o, params, dsn_mail, dsn_rcpt);
    if (remote_conn_cmd(c, "MAIL FROM:<%s>%s%s", o->mail_from, params, dsn_mail) != 250)
        return remote_fail(c, "after MAIL FROM", o);
    int rc = remote_conn_cmd(c, "RCPT TO:<%s>%s", o->rcpt, dsn_rcpt);
    if (rc != 250 && rc != 251)
        return remote_fail(c, "after RCPT TO", o);
    if (remote_conn_cmd(c, "DATA") != 354)
        return remote_fail(c, "after DATA", o);
    return remote_content(c, m, o);
}

/* remote_discard - give up a connection: QUIT without waiting long, free it (the pool's close function) */
static void remote_discard(remote_conn *c)
{
    c->wait_ms = REMOTE_QUIT_WAIT_MS;
    remote_conn_close(c, 1);
    free(c);
}

/* remote_acquire - a cached live connection or a new one to ip (slot held); NULL with o filled when none */
static remote_conn *remote_acquire(const pochta_config *cfg, const queue_msg *m, const char *to, const char *host,
                                    const char *ip, remote_out *o, int *reused)
{
    remote_conn *c = NULL;
    *reused = 0;
    pool_result pr = remote_pool_get(o->dest, ip, cfg->remote_smtp_port, REMOTE_SLOT_WAIT_MS, &c);
    if (pr == POOL_BUSY) {
        o->busy = 1;
        snprintf(o->status, o->statuslen, "4.4.5");
        snprintf(o->reason, o->reasonlen, "%u SMTP sessions to %s were already open (remote_destination_concurrency) "
                 "and none became free within %d s: the message waits in the queue and is retried later",
                 cfg->remote_destination_concurrency, o->dest, REMOTE_SLOT_WAIT_MS / 1000);
        log_info(m->id, "event=remote_busy dest=%s limit=%u to=<%s>", o->dest, cfg->remote_destination_concurrency, to);
        return NULL;
    }
    if (c) {
        if (remote_conn_alive(c)) {
            snprintf(c->host, sizeof c->host, "%s", host); /* the name it is reached by now (SNI stays) */
            *reused = 1;
            remote_pool_reused();
            return c;
        }
        log_debug(m->id, "event=remote_reuse_dead ip=%s action=connect_fresh", ip);
        remote_discard(c); /* its slot stays ours, for the fresh connection */
    }
    c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->fd = -1;
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    if (remote_conn_connect(c, cfg->remote_smtp_port) < 0) {
        snprintf(o->status, o->statuslen, "4.4.1");
        snprintf(o->reason, o->reasonlen, "%s[%s]: %s", host, ip, c->reply);
        msglog_event(m->id, "attempt", "to=<%s> host=%s ip=%s result=noconnect", to, host, ip);
        free(c);
        remote_pool_release(o->dest);
        return NULL;
    }
    return c;
}

/* remote_try_addr - one attempt at one address of an MX host; REMOTE_TEMPFAIL means "try the next one" */
static remote_status remote_try_addr(const pochta_config *cfg, const queue_msg *m, const char *to, const char *host,
                                     const char *ip, remote_out *o)
{
    int reused;
    remote_conn *c = remote_acquire(cfg, m, to, host, ip, o, &reused);
    if (!c)
        return REMOTE_TEMPFAIL;
    remote_status st = REMOTE_TEMPFAIL;
    int open = reused || remote_open(c, o, &st) == 0;
    if (!open && c->tls_failed) {
        /* opportunistic TLS (RFC 7435, Postfix's "may") must not cost the delivery: go on in clear */
        msglog_event(m->id, "attempt", "to=<%s> host=%s ip=%s tls=failed action=retry_without_tls", to, host, ip);
        if (remote_conn_reopen_plain(c) == 0)
            open = remote_open(c, o, &st) == 0;
    }
    if (open)
        st = remote_transaction(c, m, o);
    char q[REMOTE_REPLY_MAX + 64]; /* the whole reply: escaping may grow it a little */
    log_quote(q, sizeof q, c->reply, strlen(c->reply));
    msglog_event(m->id, "attempt", "to=<%s> host=%s ip=%s port=%u tls=%s cipher=%s code=%d reused=%s reply=%s", to,
                 host, ip, cfg->remote_smtp_port, c->ssl ? SSL_get_version(c->ssl) : "no",
                 c->ssl ? SSL_get_cipher_name(c->ssl) : "none", c->code, reused ? "yes" : "no", q);
    /* after a 250 at end of data the session is back at its start (RFC 5321 4.1.1.4): keep it */
    if (st == REMOTE_OK && remote_pool_put(o->dest, ip, cfg->remote_smtp_port, c->ssl != NULL, c))
        return st;
    remote_conn_close(c, c->code > 0);
    free(c);
    remote_pool_release(o->dest);
    return st;
}

/* remote_try_host - every address of one MX host; REMOTE_TEMPFAIL means "try the next host" */
static remote_status remote_try_host(remote_ctx *x, const pochta_config *cfg, const queue_msg *m, const char *to,
                                     const char *host, remote_out *o)
{
    static const uint16_t types[2] = {DNS_T_A, DNS_T_AAAA};
    remote_status st = REMOTE_TEMPFAIL;
    int tried = 0;
    for (int t = 0; t < 2 && !o->busy; t++) {
        dns_answer *a = NULL;
        if (dns_lookup_sync(x->base, x->dns, host, types[t], &a) != DNS_OK) {
            dns_answer_free(a);
            continue;
        }
        for (size_t i = 0, n = 0; i < a->count && n < REMOTE_MAX_ADDRS && !o->busy; i++) {
            if (a->rr[i].type != types[t])
                continue;
            n++;
            tried++;
            st = remote_try_addr(cfg, m, to, host, a->rr[i].text, o);
            if (st != REMOTE_TEMPFAIL) {
                dns_answer_free(a); /* a definite answer; a 4xx moves on to the next address (RFC 5321 5.1) */
                return st;
            }
        }
        dns_answer_free(a);
    }
    if (!tried) {
        snprintf(o->status, o->statuslen, "4.4.4");
        snprintf(o->reason, o->reasonlen, "mail server %s has no usable address (A/AAAA)", host);
    }
    return st;
}

/* remote_mx_order - indexes of the MX records of a, lowest preference first (stable) */
static size_t remote_mx_order(const dns_answer *a, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < a->count && n < REMOTE_MAX_MX; i++) {
        if (a->rr[i].type != DNS_T_MX)
            continue;
        size_t j = n++;
        while (j > 0 && a->rr[idx[j - 1]].pref > a->rr[i].pref) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return n;
}

/* remote_route - MX lookup of an A-label domain and one attempt per host in order */
static remote_status remote_route(remote_ctx *x, const pochta_config *cfg, const queue_msg *m, const char *to,
                                  const char *domain, remote_out *o)
{
    dns_answer *a = NULL;
    dns_status ds = dns_lookup_sync(x->base, x->dns, domain, DNS_T_MX, &a);
    remote_status st = REMOTE_TEMPFAIL;
    if (ds == DNS_TEMPFAIL || (ds == DNS_OK && !a)) {
        snprintf(o->status, o->statuslen, "4.4.3");
        snprintf(o->reason, o->reasonlen, "DNS lookup of the MX records of %s failed temporarily", domain);
    } else if (ds == DNS_NXDOMAIN || ds == DNS_PERMFAIL) {
        snprintf(o->status, o->statuslen, "5.1.2");
        snprintf(o->reason, o->reasonlen, "the domain %s does not exist in DNS: check the address for typos", domain);
        st = REMOTE_PERMFAIL;
    } else if (ds == DNS_NODATA) {
        st = remote_try_host(x, cfg, m, to, domain, o); /* implicit MX: RFC 5321 5.1 */
    } else if (a->count == 1 && a->rr[0].text[0] == '\0') {
        snprintf(o->status, o->statuslen, "5.1.10");
        snprintf(o->reason, o->reasonlen, "the domain %s publishes a null MX (RFC 7505): it accepts no mail", domain);
        st = REMOTE_PERMFAIL;
        msglog_event(m->id, "attempt", "to=<%s> mx=null domain=%s", to, domain);
    } else {
        size_t idx[REMOTE_MAX_MX];
        size_t n = remote_mx_order(a, idx);
        for (size_t i = 0; i < n && st == REMOTE_TEMPFAIL && !o->busy; i++)
            if (a->rr[idx[i]].text[0])
                st = remote_try_host(x, cfg, m, to, a->rr[idx[i]].text, o);
    }
    dns_answer_free(a);
    return st;
}

/* remote_deliver - one attempt for recipient to (see remote.h) */
remote_status remote_deliver(const pochta_config *cfg, const queue_msg *m, const char *to,
                             const char *mail_from, const queue_rcpt_dsn *rd, int *dsn_passed, char *status, size_t statuslen,
                             char *reason, size_t reasonlen)
{
    buf sig;
    buf_init(&sig, 16384);
    char rcpt[1100];
    char dest[256];
    remote_out o = {&sig, rcpt, status, statuslen, reason, reasonlen, rd, dsn_passed,
                    mail_from ? mail_from : m->sender, dest, 0};
    *dsn_passed = 0;
    const char *at = strrchr(to, '@');
    remote_ctx *x = remote_thread_ctx(cfg);
    if (!x) {
        snprintf(status, statuslen, "4.3.0");
        snprintf(reason, reasonlen, "the DNS resolver could not be started");
        return REMOTE_TEMPFAIL;
    }
    char *ace = NULL;
    if (!at || idn2_to_ascii_8z(at + 1, &ace, IDN2_NONTRANSITIONAL) != IDN2_OK) {
        snprintf(status, statuslen, "5.1.2");
        snprintf(reason, reasonlen, "the domain of %s is not a valid (international) domain name", to);
        return REMOTE_PERMFAIL;
    }
    /* RFC 5890/6531: without SMTPUTF8 the envelope may carry only A-labels */
    snprintf(rcpt, sizeof rcpt, "%.*s@%s", (int)(at - to), to, m->smtputf8 ? at + 1 : ace);
    size_t dl = 0;
    for (; ace[dl] && dl < sizeof dest - 1; dl++)
        dest[dl] = (char)tolower((unsigned char)ace[dl]);
    dest[dl] = '\0';
    if (dkim_out_sign(cfg, m->id, m->sender, m->data.data, m->data.len, &sig) > 0)
        msglog_event(m->id, "dkim", "to=<%s> signed=yes", to);
    remote_status st = remote_route(x, cfg, m, to, ace, &o);
    idn2_free(ace);
    buf_free(&sig);
    return st;
}

/* remote_start - session slots per destination and the connection cache, from cfg (see remote.h) */
void remote_start(const pochta_config *cfg)
{
    remote_pool_start(cfg->remote_destination_concurrency, cfg->remote_connection_reuse_time, remote_discard);
}

/* remote_stop - QUIT and close every cached connection (see remote.h) */
void remote_stop(void)
{
    remote_pool_stop();
}
