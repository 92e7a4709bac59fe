/*
 * smtp_policy - glue between the SMTP session and the envelope policy
 * engine (src/policy/policy.h): fills the engine's view of the session,
 * runs a stage, waits (SMTP_FLAG_WAITING) when the stage waits for DNS,
 * and hands the verdict to the command handler's continuation.
 *
 * Where verdicts are given: connect and HELO checks run at connect and at
 * HELO/EHLO, but their refusals are answered at MAIL FROM (the client has
 * then said who it is, so the log names the sender; Postfix delays them
 * the same way); a conn_rate refusal closes at once with 421. MAIL, RCPT
 * and DATA refusals are the reply to that command.
 *
 * Only the port-25 service is checked: submission sessions authenticate
 * before MAIL. Authenticated, trusted (trusted_networks, or the relay
 * hook) and whitelisted clients skip every check.
 */
#ifndef POCHTA_SMTP_SMTP_POLICY_H
#define POCHTA_SMTP_SMTP_POLICY_H

#include "policy/policy.h"

struct smtp_session;

/* smtp_policy_cont - go on after a stage; res says DUNNO/ACCEPT (go on) or DEFER/REJECT (refuse with it) */
typedef void (*smtp_policy_cont)(struct smtp_session *s, const policy_result *res);
typedef void (*smtp_policy_next)(struct smtp_session *s);

/* smtp_policy_connect - connect checks; then next(s) (the banner) unless the session was closed */
void smtp_policy_connect(struct smtp_session *s, smtp_policy_next next);
/* smtp_policy_helo - HELO checks for s->helo (verdict kept for MAIL); then next(s) */
void smtp_policy_helo(struct smtp_session *s, smtp_policy_next next);
/* smtp_policy_mail - a kept connect/HELO refusal, else the MAIL checks of s->msg->sender; then cont */
void smtp_policy_mail(struct smtp_session *s, smtp_policy_cont cont);
/* smtp_policy_rcpt - RCPT checks for to (a local recipient that exists); then cont (to is in s's policy state) */
void smtp_policy_rcpt(struct smtp_session *s, const char *to, smtp_policy_cont cont);
/* smtp_policy_rcpt_to - the recipient being checked (valid in the RCPT continuation) */
const char *smtp_policy_rcpt_to(struct smtp_session *s);
/* smtp_policy_data - DATA/BDAT checks; then cont */
void smtp_policy_data(struct smtp_session *s, smtp_policy_cont cont);
/* smtp_policy_free - the session ends: cancel a stage in flight */
void smtp_policy_free(struct smtp_session *s);

#endif
