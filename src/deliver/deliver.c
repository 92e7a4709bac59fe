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
#include "bounce/bounce_verp.h"
#include "config/config.h"
#include "deliver/collect.h"
#include "deliver/dsn.h"
#include "deliver/maildir.h"
#include "deliver/maildir_quota.h"
#include "deliver/remote.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/reply_id.h"
#include "queue/queue_admin.h"
#include "queue/queue_file.h"
#include "store/accounts.h"
#include "store/msglog.h"

#include <errno.h>
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
    const char *relay;       /* "local" or "remote": where that first deferral happened */
    const char *cur_relay;   /* the same for the final address being tried now */
    size_t ri;               /* index of the recipient being delivered (its NOTIFY, ORCPT) */
    dsn_list dsn;            /* notices to the sender, sent at the end of the run (dsn.h) */
    dsn_list refused;        /* remote refusals of our users' mail: one notice to the VERP address */
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

/* deliver_bounce_log - the "bounced" event of a final address */
static void deliver_bounce_log(const queue_msg *m, const char *orig_to, const char *to, const char *status,
                               const char *reason)
{
    char q[600];
    log_quote(q, sizeof q, reason, strlen(reason));
    if (orig_to && strcasecmp(orig_to, to) != 0)
        msglog_event(m->id, "bounced", "to=<%s> orig_to=<%s> status=%s from=<%s> reason=%s", to, orig_to,
                     status, m->sender, q);
    else
        msglog_event(m->id, "bounced", "to=<%s> status=%s from=<%s> reason=%s", to, status, m->sender, q);
}

/* deliver_bounce - the single place a final address becomes a bounce: log it, note a DSN for the sender */
static void deliver_bounce(deliver_run *r, const char *orig_to, const char *to, const char *status,
                           const char *reason)
{
    deliver_bounce_log(r->m, orig_to, to, status, reason);
    dsn_list_add(&r->dsn, r->m, r->ri, DSN_FAILED, orig_to, to, status, reason); /* NOTIFY, null sender */
}

/*
 * deliver_bounce_refused - a remote refusal of our user's mail: noted for
 * the run's notice to the message's VERP return path (deliver_send), which
 * the collector records like a remote bounce and hands to the sender
 */
static void deliver_bounce_refused(deliver_run *r, const char *orig_to, const char *to, const char *status,
                                   const char *reason)
{
    deliver_bounce_log(r->m, orig_to, to, status, reason);
    dsn_list_add(&r->refused, r->m, r->ri, DSN_FAILED, orig_to, to, status, reason);
}

/* deliver_send - the run's notices: refusals to the short VERP return path (bounce_verp.h),
 * everything else to the sender (a refusal goes there too when no return path can be made) */
