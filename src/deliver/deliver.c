/*
 * deliver - one delivery run for one message (API in deliver.h).
 *
 * Order of durable steps for a final address: Maildir file fsync'ed, then
 * the "part"/"done" record fsync'ed in state/ID. A crash in between
 * delivers that copy again on restart: at-least-once, never lost. When
 * the outcome is reported in a notice (dsn.h: failure, delay, or success
 * with NOTIFY=SUCCESS), the notice is made durable first and the record
 * written after it, at the end of the run.
 *
 * Within a run, outcomes are kept per final address ("part"): a
 * recipient is DONE when at least one of its final addresses was delivered
 * and none is left deferred, BOUNCED when all of them bounced, else
 * DEFERRED. Parts finished earlier are skipped on a retry, so an alias with
 * one local and one remote target does not fill the local mailbox with
 * copies while the remote one waits.
 */
#include "deliver/deliver.h"
#include "config/config.h"
#include "deliver/dsn.h"
#include "deliver/maildir.h"
#include "deliver/maildir_quota.h"
#include "deliver/remote.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue_file.h"
#include "store/accounts.h"
#include "store/msglog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { PART_DONE, PART_DEFERRED, PART_BOUNCED } part_outcome;

typedef struct deliver_run {
    const pochta_config *cfg;
    accounts *acct;
    queue_msg *m;
    time_t now;
    int expired;             /* past queue_lifetime: a deferral becomes final */
    char **seen;             /* final addresses delivered in this run (heap strings) */
    size_t nseen;
    char reason[512];        /* first deferral reason of the current recipient */
    size_t ri;               /* index of the recipient being delivered (its NOTIFY, ORCPT) */
    dsn_list dsn;            /* notices to send at the end of the run (dsn.h) */
} deliver_run;

/* deliver_backoff - retry_min doubling per attempt, capped at retry_max */
unsigned deliver_backoff(const pochta_config *cfg, unsigned attempts)
{
    unsigned min = cfg->retry_min ? cfg->retry_min : 1;
    unsigned max = cfg->retry_max > min ? cfg->retry_max : min;
    unsigned d = min;
    for (unsigned i = 1; i < attempts && d < max; i++)
        d = d > max / 2 ? max : d * 2;
    return d < max ? d : max;
}

/* deliver_bounce - the single place a final address becomes a bounce: log it, note a DSN for the sender */
static void deliver_bounce(deliver_run *r, const char *orig_to, const char *to, const char *status,
                           const char *reason)
{
    const queue_msg *m = r->m;
    char q[600];
    log_quote(q, sizeof q, reason, strlen(reason));
    if (orig_to && strcasecmp(orig_to, to) != 0)
        msglog_event(m->id, "bounced", "to=<%s> orig_to=<%s> status=%s from=<%s> reason=%s", to, orig_to,
                     status, m->sender, q);
    else
        msglog_event(m->id, "bounced", "to=<%s> status=%s from=<%s> reason=%s", to, status, m->sender, q);
    dsn_list_add(&r->dsn, m, r->ri, DSN_FAILED, orig_to, to, status, reason); /* NOTIFY, null sender */
}

/* deliver_seen - 1 when addr was already delivered in this run */
static int deliver_seen(const deliver_run *r, const char *addr)
{
    for (size_t i = 0; i < r->nseen; i++)
        if (strcasecmp(r->seen[i], addr) == 0)
            return 1;
    return 0;
}

/* deliver_defer - a final address must wait; past the lifetime it bounces instead */
static part_outcome deliver_defer(deliver_run *r, const char *orig, const char *to, const char *why)
{
    if (r->expired) {
        char q[600];
        log_quote(q, sizeof q, why, strlen(why));
        msglog_event(r->m->id, "expired", "to=<%s> delay=%llds reason=%s", to,
                     (long long)(r->now - r->m->arrival), q);
        char reason[600];
        snprintf(reason, sizeof reason, "gave up after %us in the queue: %s", r->cfg->queue_lifetime, why);
        /* a mailbox that stayed full bounces as such (RFC 3463 5.2.2), not as a plain expiry */
        deliver_bounce(r, orig, to, strncmp(why, "Mailbox full", 12) == 0 ? "5.2.2" : "4.4.7", reason);
        return PART_BOUNCED;
    }
    if (!r->reason[0])
        snprintf(r->reason, sizeof r->reason, "%s", why);
    return PART_DEFERRED;
}

