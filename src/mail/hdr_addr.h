/*
 * hdr_addr - the addresses of a message's From: header (RFC 5322 3.6.2,
 * 3.4), for the submission service's "From: must be yours" check, and of
 * To:/Cc:/Bcc: for `pochta sendmail -t`.
 *
 * Understands display names, quoted strings, comments (nested), angle
 * addresses, groups ("team: a@x, b@y;") and folded lines. It does not
 * validate addresses fully: it returns what a mail reader would show as
 * the sender address, lower-cased, so the caller compares it with what the
 * user owns. Exactly one From: header is required (RFC 5322 3.6).
 *
 * Limits: the From: field (unfolded) at most HDR_FROM_MAX bytes; at most
 * `max` addresses; each at most MAIL_PATH_MAX bytes. Anything past a limit
 * is an error, never truncated silently.
 */
#ifndef POCHTA_MAIL_HDR_ADDR_H
#define POCHTA_MAIL_HDR_ADDR_H

#include <stddef.h>

#include "mail/addr.h"

#define HDR_FROM_MAX 4096

typedef enum {
    HDR_FROM_OK = 0,
    HDR_FROM_NONE = -1,     /* no From: header */
    HDR_FROM_MANY = -2,     /* more than one From: header */
    HDR_FROM_SYNTAX = -3,   /* unbalanced quotes/brackets, empty, an address without @ */
    HDR_FROM_TOO_LONG = -4, /* over a limit */
} hdr_from_status;

/*
 * hdr_from_addrs - parse the header block of msg (CRLF or LF lines, up to
 * the first empty line) and store the From: addresses in out[0..*n).
 */
hdr_from_status hdr_from_addrs(const char *msg, size_t len, char (*out)[MAIL_PATH_MAX], size_t max, size_t *n);
/*
 * hdr_addrs - the addresses of every `name:` field (e.g. "to", "cc", "bcc";
 * case-insensitive) into out[0..*n); HDR_FROM_NONE when there is no such
 * field. An empty group ("undisclosed-recipients:;") gives *n = 0.
 */
hdr_from_status hdr_addrs(const char *msg, size_t len, const char *name, char (*out)[MAIL_PATH_MAX], size_t max,
                          size_t *n);
/* hdr_from_error - short English text for a failure status */
const char *hdr_from_error(hdr_from_status st);

#endif