static void deliver_send(deliver_run *r)
{
    const char *at = r->m->sender ? strrchr(r->m->sender, '@') : NULL;
    char verp[600];
    if (r->refused.n && at && bounce_verp_make_short(verp, sizeof verp, r->m->id, at + 1) == 0)
        dsn_send(r->cfg, r->m, &r->refused, verp);
    else
        dsn_send(r->cfg, r->m, &r->refused, NULL);
    dsn_send(r->cfg, r->m, &r->dsn, NULL); /* one notice per kind; a failure is logged */
    dsn_list_free(&r->refused);
    dsn_list_free(&r->dsn);
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
    if (!r->reason[0]) {
        snprintf(r->reason, sizeof r->reason, "%s", why);
        r->relay = r->cur_relay;
    }
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

/*
 * deliver_verp - the signed VERP return path for to when the sender is in
 * one of our domains (bounce_verp.h); "" otherwise (foreign senders whose
 * mail we forward, the null sender, no key)
 */
static void deliver_verp(deliver_run *r, const char *to, char *out, size_t outlen)
{
    const char *at = r->m->sender ? strrchr(r->m->sender, '@') : NULL;
    out[0] = '\0';
    if (!at || !bounce_verp_ready() || accounts_domain_is_local(r->acct, at + 1) != ACCT_OK)
        return;
    if (bounce_verp_make(out, outlen, r->m->id, to, at + 1) < 0)
        out[0] = '\0';
}

/* deliver_remote - a final address in another domain: one SMTP attempt (remote.c) */
static part_outcome deliver_remote(deliver_run *r, const char *orig, const char *to)
{
    char status[16], reason[5200], verp[600]; /* a remote reply may be 4 KB (remote.c), quoted whole */
    deliver_verp(r, to, verp, sizeof verp);
    int passed = 0; /* the next hop took the DSN parameters: it sends the notices from here on */
    remote_status st = remote_deliver(r->cfg, r->m, to, verp[0] ? verp : NULL, &r->m->rcpt_dsn[r->ri], &passed,
                                      status, sizeof status, reason, sizeof reason);
    if (st == REMOTE_TEMPFAIL)
        return deliver_defer(r, orig, to, reason);
    if (st == REMOTE_PERMFAIL) {
        if (verp[0])
            deliver_bounce_refused(r, orig, to, status, reason);
        else
            deliver_bounce(r, orig, to, status, reason);
        return PART_BOUNCED;
    }
    char q[1500], rid[REPLY_ID_MAX], ot[1100] = "", ri[REPLY_ID_MAX + 16] = "";
    log_quote(q, sizeof q, reason, strlen(reason));
    if (strcasecmp(orig, to) != 0)
        snprintf(ot, sizeof ot, " orig_to=<%s>", orig);
    if (reply_queue_id(reason, strlen(reason), rid, sizeof rid))
        snprintf(ri, sizeof ri, " remote_id=%s", rid); /* the trace names it (mail/reply_id.h) */
    msglog_event(r->m->id, "delivered", "to=<%s>%s relay=remote delay=%llds%s reply=%s", to, ot,
                 (long long)(r->now - r->m->arrival), ri, q);
    if (!passed) /* RFC 3461 5.2.2: "relayed" when the next hop does not do DSN */
        dsn_list_add(&r->dsn, r->m, r->ri, DSN_RELAYED, orig, to, "2.0.0", reason);
    r->seen = xrealloc(r->seen, (r->nseen + 1) * sizeof *r->seen);
    r->seen[r->nseen++] = xstrdup(to);
    return PART_DONE;
}

/*
 * deliver_collect - a bounce to one of our VERP return paths: the readable
 * copy to the original sender when that is an enabled mailbox here, then parsed and
 * counted (collect.h). Forwarding first means a deferral retries before
 * anything was counted; a collector failure after it retries both (one
 * extra copy, never a double count). Never bounces.
 */
static part_outcome deliver_collect(deliver_run *r, const char *orig, const char *to, const char *qid,
                                    const char *rcpt)
{
    char sender[400];
    int known = collect_sender(r->cfg->db_path, qid, sender, sizeof sender);
    if (known < 0)
        return deliver_defer(r, orig, to, "message log unavailable");
    acct_user u;
    acct_status mb = known ? accounts_user_get(r->acct, sender, &u) : ACCT_NOTFOUND;
    if (mb == ACCT_TEMPFAIL)
        return deliver_defer(r, orig, to, "account database unavailable");
    /* a mailbox here (not an alias, not disabled: nothing sent to a bounce address may bounce) */
    if (mb == ACCT_OK && !u.disabled && !deliver_seen(r, sender)) {
        part_outcome o = deliver_local(r, to, sender);
        if (o != PART_DONE)
            return o == PART_DEFERRED ? o : PART_DONE; /* a bounced copy: still collected, never bounced */
    }
    size_t counted = 0;
    if (collect_bounce(r->cfg, r->m, to, qid, rcpt, &counted) != COLLECT_OK)
        return deliver_defer(r, orig, to, "bounce database unavailable");
    msglog_event(r->m->id, "delivered", "to=<%s> relay=collector orig_id=%s counted=%zu forwarded_to=<%s>", to,
                 qid, counted, known ? sender : "");
    return PART_DONE;
}

/* deliver_part - one final address: local mailbox, unknown local, or remote */
static part_outcome deliver_part(deliver_run *r, const char *orig, const char *to)
{
    if (deliver_seen(r, to))
        return PART_DONE; /* same mailbox reached twice: one copy */
    r->cur_relay = "local";
    const char *at = strrchr(to, '@');
    if (!at) {
        deliver_bounce(r, orig, to, "5.1.3", "recipient address has no domain");
        return PART_BOUNCED;
    }
    acct_status d = accounts_domain_is_local(r->acct, at + 1);
    if (d == ACCT_TEMPFAIL)
        return deliver_defer(r, orig, to, "account database unavailable");
    if (d != ACCT_OK) {
        r->cur_relay = "remote";
        return deliver_remote(r, orig, to);
    }
    char qid[64], vrcpt[400];
    if (bounce_verp_check(to, qid, sizeof qid, vrcpt, sizeof vrcpt) == VERP_VALID)
        return deliver_collect(r, orig, to, qid, vrcpt);
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
    r->relay = r->cur_relay = "local";
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
        msglog_event(r->m->id, "deferred", "to=<%s> relay=%s delay=%llds attempts=%u next_in=%llds reason=%s",
                     r->m->rcpts[i], r->relay ? r->relay : "local", (long long)(r->now - r->m->arrival), att,
                     (long long)(when - r->now), q);
        if (deliver_warn_due(r, st))
            dsn_list_add(&r->dsn, r->m, i, DSN_DELAYED, r->m->rcpts[i], r->m->rcpts[i], "4.4.7", r->reason);
        snprintf(payload, plen, "%zu deferred %u %lld %s", i, att, (long long)when, r->reason);
        if (!*next || when < *next)
            *next = when;
    }
}

