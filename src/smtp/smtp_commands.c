/*
 * smtp_commands - the SMTP command table and one handler per command
 * (RFC 5321 4.1.1, RFC 1869/1870/2920/3030/3207/3461/6152/6531).
 *
 * The table says in which states a command is allowed; a command outside
 * them gets the table's "wrong state" reply (503 5.5.1) before its handler
 * runs. Handlers parse nothing themselves: smtp_cmd_parse() did that.
 * Envelope policy (client, HELO, sender, recipient checks, greylisting)
 * runs through smtp_policy.c before the 250 to HELO, MAIL and RCPT and the
 * 354 to DATA; it may wait for DNS.
 */
#include "smtp/smtp_session.h"
#include "smtp/smtp_submit.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_policy.h"

#include "bounce/bounce_store.h"
#include "bounce/bounce_verp.h"
#include "config/config.h"
#include "deliver/maildir_quota.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/addr.h"
#include "mail/smtp_cmd.h"
#include "queue/queue.h"
#include "store/accounts.h"
#include "store/msglog.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_(st) (1u << (st))
#define SMTP_IN_GREETING (S_(SMTP_STATE_GREETED) | S_(SMTP_STATE_HELO) | S_(SMTP_STATE_MAIL) | S_(SMTP_STATE_RCPT))
#define SMTP_IN_SESSION SMTP_IN_GREETING

typedef void (*smtp_handler)(smtp_session *s, smtp_cmd *cmd);

typedef struct smtp_command {
    smtp_cmd_verb verb;
    unsigned states;        /* states in which the command is allowed */
    const char *wrong_state; /* reply text when it is not */
    smtp_handler run;
} smtp_command;

static void smtp_cmd_helo_reply(smtp_session *s);

/* smtp_cmd_helo - HELO/EHLO: remember the name, answer with our extensions */
static void smtp_cmd_helo(smtp_session *s, smtp_cmd *cmd)
{
    const char *arg = cmd->arg;
    size_t len = strlen(arg);
    if (len == 0) {
        smtp_session_reply(s, 501, "5.5.4", "Syntax: %s hostname (give your fully qualified host name)",
                           smtp_cmd_verb_name(cmd->verb));
        smtp_session_error(s);
        return;
    }
    int literal = arg[0] == '[';
    if (literal ? !mail_address_literal_valid(arg, len) : !mail_domain_valid(arg, len)) {
        smtp_session_reply(s, 501, "5.5.4", "Invalid %s argument \"%.100s\": use your host name "
                           "(RFC 5321 4.1.1.1) or an address literal like [192.0.2.1]",
                           smtp_cmd_verb_name(cmd->verb), arg);
        smtp_session_error(s);
        return;
    }
    smtp_session_reset(s);
    free(s->helo);
    s->helo = xstrdup(arg);
    smtp_session_set_state(s, SMTP_STATE_HELO);
    if (cmd->verb == SMTP_CMD_HELO)
        s->flags &= ~(unsigned)SMTP_FLAG_EHLO;
    else
        s->flags |= SMTP_FLAG_EHLO;
    smtp_policy_helo(s, smtp_cmd_helo_reply); /* HELO checks (smtp_policy.c); refusals are given at MAIL */
}

/* smtp_cmd_helo_reply - the 250 to HELO, or to EHLO with our extensions */
static void smtp_cmd_helo_reply(smtp_session *s)
{
    const pochta_config *cfg = s->srv->cfg;
    if (!(s->flags & SMTP_FLAG_EHLO)) {
        smtp_session_reply(s, 250, NULL, "%s Hello %s [%s]", cfg->hostname, s->client_name, s->ip);
        return;
    }
    int tls_offer = s->srv->tls && !(s->flags & SMTP_FLAG_TLS);
    smtp_session_reply(s, 250, NULL,
                       "%s Hello %s [%s]\nPIPELINING\nSIZE %zu\n%s%sENHANCEDSTATUSCODES\n8BITMIME\n"
                       "SMTPUTF8\nCHUNKING\nDSN",
                       cfg->hostname, s->client_name, s->ip, cfg->max_message_size,
                       tls_offer ? "STARTTLS\n" : "", smtp_sasl_ehlo(s));
}

