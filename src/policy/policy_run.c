/*
 * policy_run - the engine (policy.h): runs the checks of a stage in order,
 * applies each check's action and the policy mode, holds temporary
 * failures back (a later definite refusal wins), logs one key=value line
 * per check that found something, and reports the stage's verdict.
 *
 * A check either answers at once or starts DNS lookups (policy_lookup) and
 * names a finish function that runs once every lookup answered; then the
 * run goes on with the next check. A run that never waited answers from
 * policy_start itself; one that waited calls its done callback.
 */
#include "policy/policy_internal.h"

#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const policy_stage_names[POLICY_STAGE_COUNT] = {"connect", "helo", "mail", "rcpt", "data"};
static void policy_continue(policy_run *r);

/* policy_stage_name - for logs */
const char *policy_stage_name(policy_stage st)
{
    return st < POLICY_STAGE_COUNT ? policy_stage_names[st] : "?";
}

/* policy_set - fill the current check's result */
void policy_set(policy_run *r, policy_kind kind, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;
    r->cur.kind = kind;
    r->cur.code = code;
    snprintf(r->cur.enh, sizeof r->cur.enh, "%s", enh);
    va_start(ap, fmt);
    vsnprintf(r->cur.text, sizeof r->cur.text, fmt, ap);
    va_end(ap);
}

/* policy_drop_lookups - cancel what is in flight and free kept answers */
static void policy_drop_lookups(policy_run *r)
{
    if (r->cancel_extra)
        r->cancel_extra(r);
    r->cancel_extra = NULL;
    for (size_t i = 0; i < r->nq; i++) {
        if (r->q[i])
            dns_cancel(r->e->dns, r->q[i]);
        if (r->ans[i])
            dns_answer_free(r->ans[i]);
        r->q[i] = NULL;
        r->ans[i] = NULL;
    }
    r->nq = r->pending = 0;
}

/* policy_on_answer - one lookup of the running check answered */
static void policy_on_answer(void *arg, const dns_answer *a)
{
    struct policy_slot *sl = arg;
    policy_run *r = sl->r;
    r->q[sl->idx] = NULL;
    r->ans[sl->idx] = dns_answer_dup(a);
    if (--r->pending > 0)
        return;
    r->async = 1;
    memset(&r->cur, 0, sizeof r->cur);
    if (r->finish(r) == 1)
        return; /* the finish started more lookups */
    policy_continue(r);
}

/* policy_resume - a check's own wait is over */
void policy_resume(policy_run *r)
{
    r->async = 1;
    policy_continue(r);
}

/* policy_lookup - start a lookup for the running check */
void policy_lookup(policy_run *r, const char *name, uint16_t type)
{
    if (r->nq >= POLICY_MAX_LOOKUPS)
        return;
    size_t i = r->nq++;
    r->slot[i] = (struct policy_slot){r, i};
    r->ans[i] = NULL;
    r->pending++;
    r->q[i] = dns_lookup(r->e->dns, name, type, policy_on_answer, &r->slot[i]);
}

/* policy_act_name - for logs */
static const char *policy_act_name(const policy_run *r)
{
    if (r->e->conf.mode == POLICY_MODE_WARN)
        return "warn_mode";
    return r->item->act == POLICY_ACT_WARN ? "warn" : r->item->act == POLICY_ACT_DEFER ? "defer" : "reject";
}

/* policy_log - one line for a check that found something */
static void policy_log(policy_run *r)
{
    char q[600];
    const policy_ctx *c = r->ctx;
    log_quote(q, sizeof q, r->cur.text, strlen(r->cur.text));
    log_info(c->id, "event=policy stage=%s check=%s verdict=%s action=%s code=%d enh=%s client=%s[%s] "
             "helo=%s from=<%s> to=<%s> queue_id=%s text=%s",
             policy_stage_name(r->stage), policy_check_name(r->item->id),
             r->cur.kind == POLICY_REJECT ? "reject" : r->cur.kind == POLICY_DEFER ? "defer" : "accept",
             policy_act_name(r), r->cur.code, r->cur.enh[0] ? r->cur.enh : "-", c->client_name ? c->client_name : "unknown",
             c->ip, c->helo ? c->helo : "-", c->sender ? c->sender : "", c->rcpt ? c->rcpt : "",
             c->queue_id ? c->queue_id : "-", q);
}

/* policy_soften - a refusal made temporary by the defer action: 4xx with the same detail */
static void policy_soften(policy_result *res)
{
    if (res->code >= 500) {
        res->code = res->code == 552 ? 452 : 450;
        res->enh[0] = '4';
    }
    res->kind = POLICY_DEFER;
}