/* deliver_local - a mailbox of ours: Maildir */
static part_outcome deliver_local(deliver_run *r, const char *orig, const char *to)
{
    char path[4800], err[512];
    /* mailbox state and quota (maildir_quota.h); the size counts our two header lines roughly */
    maildir_quota_verdict mv = maildir_quota_check(r->acct, r->cfg->mail_dir, to, r->m->data.len + strlen(to) + 64 +
                                       (r->m->sender ? strlen(r->m->sender) : 0), err, sizeof err);
    if (mv == MAILBOX_TEMPFAIL || mv == MAILBOX_FULL)
        return deliver_defer(r, orig, to, err);
    if (mv == MAILBOX_DISABLED) {
        deliver_bounce(r, orig, to, "5.2.1", "Mailbox disabled: the owner cannot receive mail");
        return PART_BOUNCED;
    }
    deliver_status st = maildir_deliver_folder(r->cfg->mail_dir, to, r->m->junk ? "Junk" : NULL, r->m->sender,
                                               r->cfg->hostname, r->m->data.data, r->m->data.len, path,
                                               sizeof path, err, sizeof err);
    if (st == DELIVER_TEMPFAIL)
        return deliver_defer(r, orig, to, err);
    if (st == DELIVER_PERMFAIL) {
        deliver_bounce(r, orig, to, "5.1.1", err);
        return PART_BOUNCED;
    }
    if (strcasecmp(orig, to) != 0)
        msglog_event(r->m->id, "delivered", "to=<%s> orig_to=<%s> relay=local delay=%llds maildir=%s", to, orig,
                     (long long)(r->now - r->m->arrival), path);
    else
        msglog_event(r->m->id, "delivered", "to=<%s> relay=local delay=%llds maildir=%s", to,
                     (long long)(r->now - r->m->arrival), path);
    maildir_quota_refresh(r->acct, r->cfg->mail_dir, to); /* a first delivery creates maildirsize */
    dsn_list_add(&r->dsn, r->m, r->ri, DSN_DELIVERED, orig, to, "2.0.0", "delivered to the mailbox");
    r->seen = xrealloc(r->seen, (r->nseen + 1) * sizeof *r->seen);
    r->seen[r->nseen++] = xstrdup(to);
    return PART_DONE;
}

/* deliver_remote - a final address in another domain: one SMTP attempt (remote.c) */
static part_outcome deliver_remote(deliver_run *r, const char *orig, const char *to)
{
    char status[16], reason[5200]; /* a remote reply may be 4 KB (remote.c), quoted whole in the notice */
    int passed = 0; /* the next hop took the DSN parameters: it sends the notices from here on */
    remote_status st = remote_deliver(r->cfg, r->m, to, &r->m->rcpt_dsn[r->ri], &passed, status, sizeof status,
                                      reason, sizeof reason);
    if (st == REMOTE_TEMPFAIL)
        return deliver_defer(r, orig, to, reason);
    if (st == REMOTE_PERMFAIL) {
        deliver_bounce(r, orig, to, status, reason);
        return PART_BOUNCED;
    }
    char q[1500];
    log_quote(q, sizeof q, reason, strlen(reason));
    msglog_event(r->m->id, "delivered", "to=<%s> relay=remote delay=%llds reply=%s", to,
                 (long long)(r->now - r->m->arrival), q);
    if (!passed) /* RFC 3461 5.2.2: "relayed" when the next hop does not do DSN */
        dsn_list_add(&r->dsn, r->m, r->ri, DSN_RELAYED, orig, to, "2.0.0", reason);
    r->seen = xrealloc(r->seen, (r->nseen + 1) * sizeof *r->seen);
    r->seen[r->nseen++] = xstrdup(to);
    return PART_DONE;
}

/* deliver_part - one final address: local mailbox, unknown local, or remote */
static part_outcome deliver_part(deliver_run *r, const char *orig, const char *to)
{
    if (deliver_seen(r, to))
        return PART_DONE; /* same mailbox reached twice: one copy */
    const char *at = strrchr(to, '@');
    if (!at) {
        deliver_bounce(r, orig, to, "5.1.3", "recipient address has no domain");
        return PART_BOUNCED;
    }
    acct_status d = accounts_domain_is_local(r->acct, at + 1);
    if (d == ACCT_TEMPFAIL)
        return deliver_defer(r, orig, to, "account database unavailable");
    if (d != ACCT_OK)
        return deliver_remote(r, orig, to);
    acct_status e = accounts_recipient_exists(r->acct, to);
    if (e == ACCT_TEMPFAIL)
        return deliver_defer(r, orig, to, "account database unavailable");
    if (e != ACCT_OK) {
        deliver_bounce(r, orig, to, "5.1.1", "no such mailbox here");
        return PART_BOUNCED;
    }
    return deliver_local(r, orig, to);
}