/* smtp_cmd_policy_refused - log a policy refusal in the message log and the session */
static void smtp_cmd_policy_refused(smtp_session *s, const char *what, const policy_result *res)
{
    char quoted[600];
    log_quote(quoted, sizeof quoted, res->text, strlen(res->text));
    if (s->msg)
        msglog_event(s->msg->id, what, "result=refused check=%s code=%d enh=%s text=%s", res->check ? res->check : "-",
                     res->code, res->enh, quoted);
}

/* smtp_cmd_mail_verdict - the MAIL policy stage answered: 250, or refuse and drop the transaction */
static void smtp_cmd_mail_verdict(smtp_session *s, const policy_result *res)
{
    if (res->kind == POLICY_DEFER || res->kind == POLICY_REJECT) {
        smtp_cmd_policy_refused(s, "mail", res);
        smtp_session_reply(s, res->code, res->enh, "%s", res->text);
        smtp_session_reset(s);
        smtp_session_error(s);
        return;
    }
    smtp_session_set_state(s, SMTP_STATE_MAIL);
    smtp_session_reply(s, 250, "2.1.0", "Sender <%s> ok", s->msg->sender);
}

/* smtp_cmd_mail_accept - the sender passed the SPF step: envelope policy (smtp_policy.c), then the reply */
static void smtp_cmd_mail_accept(smtp_session *s)
{
    smtp_policy_mail(s, smtp_cmd_mail_verdict);
}

/* smtp_cmd_mail - MAIL FROM: start a transaction */
static void smtp_cmd_mail(smtp_session *s, smtp_cmd *cmd)
{
    const pochta_config *cfg = s->srv->cfg;
    if (cmd->size >= 0 && (unsigned long long)cmd->size > cfg->max_message_size) {
        smtp_session_reply(s, 552, "5.3.4", "Message size %lld exceeds our limit of %zu bytes; "
                           "send a smaller message or share large files by link",
                           cmd->size, cfg->max_message_size);
        smtp_session_error(s);
        return;
    }
    if (cmd->body == SMTP_BODY_BINARYMIME) {
        smtp_session_reply(s, 555, "5.5.4", "BODY=BINARYMIME is not supported here; send 8BITMIME");
        smtp_session_error(s);
        return;
    }
    if (cmd->path.local_utf8 && !cmd->smtputf8) {
        smtp_session_reply(s, 553, "5.6.7", "Sender address has UTF-8 but SMTPUTF8 was not given");
        smtp_session_error(s);
        return;
    }
    if (!smtp_submit_mail(s, &cmd->path)) /* AUTH, sender ownership, send limits (smtp_submit.c) */
        return;
    smtp_data_new_transaction(s);
    char from[MAIL_PATH_MAX * 4];
    mail_addr_format(&cmd->path, from, sizeof from);
    s->msg->sender = xstrdup(from);
    s->msg->body_8bit = cmd->body == SMTP_BODY_8BITMIME;
    s->msg->smtputf8 = cmd->smtputf8;
    s->msg->dsn_ret = (int)cmd->ret; /* RFC 3461 4.3, 4.4: kept in the queue file for the notices */
    s->msg->dsn_envid = cmd->envid ? xstrdup(cmd->envid) : NULL;
    if (s->auth_user)
        s->msg->auth_user = xstrdup(s->auth_user);
    msglog_event(s->msg->id, "mail", "session=%s client=%s[%s] helo=%s from=<%s> tls=%s", s->id,
                 s->client_name, s->ip, s->helo, from, (s->flags & SMTP_FLAG_TLS) ? "yes" : "no");
    smtp_auth_mail(s, smtp_cmd_mail_accept); /* SPF (smtp_auth.c); may wait for DNS */
}

