/*
 * dsn - build a delivery status notification (RFC 3464, multipart/report
 * of RFC 6522) for one failed recipient and put it in the queue.
 *
 * The notice has three parts: a plain-language explanation (which address
 * failed, the remote host and stage and the full remote reply as given in
 * the reason, what the status usually means), message/delivery-status, and
 * text/rfc822-headers with the original header. It is injected through
 * queue_inject (pickup/), so it is delivered like any other message: to a
 * local Maildir or out over SMTP. Its sender is the null sender, and a
 * message whose sender is null never gets one (no bounce loops, RFC 5321
 * 4.5.5 / 6.1).
 */
#ifndef POCHTA_DELIVER_DSN_H
#define POCHTA_DELIVER_DSN_H

#include "queue/queue.h"

struct pochta_config;

/* dsn_failed - queue a failure notice to m->sender for recipient to; QUEUE_OK, or QUEUE_TEMPFAIL (logged) */
queue_status dsn_failed(const struct pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                        const char *status, const char *reason);

/*
 * dsn_failed_to - dsn_failed addressed to notify (the message's VERP return
 * path, so the collector records it and then hands it to the sender)
 * instead of the sender; the To: header still names the sender.
 */
queue_status dsn_failed_to(const struct pochta_config *cfg, const queue_msg *m, const char *orig_to, const char *to,
                           const char *status, const char *reason, const char *notify);

/* dsn_delayed - queue one "delayed" notice (Action: delayed, 4.4.7) for recipient to; as dsn_failed */
queue_status dsn_delayed(const struct pochta_config *cfg, const queue_msg *m, const char *to, const char *reason);

#endif