/* deliver_rcpt - expand recipient i and deliver each final address not finished before */
static queue_rcpt_status deliver_rcpt(deliver_run *r, size_t i, queue_rcpt_state *st)
{
    const char *rcpt = r->m->rcpts[i];
    char **list = NULL;
    char *single[2] = {(char *)rcpt, NULL};
    acct_status x = accounts_expand(r->acct, rcpt, &list);
    r->reason[0] = '\0';
    r->ri = i;
    if (x == ACCT_TEMPFAIL) {
        return deliver_defer(r, rcpt, rcpt, "account database unavailable") == PART_DEFERRED ? QRCPT_DEFERRED
                                                                                             : QRCPT_BOUNCED;
    }
    if (x == ACCT_INVALID) {
        deliver_bounce(r, rcpt, rcpt, "5.1.3", "recipient address is not valid");
        return QRCPT_BOUNCED;
    }
    char **finals = x == ACCT_OK && list && list[0] ? list : single;
    size_t n = 0;
    while (finals[n])
        n++;
    int done = 0, deferred = 0, bounced = 0;
    for (size_t k = 0; k < n; k++) {
        if (queue_state_has_part(st, finals[k])) {
            done++;
            continue;
        }
        part_outcome o = deliver_part(r, rcpt, finals[k]);
        if (o == PART_DEFERRED) {
            deferred++;
            continue;
        }
        o == PART_DONE ? done++ : bounced++;
        char payload[1200];
        snprintf(payload, sizeof payload, "%zu part %s", i, finals[k]);
        if (n > 1)
            queue_state_append(r->cfg->queue_dir, r->m->id, payload); /* lost record = one more copy */
    }
    if (x == ACCT_OK)
        accounts_list_free(list);
    if (deferred)
        return QRCPT_DEFERRED;
    return done ? QRCPT_DONE : QRCPT_BOUNCED;
}

/*
 * deliver_warn_due - 1 when this deferral is the first one past delay_warning.
 * Derived from the state (the previous attempt was at next - backoff), so
 * no extra record is needed; a crash right after may send it twice at most.
 */
static int deliver_warn_due(const deliver_run *r, const queue_rcpt_state *st)
{
    if (!r->cfg->delay_warning || r->expired)
        return 0;
    time_t due = r->m->arrival + (time_t)r->cfg->delay_warning;
    if (r->now < due)
        return 0;
    if (st->attempts == 0)
        return 1;
    return st->next - (time_t)deliver_backoff(r->cfg, st->attempts) < due;
}

/* deliver_outcome - the state record of recipient i's outcome into payload; logs a deferral, notes a
 * delay warning when one is due, updates *next */
static void deliver_outcome(deliver_run *r, size_t i, const queue_rcpt_state *st, queue_rcpt_status out,
                            time_t *next, char *payload, size_t plen)
{
    if (out == QRCPT_DONE) {
        snprintf(payload, plen, "%zu done", i);
    } else if (out == QRCPT_BOUNCED) {
        snprintf(payload, plen, "%zu bounced", i);
    } else {
        unsigned att = st->attempts + 1;
        time_t when = r->now + (time_t)deliver_backoff(r->cfg, att);
        time_t expiry = r->m->arrival + (time_t)r->cfg->queue_lifetime;
        if (r->cfg->queue_lifetime && expiry > r->now && expiry < when)
            when = expiry; /* the last attempt comes when the lifetime ends, not after */
        char q[600];
        log_quote(q, sizeof q, r->reason, strlen(r->reason));
        msglog_event(r->m->id, "deferred", "to=<%s> relay=local delay=%llds attempts=%u next_in=%llds reason=%s",
                     r->m->rcpts[i], (long long)(r->now - r->m->arrival), att, (long long)(when - r->now), q);
        if (deliver_warn_due(r, st))
            dsn_list_add(&r->dsn, r->m, i, DSN_DELAYED, r->m->rcpts[i], r->m->rcpts[i], "4.4.7", r->reason);
        snprintf(payload, plen, "%zu deferred %u %lld %s", i, att, (long long)when, r->reason);
        if (!*next || when < *next)
            *next = when;
    }
}