/* smtp_cmd_rcpt_verdict - reply to RCPT and record the verdict in the message log */
static void smtp_cmd_rcpt_verdict(smtp_session *s, const char *to, int code, const char *enh,
                                  const char *text)
{
    char quoted[600];
    smtp_session_reply(s, code, enh, "<%s>: %s", to, text);
    log_quote(quoted, sizeof quoted, text, strlen(text));
    msglog_event(s->msg->id, "rcpt", "to=<%s> result=%s code=%d enh=%s text=%s", to,
                 code < 300 ? "accepted" : "refused", code, enh, quoted);
    if (code >= 400) {
        s->rcpt_refused++;
        smtp_session_error(s);
    }
}

/* smtp_cmd_rcpt_mailbox - state and quota of a local mailbox (deliver/maildir_quota.h); 1 = fine, else replied */
static int smtp_cmd_rcpt_mailbox(smtp_session *s, const char *to)
{
    char why[256];
    const char *full = s->srv->cfg->quota_full_reply;
    maildir_quota_verdict v = maildir_quota_check(s->srv->accounts, s->srv->cfg->mail_dir, to, 0, why, sizeof why);
    if (v == MAILBOX_TEMPFAIL)
        smtp_cmd_rcpt_verdict(s, to, 451, "4.3.0", "Temporary failure reading the mailbox state; try again later");
    else if (v == MAILBOX_DISABLED)
        smtp_cmd_rcpt_verdict(s, to, 550, "5.2.1", "Mailbox disabled: this address does not accept mail now; "
                              "reach the recipient another way");
    else if (v == MAILBOX_FULL && full && strcmp(full, "reject") == 0)
        smtp_cmd_rcpt_verdict(s, to, 552, "5.2.2", "Mailbox full: the recipient is over quota; "
                              "ask them to delete mail, then send again");
    else if (v == MAILBOX_FULL)
        smtp_cmd_rcpt_verdict(s, to, 452, "4.2.2", "Mailbox full: the recipient is over quota; "
                              "try again later");
    return v == MAILBOX_OK || v == MAILBOX_NOT_MAILBOX;
}

/*
 * smtp_cmd_rcpt_suppressed - a relayed recipient on the bounce suppression
 * list (bounce_store.h) is refused; 1 = refused (replied), 0 = go on
 */
static int smtp_cmd_rcpt_suppressed(smtp_session *s, const char *to)
{
    char why[300];
    bounce_suppress_result b = s->srv->bounces ? bounce_store_suppressed(s->srv->bounces, to, why, sizeof why)
                                               : BOUNCE_NOT_SUPPRESSED;
    if (b == BOUNCE_SUPPRESS_TEMPFAIL)
        smtp_cmd_rcpt_verdict(s, to, 451, "4.3.0", "Temporary failure reading the bounce suppression list; "
                              "try again later");
    else if (b == BOUNCE_SUPPRESSED) {
        char text[1800];
        snprintf(text, sizeof text, "Recipient suppressed: mail to this address bounced as undeliverable (%s), so "
                 "we no longer send to it; remove it from your lists. An administrator can lift this with: "
                 "pochta bounces clear %s", why, to);
        smtp_cmd_rcpt_verdict(s, to, 550, "5.1.1", text);
    }
    return b != BOUNCE_NOT_SUPPRESSED;
}

/* smtp_cmd_rcpt_verp - a valid signed VERP return path of ours (bounce_verp.h) is accepted without a mailbox */
static int smtp_cmd_rcpt_verp(smtp_session *s, const char *to)
{
    char qid[64], rcpt[400];
    if (bounce_verp_check(to, qid, sizeof qid, rcpt, sizeof rcpt) != VERP_VALID)
        return 0; /* a forged or garbled token is an unknown user like any other */
    smtp_cmd_rcpt_verdict(s, to, 250, "2.1.5", "Recipient ok (bounce address: the report will be read and "
                          "recorded for the original message)");
    return 1;
}