/* deliver_commit - append one outcome record; counts what is still pending. A lone
 * recipient's final outcome is not recorded: queue_remove follows at once, so the
 * record would be fsynced only to be unlinked (a crash in between delivers again:
 * at-least-once, never lost). */
static void deliver_commit(deliver_run *r, queue_rcpt_status out, const char *payload, deliver_result *res,
                           int *pending)
{
    if (r->m->nrcpts == 1 && out != QRCPT_DEFERRED)
        return;
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

/* deliver_start - lock the message against `queue delete` and honour a hold; 0 go on (*lk locked), -1 stop */
static int deliver_start(const pochta_config *cfg, const char *id, time_t now, int *lk, deliver_result *res)
{
    queue_lock_status ls = queue_lock(cfg->queue_dir, id, 0, lk);
    if (ls == QUEUE_LOCK_GONE) {
        res->gone = 1;
        return -1;
    }
    if (ls != QUEUE_LOCK_OK) {
        if (ls == QUEUE_LOCK_ERROR)
            log_error(id, "event=deliver_error op=lock error=\"%s\"", strerror(errno));
        res->next = now + 1; /* the CLI holds it for a moment (queue delete), or a passing error */
        return -1;
    }
    if (queue_held(cfg->queue_dir, id)) {
        log_info(id, "event=held reason=\"pochta queue hold\"");
        res->held = 1;
        queue_unlock(*lk);
        return -1;
    }
    return 0;
}

/*
 * deliver_due - deliver every due recipient (all of them when force); the
 * number still pending. Outcomes that a notice reports are recorded only
 * after the notice is durable (dsn_send), so a crash can send a notice
 * twice but never lose it; the others are recorded at once, keeping the
 * window for duplicates small.
 */
static int deliver_due(deliver_run *r, queue_rcpt_state *st, int force, deliver_result *res)
{
    int pending = 0;
    size_t nlater = 0;
    struct { queue_rcpt_status out; char payload[1200]; } *later = NULL; /* records after the notices */
    for (size_t i = 0; i < r->m->nrcpts; i++) {
        if (st[i].status == QRCPT_DONE || st[i].status == QRCPT_BOUNCED)
            continue;
        if (!res->held && queue_held(r->cfg->queue_dir, r->m->id))
            res->held = 1; /* put on hold during this run: no further attempts */
        if (res->held || (st[i].status == QRCPT_DEFERRED && st[i].next > r->now && !r->expired && !force)) {
            pending++;
            if (!res->next || st[i].next < res->next)
                res->next = st[i].next > r->now ? st[i].next : r->now + 1;
            continue;
        }
        if (!r->acct) {
            /* no database handle: nothing can be decided; try again soon, count no attempt */
            pending++;
            res->next = r->now + (time_t)deliver_backoff(r->cfg, 1);
            continue;
        }
        size_t before = r->dsn.n + r->refused.n;
        queue_rcpt_status out = deliver_rcpt(r, i, &st[i]);
        char payload[1200];
        deliver_outcome(r, i, &st[i], out, &res->next, payload, sizeof payload);
        if (r->dsn.n + r->refused.n == before) {
            deliver_commit(r, out, payload, res, &pending);
            continue;
        }
        later = xrealloc(later, (nlater + 1) * sizeof *later);
        later[nlater].out = out;
        snprintf(later[nlater++].payload, sizeof later->payload, "%s", payload);
    }
    deliver_send(r);
    for (size_t k = 0; k < nlater; k++)
        deliver_commit(r, later[k].out, later[k].payload, res, &pending);
    free(later);
    return pending;
}

/* deliver_message - one run over every due recipient of id */
void deliver_message(const pochta_config *cfg, accounts *acct, const char *id, time_t now, int force,
                     deliver_result *res)
{
    queue_msg *m;
    queue_rcpt_state *st;
    int lk = -1;
    memset(res, 0, sizeof *res);
    if (deliver_start(cfg, id, now, &lk, res) < 0)
        return;
    if (deliver_load(cfg, id, now, &m, &st, res) < 0) {
        queue_unlock(lk);
        return;
    }
    deliver_run r = {.cfg = cfg, .acct = acct, .m = m, .now = now};
    r.expired = cfg->queue_lifetime && now >= m->arrival + (time_t)cfg->queue_lifetime;
    int pending = deliver_due(&r, st, force, res);
    if (!pending) {
        if (queue_remove(cfg->queue_dir, id) == QUEUE_OK) {
            msglog_event(id, "removed", "nrcpt=%zu", m->nrcpts);
            res->finished = 1;
        } else {
            res->next = now + (time_t)deliver_backoff(cfg, 1);
        }
    }
    queue_unlock(lk);
    for (size_t i = 0; i < r.nseen; i++)
        free(r.seen[i]);
    free(r.seen);
    queue_state_free(st, m->nrcpts);
    free(st);
    queue_msg_free(m);
}