/* policy_after_check - apply action and mode to r->cur; 1 when the stage is decided */
static int policy_after_check(policy_run *r)
{
    policy_drop_lookups(r);
    if (r->cur.kind == POLICY_DUNNO)
        return 0;
    r->cur.check = policy_check_name(r->item->id);
    policy_log(r);
    if (r->cur.kind == POLICY_ACCEPT) {
        r->final = r->cur;
        return 1;
    }
    if (r->e->conf.mode == POLICY_MODE_WARN || r->item->act == POLICY_ACT_WARN)
        return 0;
    if (r->item->act == POLICY_ACT_DEFER)
        policy_soften(&r->cur);
    if (r->cur.kind == POLICY_REJECT || r->cur.close) {
        r->final = r->cur;
        return 1;
    }
    if (!r->have_held) {
        r->held = r->cur;
        r->have_held = 1;
    }
    return 0;
}

/* policy_exempted - whether the running check is switched off for ctx by policy_exempt */
static int policy_exempted(policy_run *r)
{
    const policy_list *l = r->e->conf.exempt[r->item->id];
    return l && policy_list_match(l, r->ctx);
}

/* policy_finish - the stage is over: report */
static void policy_finish(policy_run *r)
{
    if (!r->final.kind && r->have_held)
        r->final = r->held;
    r->decided = 1;
    if (!r->async)
        return; /* policy_start copies r->final out */
    policy_result res = r->final;
    policy_done_fn done = r->done;
    void *arg = r->arg;
    free(r);
    done(arg, &res);
}

/* policy_continue - run checks from r->next until one waits or the stage is decided */
static void policy_continue(policy_run *r)
{
    if (r->item && policy_after_check(r)) {
        policy_finish(r);
        return;
    }
    const policy_conf *pc = &r->e->conf;
    while (r->next < pc->nitems[r->stage]) {
        r->item = &pc->items[r->stage][r->next++];
        if (policy_exempted(r))
            continue;
        memset(&r->cur, 0, sizeof r->cur);
        if (policy_checks[r->item->id].run(r) == 1)
            return;
        if (policy_after_check(r))
            break;
    }
    policy_finish(r);
}

/* policy_skip_reason - authenticated, trusted and whitelisted clients skip every check */
const char *policy_skip_reason(policy_engine *e, const policy_ctx *ctx)
{
    if (e->conf.mode == POLICY_MODE_OFF)
        return "policy_off";
    if (ctx->authenticated)
        return "authenticated";
    if (ctx->trusted || cidr_list_match(&e->trusted, ctx->ip))
        return "trusted_network";
    if (policy_list_match(&e->conf.whitelist, ctx))
        return "whitelisted";
    return NULL;
}

/* policy_start - run a stage */
policy_run *policy_start(policy_engine *e, policy_stage stage, policy_ctx *ctx, policy_done_fn done, void *arg,
                         policy_result *out)
{
    memset(out, 0, sizeof *out);
    const char *skip = policy_skip_reason(e, ctx);
    if (skip) {
        log_debug(ctx->id, "event=policy stage=%s verdict=skip reason=%s", policy_stage_name(stage), skip);
        out->kind = POLICY_ACCEPT;
        return NULL;
    }
    policy_run *r = xcalloc(1, sizeof *r);
    r->e = e;
    r->stage = stage;
    r->ctx = ctx;
    r->done = done;
    r->arg = arg;
    policy_continue(r);
    if (r->decided) {
        *out = r->final;
        free(r);
        return NULL;
    }
    r->async = 1;
    return r;
}

/* policy_cancel - forget a run in flight */
void policy_cancel(policy_run *r)
{
    if (!r)
        return;
    policy_drop_lookups(r);
    free(r);
}

/* policy_engine_new - parse the settings, open the greylist store if a stage uses it */
policy_engine *policy_engine_new(const pochta_config *cfg, struct event_base *base, dns_resolver *dns,
                                 struct accounts *accounts, char *err, size_t errlen)
{
    policy_engine *e = xcalloc(1, sizeof *e);
    e->cfg = cfg;
    e->base = base;
    e->dns = dns;
    e->accounts = accounts;
    e->rate = policy_rate_new();
    e->callout_rate = policy_rate_new();
    if (policy_conf_parse(cfg, &e->conf, err, errlen) < 0)
        goto fail;
    if (cfg->trusted_networks && cidr_list_parse(cfg->trusted_networks, &e->trusted, err, errlen) < 0)
        goto fail;
    int grey = 0;
    for (size_t i = 0; i < e->conf.nitems[POLICY_STAGE_RCPT]; i++)
        grey |= e->conf.items[POLICY_STAGE_RCPT][i].id == CHK_GREYLIST;
    if (grey && e->conf.mode != POLICY_MODE_OFF) {
        if (!(e->grey = greylist_sqlite_open(cfg->db_path, err, errlen)))
            goto fail;
        e->grey->delay = cfg->greylist_delay;
        e->grey->window = cfg->greylist_window;
        e->grey->expire = cfg->greylist_expire;
        e->grey->awl = cfg->greylist_auto_whitelist;
    }
    return e;
fail:
    policy_engine_free(e);
    return NULL;
}

/* policy_engine_free - close everything */
void policy_engine_free(policy_engine *e)
{
    if (!e)
        return;
    policy_conf_free(&e->conf);
    greylist_free(e->grey);
    policy_rate_free(e->rate);
    policy_rate_free(e->callout_rate);
    policy_vcache_free(e->vcache);
    free(e);
}