/* smtp_cmd_rcpt_lookup - is this a recipient we accept? 0 = refused (replied), 1 = relayed (replied), 2 = local, policy next */
static int smtp_cmd_rcpt_lookup(smtp_session *s, const mail_addr *a, const char *to)
{
    acct_status st = a->is_literal ? ACCT_NOTFOUND : accounts_domain_is_local(s->srv->accounts, a->domain);
    if (st == ACCT_TEMPFAIL) {
        smtp_cmd_rcpt_verdict(s, to, 451, "4.3.0", "Temporary lookup failure in our account database; try again later");
        return 0;
    }
    int relay = st != ACCT_OK && !a->is_literal ? smtp_relay_allowed(s) : 0;
    if (relay < 0) {
        smtp_cmd_rcpt_verdict(s, to, 451, "4.3.0", "Temporary failure checking whether this client may relay "
                              "(POP-before-SMTP lookup); try again later");
        return 0;
    }
    if (relay) {
        if (smtp_cmd_rcpt_suppressed(s, to))
            return 0;
        smtp_cmd_rcpt_verdict(s, to, 250, "2.1.5", s->auth_user ? "Recipient ok (relayed for an authenticated user)"
                                                                : "Recipient ok (relayed for a trusted client)");
        return 1;
    }
    if (st != ACCT_OK) {
        smtp_cmd_rcpt_verdict(s, to, 554, "5.7.1", "Relay access denied: we only accept mail for our own "
                              "domains; to send elsewhere, authenticate on the submission port");
        return 0;
    }
    st = accounts_recipient_exists(s->srv->accounts, to);
    if (st == ACCT_TEMPFAIL) {
        smtp_cmd_rcpt_verdict(s, to, 451, "4.3.0", "Temporary lookup failure in our account database; try again later");
        return 0;
    }
    if (st != ACCT_OK && smtp_cmd_rcpt_verp(s, to))
        return 1;
    if (st != ACCT_OK) {
        smtp_cmd_rcpt_verdict(s, to, 550, "5.1.1", "Recipient address rejected: no such user here; "
                              "check the address for typos");
        return 0;
    }
    if (!smtp_cmd_rcpt_mailbox(s, to))
        return 0;
    return 2; /* a local recipient: the RCPT policy stage decides */
}

/* smtp_cmd_rcpt_policy - the RCPT policy stage answered for a local recipient */
static void smtp_cmd_rcpt_policy(smtp_session *s, const policy_result *res)
{
    const char *to = smtp_policy_rcpt_to(s);
    if (res->kind == POLICY_DEFER || res->kind == POLICY_REJECT) {
        smtp_cmd_rcpt_verdict(s, to, res->code, res->enh, res->text);
        return;
    }
    smtp_cmd_rcpt_verdict(s, to, 250, "2.1.5", "Recipient ok");
    queue_msg_add_rcpt_dsn(s->msg, to, s->rcpt_notify, s->rcpt_orcpt[0] ? s->rcpt_orcpt : NULL);
    smtp_session_set_state(s, SMTP_STATE_RCPT);
}

