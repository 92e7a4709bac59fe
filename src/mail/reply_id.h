/*
 * reply_id - find the receiving server's queue ID in its final 250 reply
 * to DATA, so the delivery trace can name it ("delivered, remote queue ID
 * 4XyZ12") and a support desk can quote it to the other side's admin.
 *
 * There is no standard for this (RFC 5321 4.2 leaves the text free); the
 * forms recognised are the common ones:
 *     "... queued as ID"            Postfix, pochta
 *     "... id=ID" / "InternalId=ID" Exim, Microsoft
 *     "250 2.0.0 ID Message accepted for delivery"   Sendmail
 *     "... OK  NNNN ID - gsmtp"     Google
 * The ID is a run of letters, digits and ".-_@" of at most REPLY_ID_MAX-1
 * bytes; anything else is "no ID" (never a guess).
 */
#ifndef POCHTA_MAIL_REPLY_ID_H
#define POCHTA_MAIL_REPLY_ID_H

#include <stddef.h>

#define REPLY_ID_MAX 128

/* reply_queue_id - the remote queue ID in reply[0..len) into out; 1 found, 0 none */
int reply_queue_id(const char *reply, size_t len, char *out, size_t outlen);

#endif
