/*
 * smtp_auth - SPF at MAIL FROM; DKIM, DMARC and the authentication headers
 * at the end of data (API and replies in smtp_auth.h).
 *
 * MAIL FROM: the MAIL FROM identity (postmaster@HELO for <>, RFC 7208 2.4)
 * and the HELO identity (2.3) are checked at once; the HELO result is kept
 * for the session while the HELO name stays. A fail of either refuses the
 * sender (RFC 7208 8.4) unless spf_fail_action = mark; a MAIL FROM
 * temperror defers (8.6); neutral, softfail, none and permerror only mark.
 *
 * End of data: DKIM verification of every signature and the DMARC policy
 * lookup of the From domain run together; then dmarc_evaluate (RFC 7489
 * 6.6) with the SPF and DKIM identifiers. Our Received: stays first in the
 * message as the session wrote it; Authentication-Results and Received-SPF
 * go above it (RFC 8601 5, RFC 7208 9.1), and Authentication-Results
 * fields already in the message that claim our authserv-id are removed.
 * DMARC results of messages with a published policy go to dmarcstore.
 */
#include "smtp/smtp_auth.h"
#include "smtp/smtp_session.h"

#include "auth/authres.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "config/config.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue.h"
#include "store/dmarcstore.h"
#include "store/msglog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* SMTP_AUTH_EXPLAIN_MAX - characters of a sender's exp= text put into our reply */
#define SMTP_AUTH_EXPLAIN_MAX 300
/* SMTP_AUTH_HDR_EXTRA - room for our Authentication-Results and Received-SPF above the size limit */
#define SMTP_AUTH_HDR_EXTRA (AUTHRES_MAX + 4096)

/* The end-of-data work of one message. */
typedef struct smtp_auth_msg {
    smtp_auth_data_fn cont;
    dkim_verify *dkim_q;
    dmarc_lookup *dmarc_q;
    unsigned pending;             /* lookups not answered yet (+1 while starting) */
    int async;                    /* the session waits for us */
    dkim_results dkim;
    dmarc_lookup_result lk;
    int have_lk;
    authres_from_status from_st;
    char from[256];
    dmarc_eval ev;
    const char *override;
    char text[800];               /* reply text on refusal */
} smtp_auth_msg;

typedef struct smtp_auth {
    spf_check *q_mail, *q_helo;
    spf_result *spf_mail, *spf_helo;
    char *helo_of;                /* the HELO name spf_helo belongs to */
    smtp_auth_mail_fn mail_cont;
    smtp_auth_msg *m;
} smtp_auth;

/* smtp_auth_get - the session's state, made on first use */
static smtp_auth *smtp_auth_get(smtp_session *s)
{
    if (!s->authn)
        s->authn = xcalloc(1, sizeof *s->authn);
    return s->authn;
}

/* smtp_auth_forwarder - whether the client is a trusted forwarder (checked, never refused) */
static int smtp_auth_forwarder(const smtp_session *s)
{
    static cidr_list nets; /* loop thread only; parsed again if the setting changes */
    static const char *parsed;
    const char *text = s->srv->cfg->auth_trusted_forwarders;
    if (!text)
        return 0;
    if (parsed != text) {
        char err[160];
        if (cidr_list_parse(text, &nets, err, sizeof err) < 0)
            nets.count = 0; /* config_load checked it already */
        parsed = text;
    }
    return cidr_list_match(&nets, s->ip);
}

/* smtp_auth_skip - our own users' mail is not checked: submission, AUTH, trusted_networks */
static int smtp_auth_skip(const smtp_session *s)
{
    if (s->service != SMTP_SERVICE_MX || s->auth_user || (s->msg && s->msg->auth_user))
        return 1;
    return s->srv->trusted && cidr_list_match(s->srv->trusted, s->ip);
}