/* smtp_cmd_rcpt - RCPT TO: accept only existing local recipients (no relay, no backscatter) */
static void smtp_cmd_rcpt(smtp_session *s, smtp_cmd *cmd)
{
    const pochta_config *cfg = s->srv->cfg;
    if (s->msg->nrcpts >= cfg->max_recipients) {
        smtp_session_reply(s, 452, "4.5.3", "Too many recipients (the limit is %u per message); "
                           "send the rest in another message", cfg->max_recipients);
        smtp_session_error(s);
        return;
    }
    mail_addr *a = &cmd->path;
    char to[MAIL_PATH_MAX * 4 + 32];
    if (a->is_postmaster) {
        /* RFC 5321 4.5.1: <Postmaster> without a domain must be accepted. */
        const char *dot = strchr(cfg->hostname, '.');
        snprintf(a->domain, sizeof a->domain, "%s", dot ? dot + 1 : cfg->hostname);
        snprintf(a->local, sizeof a->local, "postmaster");
    }
    if (mail_addr_format(a, to, sizeof to) < 0) {
        smtp_session_reply(s, 501, "5.1.3", "Recipient address too long");
        smtp_session_error(s);
        return;
    }
    for (char *p = to; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (a->local_utf8 && !s->msg->smtputf8) {
        smtp_cmd_rcpt_verdict(s, to, 553, "5.6.7", "Recipient address has UTF-8 but MAIL FROM had no SMTPUTF8");
        return;
    }
    /* the DSN parameters wait with the recipient through the policy stage (RFC 3461 4.1, 4.2) */
    s->rcpt_notify = cmd->notify;
    snprintf(s->rcpt_orcpt, sizeof s->rcpt_orcpt, "%s", cmd->orcpt ? cmd->orcpt : "");
    int found = smtp_cmd_rcpt_lookup(s, a, to);
    if (found == 2)
        smtp_policy_rcpt(s, to, smtp_cmd_rcpt_policy);
    if (found != 1)
        return;
    queue_msg_add_rcpt_dsn(s->msg, to, s->rcpt_notify, s->rcpt_orcpt[0] ? s->rcpt_orcpt : NULL);
    smtp_session_set_state(s, SMTP_STATE_RCPT);
}

static void smtp_cmd_data_verdict(smtp_session *s, const policy_result *res);

/* smtp_cmd_data - DATA: go on to read the message */
static void smtp_cmd_data(smtp_session *s, smtp_cmd *cmd)
{
    if (s->received_len > 0) {
        smtp_session_reply(s, 503, "5.5.1", "DATA is not allowed after BDAT in the same transaction");
        smtp_session_error(s);
        return;
    }
    smtp_policy_data(s, smtp_cmd_data_verdict); /* DATA checks (smtp_policy.c) */
}

/* smtp_cmd_data_verdict - the DATA policy stage answered: 354, or refuse */
static void smtp_cmd_data_verdict(smtp_session *s, const policy_result *res)
{
    if (res->kind == POLICY_DEFER || res->kind == POLICY_REJECT) {
        smtp_cmd_policy_refused(s, "data", res);
        smtp_session_reply(s, res->code, res->enh, "%s", res->text);
        smtp_session_error(s);
        return;
    }
    smtp_session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    smtp_data_begin(s);
}

/* smtp_cmd_bdat - BDAT: read a chunk (RFC 3030); a chunk is read even when refused */
static void smtp_cmd_bdat(smtp_session *s, smtp_cmd *cmd)
{
    smtp_bdat_begin(s, cmd->chunk_size, cmd->last);
}

/* smtp_cmd_rset - RSET */
static void smtp_cmd_rset(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_reset(s);
    smtp_session_reply(s, 250, "2.0.0", "Ok");
}

/* smtp_cmd_noop - NOOP */
static void smtp_cmd_noop(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_reply(s, 250, "2.0.0", "Ok");
}

/* smtp_cmd_quit - QUIT */
static void smtp_cmd_quit(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_close(s, 221, "2.0.0", "%s closing connection, bye", s->srv->cfg->hostname);
}

/* smtp_cmd_help - HELP */
static void smtp_cmd_help(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP "
                       "VRFY STARTTLS; see RFC 5321");
}

/* smtp_cmd_vrfy - VRFY never confirms users (it would hand out a list of valid addresses) */
static void smtp_cmd_vrfy(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_reply(s, 252, "2.5.2", "Cannot VRFY users; send the message and we will try to deliver it");
}

/* smtp_cmd_expn - EXPN would reveal list members */
static void smtp_cmd_expn(smtp_session *s, smtp_cmd *cmd)
{
    smtp_session_reply(s, 502, "5.5.1", "EXPN is disabled on this server");
    smtp_session_error(s);
}