/* deliver_commit - append one outcome record; counts what is still pending */
static void deliver_commit(deliver_run *r, queue_rcpt_status out, const char *payload, deliver_result *res,
                           int *pending)
{
    if (queue_state_append(r->cfg->queue_dir, r->m->id, payload) == QUEUE_OK && out != QRCPT_DEFERRED)
        return;
    (*pending)++;
    if (out != QRCPT_DEFERRED && (!res->next || r->now + 1 < res->next))
        res->next = r->now + 1;
}

/* deliver_load - read the message; a corrupt one is quarantined. 0 or -1 (res filled) */
static int deliver_load(const pochta_config *cfg, const char *id, time_t now, queue_msg **m,
                        queue_rcpt_state **st, deliver_result *res)
{
    char err[512];
    int gone = 0;
    if (queue_load(cfg->queue_dir, id, m, st, &gone, err, sizeof err) == QUEUE_OK)
        return 0;
    if (gone) {
        res->gone = 1;
    } else if (*m == NULL && strncmp(err, "read ", 5) != 0) {
        queue_quarantine(cfg->queue_dir, id, err);
        res->gone = 1;
    } else {
        log_error(id, "event=deliver_error error=\"%s\"", err);
        res->next = now + (time_t)deliver_backoff(cfg, 1);
    }
    return -1;
}

/*
 * deliver_due - deliver every due recipient; the number still pending.
 * Outcomes that a notice reports are recorded only after the notice is
 * durable (dsn_send), so a crash can send a notice twice but never lose it;
 * the others are recorded at once, keeping the window for duplicates small.
 */
static int deliver_due(deliver_run *r, queue_rcpt_state *st, deliver_result *res)
{
    int pending = 0;
    size_t nheld = 0;
    struct { queue_rcpt_status out; char payload[1200]; } *held = NULL;
    for (size_t i = 0; i < r->m->nrcpts; i++) {
        if (st[i].status == QRCPT_DONE || st[i].status == QRCPT_BOUNCED)
            continue;
        if (st[i].status == QRCPT_DEFERRED && st[i].next > r->now && !r->expired) {
            pending++;
            if (!res->next || st[i].next < res->next)
                res->next = st[i].next;
            continue;
        }
        if (!r->acct) {
            /* no database handle: nothing can be decided; try again soon, count no attempt */
            pending++;
            res->next = r->now + (time_t)deliver_backoff(r->cfg, 1);
            continue;
        }
        size_t before = r->dsn.n;
        queue_rcpt_status out = deliver_rcpt(r, i, &st[i]);
        char payload[1200];
        deliver_outcome(r, i, &st[i], out, &res->next, payload, sizeof payload);
        if (r->dsn.n == before) {
            deliver_commit(r, out, payload, res, &pending);
            continue;
        }
        held = xrealloc(held, (nheld + 1) * sizeof *held);
        held[nheld].out = out;
        snprintf(held[nheld++].payload, sizeof held->payload, "%s", payload);
    }
    dsn_send(r->cfg, r->m, &r->dsn); /* one notice per kind; a failure is logged */
    for (size_t k = 0; k < nheld; k++)
        deliver_commit(r, held[k].out, held[k].payload, res, &pending);
    free(held);
    dsn_list_free(&r->dsn);
    return pending;
}

/* deliver_message - one run over every due recipient of id */
void deliver_message(const pochta_config *cfg, accounts *acct, const char *id, time_t now, deliver_result *res)
{
    queue_msg *m;
    queue_rcpt_state *st;
    memset(res, 0, sizeof *res);
    if (deliver_load(cfg, id, now, &m, &st, res) < 0)
        return;
    deliver_run r = {.cfg = cfg, .acct = acct, .m = m, .now = now};
    r.expired = cfg->queue_lifetime && now >= m->arrival + (time_t)cfg->queue_lifetime;
    int pending = deliver_due(&r, st, res);
    if (!pending) {
        if (queue_remove(cfg->queue_dir, id) == QUEUE_OK) {
            msglog_event(id, "removed", "nrcpt=%zu", m->nrcpts);
            res->finished = 1;
        } else {
            res->next = now + (time_t)deliver_backoff(cfg, 1);
        }
    }
    for (size_t i = 0; i < r.nseen; i++)
        free(r.seen[i]);
    free(r.seen);
    queue_state_free(st, m->nrcpts);
    free(st);
    queue_msg_free(m);
}