/* smtp_auth_clean - copy remote text for a reply: one line, printable, capped */
static void smtp_auth_clean(char *out, size_t outlen, const char *in)
{
    size_t n = 0;
    for (; in && *in && n + 1 < outlen && n < SMTP_AUTH_EXPLAIN_MAX; in++) {
        unsigned char c = (unsigned char)*in;
        out[n++] = c < ' ' || c >= 0x7f || c == '%' ? '?' : (char)c;
    }
    out[n] = '\0';
}

/* smtp_auth_refuse_spf - refuse the sender for an SPF fail of res */
static void smtp_auth_refuse_spf(smtp_session *s, const spf_result *res)
{
    char why[SMTP_AUTH_EXPLAIN_MAX + 1];
    char *def = res->explanation ? NULL : spf_default_explanation(res);
    smtp_auth_clean(why, sizeof why, res->explanation ? res->explanation : def);
    free(def);
    msglog_event(s->msg->id, "refused", "session=%s code=550 enh=5.7.23 spf=fail identity=%s domain=%s",
                 s->id, res->identity == SPF_ID_HELO ? "helo" : "mailfrom", res->domain ? res->domain : "");
    if (res->identity == SPF_ID_HELO)
        smtp_session_reply(s, 550, "5.7.23", "SPF check of your HELO name %.100s failed: %s; the domain's SPF "
                           "record must list this client [%s] (RFC 7208)", res->domain, why, s->ip);
    else
        smtp_session_reply(s, 550, "5.7.23", "SPF check of sender <%.200s> failed: %s; if this mail is "
                           "legitimate, the sender's domain must list this server in its SPF record", res->sender,
                           why);
}

/* smtp_auth_mail_verdict - both SPF checks answered: 1 = go on, 0 = refused (replied) */
static int smtp_auth_mail_verdict(smtp_session *s, smtp_auth *a)
{
    const pochta_config *cfg = s->srv->cfg;
    int reject = strcmp(cfg->spf_fail_action, "reject") == 0 && !smtp_auth_forwarder(s);
    int defer = strcmp(cfg->spf_temperror_action, "defer") == 0 && !smtp_auth_forwarder(s);
    const spf_result *mail = a->spf_mail, *helo = a->spf_helo;
    msglog_event(s->msg->id, "spf", "mailfrom=%s helo=%s domain=%s mechanism=%s", spf_result_name(mail->code),
                 helo ? spf_result_name(helo->code) : "none", mail->domain ? mail->domain : "-",
                 mail->mechanism ? mail->mechanism : "-");
    if (reject && helo && helo->code == SPF_FAIL) {
        smtp_auth_refuse_spf(s, helo);
        return 0;
    }
    if (reject && mail->code == SPF_FAIL) {
        smtp_auth_refuse_spf(s, mail);
        return 0;
    }
    if (defer && mail->code == SPF_TEMPERROR) {
        msglog_event(s->msg->id, "refused", "session=%s code=451 enh=4.4.3 spf=temperror", s->id);
        smtp_session_reply(s, 451, "4.4.3", "Temporary DNS failure while checking the SPF record of %.200s; "
                           "try again later", mail->domain ? mail->domain : "your domain");
        return 0;
    }
    return 1;
}

/* smtp_auth_mail_done - one SPF check answered */
static void smtp_auth_mail_done(smtp_session *s, smtp_auth *a)
{
    if (a->q_mail || a->q_helo)
        return; /* the other one is still running */
    s->flags &= ~(unsigned)SMTP_FLAG_WAITING;
    if (s->state == SMTP_STATE_CLOSING)
        return;
    if (smtp_auth_mail_verdict(s, a)) {
        a->mail_cont(s);
    } else {
        smtp_data_abandon(s);
        smtp_session_error(s);
    }
    if (!(s->flags & SMTP_FLAG_WAITING) && s->state != SMTP_STATE_CLOSING)
        smtp_session_resume(s);
}