/* smtp_cmd_starttls - STARTTLS (RFC 3207) */
static void smtp_cmd_starttls(smtp_session *s, smtp_cmd *cmd)
{
    if (!s->srv->tls) {
        smtp_session_reply(s, 502, "5.5.1", "STARTTLS is not available: no certificate is configured");
        smtp_session_error(s);
        return;
    }
    if (s->flags & SMTP_FLAG_TLS) {
        smtp_session_reply(s, 503, "5.5.1", "TLS is already active");
        smtp_session_error(s);
        return;
    }
    if (cmd->arg[0]) {
        smtp_session_reply(s, 501, "5.5.4", "Syntax: STARTTLS takes no argument");
        smtp_session_error(s);
        return;
    }
    /* RFC 3207 6: anything the client pipelined after STARTTLS arrived in
     * clear text and must not be taken as if it came over TLS. */
    struct evbuffer *in = bufferevent_get_input(s->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    smtp_session_reply(s, 220, "2.0.0", "Ready to start TLS");
    if (smtp_tls_start(s) < 0) {
        smtp_session_close(s, 454, "4.7.0", "TLS not available due to a local problem; try again later");
        return;
    }
    smtp_session_reset(s);
    free(s->helo);
    s->helo = NULL;
    s->flags = (s->flags | SMTP_FLAG_TLS) & ~(unsigned)SMTP_FLAG_EHLO;
    smtp_session_set_state(s, SMTP_STATE_GREETED);
}

static const smtp_command smtp_commands[] = {
    {SMTP_CMD_HELO, SMTP_IN_GREETING, NULL, smtp_cmd_helo},
    {SMTP_CMD_EHLO, SMTP_IN_GREETING, NULL, smtp_cmd_helo},
    {SMTP_CMD_MAIL, S_(SMTP_STATE_HELO), NULL, smtp_cmd_mail},
    {SMTP_CMD_RCPT, S_(SMTP_STATE_MAIL) | S_(SMTP_STATE_RCPT), "need MAIL command", smtp_cmd_rcpt},
    {SMTP_CMD_DATA, S_(SMTP_STATE_RCPT), NULL, smtp_cmd_data},
    {SMTP_CMD_BDAT, SMTP_IN_SESSION, NULL, smtp_cmd_bdat},
    {SMTP_CMD_RSET, SMTP_IN_SESSION, NULL, smtp_cmd_rset},
    {SMTP_CMD_NOOP, SMTP_IN_SESSION, NULL, smtp_cmd_noop},
    {SMTP_CMD_QUIT, SMTP_IN_SESSION, NULL, smtp_cmd_quit},
    {SMTP_CMD_HELP, SMTP_IN_SESSION, NULL, smtp_cmd_help},
    {SMTP_CMD_VRFY, SMTP_IN_SESSION, NULL, smtp_cmd_vrfy},
    {SMTP_CMD_EXPN, SMTP_IN_SESSION, NULL, smtp_cmd_expn},
    {SMTP_CMD_STARTTLS, S_(SMTP_STATE_GREETED) | S_(SMTP_STATE_HELO), "STARTTLS is not allowed inside a mail transaction", smtp_cmd_starttls},
    {SMTP_CMD_AUTH, SMTP_IN_SESSION, NULL, smtp_sasl_auth},
};

/* smtp_commands_wrong_state - 503 with a text that says what to send first */
static void smtp_commands_wrong_state(smtp_session *s, const smtp_command *c)
{
    const char *why = c->wrong_state;
    if (!why) {
        switch (s->state) {
        case SMTP_STATE_GREETED: why = "send HELO/EHLO first"; break;
        case SMTP_STATE_HELO: why = c->verb == SMTP_CMD_DATA ? "need MAIL and RCPT commands" : "need MAIL command"; break;
        case SMTP_STATE_MAIL: why = c->verb == SMTP_CMD_DATA ? "no valid recipients: every RCPT was refused"
                                                            : "nested MAIL command: finish or RSET the transaction"; break;
        default: why = "nested MAIL command: finish or RSET the transaction"; break;
        }
    }
    int code = (s->state == SMTP_STATE_MAIL && c->verb == SMTP_CMD_DATA) ? 554 : 503;
    smtp_session_reply(s, code, "5.5.1", "Error: %s", why);
    smtp_session_error(s);
}

/* smtp_commands_parse_error - 500/501/555 for a line the parser refused */
static void smtp_commands_parse_error(smtp_session *s, smtp_parse_status st, smtp_cmd *cmd)
{
    const char *why = cmd->error ? cmd->error : "syntax error";
    switch (st) {
    case SMTP_PARSE_UNKNOWN:
        smtp_session_reply(s, 500, "5.5.2", "Error: command not recognized");
        break;
    case SMTP_PARSE_BAD_ADDR:
        if (cmd->verb == SMTP_CMD_MAIL)
            smtp_session_reply(s, 501, "5.1.7", "Bad sender address syntax: %s", why);
        else
            smtp_session_reply(s, 501, "5.1.3", "Bad recipient address syntax: %s", why);
        break;
    case SMTP_PARSE_BAD_PARAM:
        smtp_session_reply(s, 555, "5.5.4", "Unsupported or malformed parameter: %s", why);
        break;
    default:
        smtp_session_reply(s, 501, "5.5.4", "Syntax error in %s: %s", smtp_cmd_verb_name(cmd->verb), why);
        break;
    }
    smtp_session_error(s);
}

/* smtp_commands_is_http - a web request sent to the mail port (cross-protocol
 * attacks through browsers and proxies start like this; Postfix closes too) */
static int smtp_commands_is_http(const char *line)
{
    static const char *const methods[] = {"GET ", "POST ", "HEAD ", "PUT ", "CONNECT "};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strncmp(line, methods[i], strlen(methods[i])) == 0)
            return 1;
    return 0;
}

