/*
 * smtp_auth - sender authentication in the inbound SMTP session: SPF at
 * MAIL FROM (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) at the end of
 * the message, Authentication-Results (RFC 8601) and Received-SPF headers.
 *
 * Everything waits on the daemon's asynchronous resolver; the session
 * stops reading meanwhile (SMTP_FLAG_WAITING) and goes on with the
 * continuation it passed. Checks are skipped for authenticated and
 * submission sessions and for trusted_networks clients (our own users'
 * mail); auth_trusted_forwarders are checked and recorded but never
 * refused (a forwarder breaks SPF by design).
 *
 * Replies: SPF fail 550 5.7.23 (spf_fail_action = reject), SPF temperror
 * 451 4.4.3 (spf_temperror_action = defer), DMARC reject 550 5.7.1, DMARC
 * DNS failure 451 4.4.3 (dmarc_temperror_action = defer). A DNS problem is
 * never answered with a 5xx.
 */
#ifndef POCHTA_SMTP_SMTP_AUTH_H
#define POCHTA_SMTP_SMTP_AUTH_H

#include "auth/spf.h"

struct smtp_session;

/* smtp_auth_mail_fn - the MAIL FROM check let the sender through: go on with the next MAIL stage */
typedef void (*smtp_auth_mail_fn)(struct smtp_session *s);
/* smtp_auth_data_fn - end-of-data verdict: code 0 = commit; else refuse with code, enh and text */
typedef void (*smtp_auth_data_fn)(struct smtp_session *s, int code, const char *enh, const char *text);

/*
 * smtp_auth_mail - SPF for MAIL FROM and HELO of s->msg. Either cont runs
 * (maybe later) or the sender was refused here (reply sent, transaction
 * dropped) and cont does not run.
 */
void smtp_auth_mail(struct smtp_session *s, smtp_auth_mail_fn cont);
/* smtp_auth_spf - the MAIL FROM SPF result of the current transaction, or NULL (not checked, or skipped) */
const spf_result *smtp_auth_spf(const struct smtp_session *s);

/*
 * smtp_auth_data - the message is complete: DKIM, DMARC, headers. cont runs
 * exactly once (maybe later) unless the session ends first. On code 0 the
 * headers are in s->msg->data and a quarantine sets s->msg->junk.
 */
void smtp_auth_data(struct smtp_session *s, smtp_auth_data_fn cont);

/* smtp_auth_reset - the transaction ends: cancel its checks, forget its results */
void smtp_auth_reset(struct smtp_session *s);
/* smtp_auth_free - the session ends */
void smtp_auth_free(struct smtp_session *s);

#endif