/* smtp_auth_on_mail - the MAIL FROM identity's result */
static void smtp_auth_on_mail(void *arg, spf_result *res)
{
    smtp_session *s = arg;
    smtp_auth *a = s->authn;
    a->q_mail = NULL;
    a->spf_mail = res;
    smtp_auth_mail_done(s, a);
}

/* smtp_auth_on_helo - the HELO identity's result */
static void smtp_auth_on_helo(void *arg, spf_result *res)
{
    smtp_session *s = arg;
    smtp_auth *a = s->authn;
    a->q_helo = NULL;
    a->spf_helo = res;
    smtp_auth_mail_done(s, a);
}

/* smtp_auth_start_spf - one check of s's client for identity id */
static spf_check *smtp_auth_start_spf(smtp_session *s, spf_identity id, spf_done_fn done)
{
    spf_request req = {
        .base = s->srv->base,
        .ip = s->ip,
        .mail_from = s->msg->sender,
        .helo = s->helo ? s->helo : "",
        .receiver = s->srv->cfg->hostname,
        .identity = id,
    };
    return spf_check_start(s->srv->dns, &req, done, s);
}

/* smtp_auth_mail - see smtp_auth.h */
void smtp_auth_mail(smtp_session *s, smtp_auth_mail_fn cont)
{
    if (smtp_auth_skip(s)) {
        cont(s);
        return;
    }
    smtp_auth *a = smtp_auth_get(s);
    spf_result_free(a->spf_mail);
    a->spf_mail = NULL;
    a->mail_cont = cont;
    const char *helo = s->helo ? s->helo : "";
    if (!a->helo_of || strcasecmp(a->helo_of, helo) != 0) {
        spf_result_free(a->spf_helo);
        a->spf_helo = NULL;
        free(a->helo_of);
        a->helo_of = xstrdup(helo);
        if (helo[0] != '[') /* an address literal is no HELO identity */
            a->q_helo = smtp_auth_start_spf(s, SPF_ID_HELO, smtp_auth_on_helo);
    }
    a->q_mail = smtp_auth_start_spf(s, SPF_ID_MAILFROM, smtp_auth_on_mail);
    s->flags |= SMTP_FLAG_WAITING;
}

/* smtp_auth_spf - see smtp_auth.h */
const spf_result *smtp_auth_spf(const smtp_session *s)
{
    return s->authn ? s->authn->spf_mail : NULL;
}

/* smtp_auth_msg_free - cancel what is in flight and free */
static void smtp_auth_msg_free(smtp_auth_msg *m)
{
    if (!m)
        return;
    if (m->dkim_q)
        dkim_verify_cancel(m->dkim_q);
    if (m->dmarc_q)
        dmarc_lookup_cancel(m->dmarc_q);
    free(m);
}

/* smtp_auth_reset - see smtp_auth.h */
void smtp_auth_reset(smtp_session *s)
{
    smtp_auth *a = s->authn;
    if (!a)
        return;
    if (a->q_mail) {
        spf_check_cancel(a->q_mail);
        a->q_mail = NULL;
    }
    if (a->q_helo) { /* the HELO result is unfinished: ask again next time */
        spf_check_cancel(a->q_helo);
        a->q_helo = NULL;
        free(a->helo_of);
        a->helo_of = NULL;
    }
    spf_result_free(a->spf_mail);
    a->spf_mail = NULL;
    smtp_auth_msg_free(a->m);
    a->m = NULL;
}

/* smtp_auth_free - see smtp_auth.h */
void smtp_auth_free(smtp_session *s)
{
    if (!s->authn)
        return;
    smtp_auth_reset(s);
    spf_result_free(s->authn->spf_helo);
    free(s->authn->helo_of);
    free(s->authn);
    s->authn = NULL;
}