/* smtp_cmd_mail_refused - a MAIL refused before its transaction: a message-log row of its own, so
 * that `pochta trace ADDRESS` finds it (the reply itself was written already; the session lives on) */
static void smtp_cmd_mail_refused(smtp_session *s, const smtp_cmd *cmd)
{
    char id[QUEUE_ID_SIZE], from[MAIL_PATH_MAX * 4], q[600];
    queue_new_id(id);
    mail_addr_format(&cmd->path, from, sizeof from);
    log_quote(q, sizeof q, s->last_text, strlen(s->last_text));
    msglog_event(id, "mail", "session=%s client=%s[%s] helo=%s from=<%s> result=refused check=mail code=%d enh=%s "
                 "text=%s", s->id, s->client_name, s->ip, s->helo ? s->helo : "-", from, s->last_code,
                 s->last_enh[0] ? s->last_enh : "-", q);
}

/* smtp_commands_dispatch - parse one line, check the state, run the handler */
void smtp_commands_dispatch(smtp_session *s, char *line, size_t len)
{
    if (smtp_commands_is_http(line)) {
        log_info(s->id, "event=http_request client=%s", s->ip);
        smtp_session_close(s, 502, "5.7.0", "This is a mail server and HTTP requests are not accepted; "
                           "closing connection");
        return;
    }
    smtp_cmd cmd;
    smtp_parse_status st = smtp_cmd_parse(line, len, &cmd);
    if (st == SMTP_PARSE_OK && cmd.verb == SMTP_CMD_UNKNOWN)
        st = SMTP_PARSE_UNKNOWN;
    const smtp_command *c = NULL;
    for (size_t i = 0; st != SMTP_PARSE_UNKNOWN && i < sizeof smtp_commands / sizeof smtp_commands[0]; i++)
        if (smtp_commands[i].verb == cmd.verb)
            c = &smtp_commands[i];
    if (!c) {
        smtp_commands_parse_error(s, SMTP_PARSE_UNKNOWN, &cmd);
        return;
    }
    /* BDAT must consume its chunk whatever else is wrong, or the chunk's
     * bytes would be read as commands (RFC 3030 2). */
    if (cmd.verb == SMTP_CMD_BDAT) {
        if (st == SMTP_PARSE_OK)
            c->run(s, &cmd);
        else
            smtp_session_close(s, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]; without a valid size "
                               "the chunk cannot be skipped, closing connection");
        return;
    }
    if (!(c->states & S_(s->state))) {
        smtp_commands_wrong_state(s, c);
        return;
    }
    if (st != SMTP_PARSE_OK) {
        smtp_commands_parse_error(s, st, &cmd);
        return;
    }
    if (cmd.verb == SMTP_CMD_MAIL)
        s->last_code = 0;
    c->run(s, &cmd);
    if (cmd.verb == SMTP_CMD_MAIL && !s->msg && s->last_code >= 400)
        smtp_cmd_mail_refused(s, &cmd); /* refused before a transaction existed (size, AUTH, sender) */
}