/* smtp_auth_spf_ident - the SPF identifier DMARC aligns: MAIL FROM domain, or HELO for <> */
static int smtp_auth_spf_ident(const spf_result *r, dmarc_ident *out)
{
    if (!r || !r->domain)
        return 0;
    out->domain = r->domain;
    out->result = r->code == SPF_PASS        ? DMARC_AUTH_PASS
                  : r->code == SPF_TEMPERROR ? DMARC_AUTH_TEMPERROR
                  : r->code == SPF_PERMERROR ? DMARC_AUTH_PERMERROR
                                             : DMARC_AUTH_FAIL;
    return 1;
}

/* smtp_auth_dkim_list - "DOMAIN SELECTOR RESULT;..." for the result store */
static void smtp_auth_dkim_list(const dkim_results *d, buf *out)
{
    for (size_t i = 0; i < d->count; i++)
        buf_printf(out, "%s%s %s %s", i ? ";" : "", d->sig[i].domain, d->sig[i].selector,
                   dkim_result_name(d->sig[i].result));
}

/* smtp_auth_store - keep the DMARC result of a message whose domain publishes a policy */
static void smtp_auth_store(smtp_session *s, const smtp_auth_msg *m)
{
    if (!m->have_lk || m->lk.status != DMARC_LOOKUP_FOUND)
        return;
    const spf_result *spf = smtp_auth_spf(s);
    buf dk;
    buf_init(&dk, 4096);
    smtp_auth_dkim_list(&m->dkim, &dk);
    dmarcstore_row row = {
        .id = s->msg->id, .ts = time(NULL), .source_ip = s->ip, .header_from = m->from,
        .envelope_from = s->msg->sender, .policy_domain = m->lk.policy_domain,
        .p = dmarc_policy_name(m->lk.rec.p), .sp = dmarc_policy_name(m->lk.rec.sp), .pct = m->lk.rec.pct,
        .adkim = m->lk.rec.adkim_strict ? "s" : "r", .aspf = m->lk.rec.aspf_strict ? "s" : "r",
        .rua = m->lk.rec.rua[0] ? m->lk.rec.rua : NULL, .result = dmarc_result_name(m->ev.result),
        .disposition = dmarc_policy_name(m->ev.action), .override = m->override,
        .dkim_aligned = m->ev.aligned_dkim, .spf_aligned = m->ev.aligned_spf,
        .spf_domain = spf ? spf->domain : NULL, .spf_scope = spf && spf->mail_from[0] ? "mfrom" : "helo",
        .spf_result = spf ? spf_result_name(spf->code) : NULL, .dkim = buf_cstr(&dk),
    };
    dmarcstore_add(&row);
    buf_free(&dk);
}

/* smtp_auth_evaluate - DMARC verdict of the message into m->ev; the reply code it calls for (0 = accept) */
static int smtp_auth_evaluate(smtp_session *s, smtp_auth_msg *m)
{
    const pochta_config *cfg = s->srv->cfg;
    dmarc_ident spf, dk[DKIM_MAX_SIGS];
    int have_spf = smtp_auth_spf_ident(smtp_auth_spf(s), &spf);
    size_t ndk = dmarc_dkim_idents(&m->dkim, dk, DKIM_MAX_SIGS);
    dmarc_evaluate(m->from, &m->lk, have_spf ? &spf : NULL, dk, ndk, arc4random_uniform(100), &m->ev);
    int forwarder = smtp_auth_forwarder(s), enforce = strcmp(cfg->dmarc_policy, "enforce") == 0;
    if (m->ev.result == DMARC_RESULT_FAIL && m->ev.policy != DMARC_POLICY_NONE) {
        m->override = forwarder ? "trusted_forwarder" : !enforce ? "local_policy" : m->ev.sampled_out ? "sampled_out"
                                                                                                    : NULL;
        if (forwarder || !enforce)
            m->ev.action = DMARC_POLICY_NONE;
    }
    if (m->ev.result == DMARC_RESULT_FAIL && m->ev.action == DMARC_POLICY_REJECT) {
        snprintf(m->text, sizeof m->text, "Message rejected per DMARC policy of %.200s: neither SPF nor DKIM "
                 "authenticated the From domain %.200s; the sender must sign with DKIM or send from a server its "
                 "SPF record lists", m->ev.policy_domain, m->from);
        return 550;
    }
    if (m->ev.result == DMARC_RESULT_FAIL && m->ev.action == DMARC_POLICY_QUARANTINE)
        s->msg->junk = 1;
    int dns_trouble = m->lk.status == DMARC_LOOKUP_TEMPERROR ||
                      (m->ev.result == DMARC_RESULT_TEMPERROR && m->ev.policy != DMARC_POLICY_NONE);
    if (dns_trouble && !forwarder && strcmp(cfg->dmarc_temperror_action, "defer") == 0) {
        snprintf(m->text, sizeof m->text, "Temporary DNS failure while checking the DMARC policy of %.200s (%.120s); "
                 "try again later", m->from, m->ev.reason[0] ? m->ev.reason : "lookup failed");
        return 451;
    }
    return 0;
}

/* smtp_auth_from_problem - no single From domain: none without From; with several domains or an
 * unparsable From, refuse when enforcing (RFC 7489 6.6.1 allows it), or the From would go unchecked */
static int smtp_auth_from_problem(smtp_session *s, smtp_auth_msg *m)
{
    if (m->from_st == AUTHRES_FROM_NONE) {
        m->ev.result = DMARC_RESULT_NONE;
        return 0;
    }
    m->ev.result = DMARC_RESULT_PERMERROR;
    snprintf(m->ev.reason, sizeof m->ev.reason, "%s", m->from_st == AUTHRES_FROM_MULTIPLE
             ? "From names several domains or From fields" : "From field cannot be parsed");
    if (strcmp(s->srv->cfg->dmarc_policy, "enforce") != 0 || smtp_auth_forwarder(s))
        return 0;
    snprintf(m->text, sizeof m->text, "Message refused: %s, so DMARC cannot tell who sent it; send exactly one "
             "From field with addresses of one domain (RFC 5322 3.6.2, RFC 7489 6.6.1)",
             m->from_st == AUTHRES_FROM_MULTIPLE ? "its From names several domains or appears more than once"
                                                 : "its From field cannot be parsed");
    return 550;
}

/* smtp_auth_headers - put Authentication-Results and Received-SPF above our Received:, drop forged A-R */
static void smtp_auth_headers(smtp_session *s, const smtp_auth_msg *m)
{
    queue_msg *msg = s->msg;
    const pochta_config *cfg = s->srv->cfg;
    smtp_auth *a = s->authn;
    authres_input in = {
        .authserv_id = cfg->authserv_id, .spf_mail = a->spf_mail, .spf_helo = a->spf_helo, .dkim = &m->dkim,
        .dmarc = &m->ev,
        .from_domain = m->from_st == AUTHRES_FROM_OK ? m->from : NULL, .dmarc_override = m->override,
    };
    buf nb;
    buf_init(&nb, msg->data.cap + SMTP_AUTH_HDR_EXTRA);
    authres_header(&in, &nb);
    if (a->spf_mail) {
        char *rs = spf_received_header(a->spf_mail);
        buf_printf(&nb, "%s\r\n", rs);
        free(rs);
    }
    size_t top = nb.len;
    buf_append(&nb, msg->data.data, s->received_len);
    int dropped = authres_strip_ours(msg->data.data + s->received_len, msg->data.len - s->received_len,
                                     cfg->authserv_id, &nb);
    if (dropped < 0) { /* cannot happen with the room we made; keep the message as it was */
        buf_free(&nb);
        return;
    }
    if (dropped > 0)
        log_info(msg->id, "event=forged_authres removed=%d authserv_id=%s", dropped, cfg->authserv_id);
    s->received_len += top;
    buf_free(&msg->data);
    msg->data = nb;
    msg->data.cap = nb.cap;
}

/* smtp_auth_finish - every lookup answered: decide, write headers, hand back to the session */
static void smtp_auth_finish(smtp_session *s, smtp_auth_msg *m)
{
    smtp_auth *a = s->authn;
    int code = 0;
    if (m->from_st == AUTHRES_FROM_OK && m->have_lk)
        code = smtp_auth_evaluate(s, m);
    else
        code = smtp_auth_from_problem(s, m);
    char q[300];
    log_quote(q, sizeof q, m->from, strlen(m->from));
    msglog_event(s->msg->id, "auth", "dkim=%s dkim_sigs=%zu dmarc=%s from_domain=%s policy=%s action=%s%s%s",
                 m->dkim.count ? dkim_result_name(m->dkim.sig[0].result) : "none", m->dkim.found,
                 dmarc_result_name(m->ev.result), q, dmarc_policy_name(m->ev.policy),
                 code == 550 ? "reject" : code == 451 ? "defer" : dmarc_policy_name(m->ev.action),
                 m->override ? " override=" : "", m->override ? m->override : "");
    smtp_auth_store(s, m);
    if (code == 0)
        smtp_auth_headers(s, m);
    a->m = NULL; /* the continuation may end the transaction (smtp_auth_reset) */
    int async = m->async;
    if (async)
        s->flags &= ~(unsigned)SMTP_FLAG_WAITING;
    m->cont(s, code, code == 550 ? "5.7.1" : code == 451 ? "4.4.3" : NULL, m->text);
    free(m);
    if (async && !(s->flags & SMTP_FLAG_WAITING) && s->state != SMTP_STATE_CLOSING)
        smtp_session_resume(s);
}

/* smtp_auth_step - one lookup answered (or the start finished) */
static void smtp_auth_step(smtp_session *s, smtp_auth_msg *m)
{
    if (--m->pending == 0)
        smtp_auth_finish(s, m);
}

/* smtp_auth_on_dkim - every signature checked */
static void smtp_auth_on_dkim(void *arg, const dkim_results *res)
{
    smtp_session *s = arg;
    smtp_auth_msg *m = s->authn->m;
    m->dkim_q = NULL;
    m->dkim = *res;
    smtp_auth_step(s, m);
}

/* smtp_auth_on_dmarc - the policy record (or its absence) */
static void smtp_auth_on_dmarc(void *arg, const dmarc_lookup_result *res)
{
    smtp_session *s = arg;
    smtp_auth_msg *m = s->authn->m;
    m->dmarc_q = NULL;
    m->lk = *res;
    m->have_lk = 1;
    smtp_auth_step(s, m);
}

/* smtp_auth_data - see smtp_auth.h */
void smtp_auth_data(smtp_session *s, smtp_auth_data_fn cont)
{
    if (smtp_auth_skip(s)) {
        cont(s, 0, NULL, NULL);
        return;
    }
    smtp_auth *a = smtp_auth_get(s);
    smtp_auth_msg *m = xcalloc(1, sizeof *m);
    a->m = m;
    m->cont = cont;
    m->pending = 3; /* DKIM, DMARC, and this function */
    const char *msg = s->msg->data.data + s->received_len;
    size_t len = s->msg->data.len - s->received_len;
    m->from_st = authres_from_domain(msg, len, m->from, sizeof m->from);
    m->dkim_q = dkim_verify_start(s->srv->dns, msg, len, smtp_auth_on_dkim, s);
    if (m->from_st == AUTHRES_FROM_OK)
        m->dmarc_q = dmarc_lookup_start(s->srv->dns, m->from, smtp_auth_on_dmarc, s);
    else
        m->pending--;
    if (m->pending == 1) { /* nothing to wait for */
        smtp_auth_step(s, m);
        return;
    }
    m->async = 1;
    m->pending--;
    s->flags |= SMTP_FLAG_WAITING;
}
