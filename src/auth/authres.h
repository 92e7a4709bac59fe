/*
 * authres - the message-level pieces of sender authentication that sit
 * between the verifiers (spf, dkim, dmarc) and the SMTP session:
 *   - the RFC5322.From domain that DMARC evaluates (RFC 7489 6.6.1);
 *   - the Authentication-Results header field (RFC 8601) with our
 *     authserv-id, one resinfo per line;
 *   - removal of incoming Authentication-Results fields that claim our
 *     authserv-id (RFC 8601 section 5: they are forgeries).
 * Pure functions over bytes (CRLF lines), so they are unit-tested and need
 * no loop. The header block is walked without a field limit (padding must
 * not hide a From or a forged field) and ends at the empty line or at the
 * first line that is neither a field nor a continuation. Limits:
 * AUTHRES_MAX bytes of header produced; AUTHRES_MAX_FROM addresses per From
 * (more is BAD).
 */
#ifndef POCHTA_AUTH_AUTHRES_H
#define POCHTA_AUTH_AUTHRES_H

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "lib/buf.h"

#include <stddef.h>

/* AUTHRES_MAX - bytes of one Authentication-Results field we write */
#define AUTHRES_MAX 8192
/* AUTHRES_MAX_FROM - addresses looked at in a From field */
#define AUTHRES_MAX_FROM 32

typedef enum {
    AUTHRES_FROM_OK = 0,        /* exactly one From field naming one domain (several mailboxes of one domain also) */
    AUTHRES_FROM_NONE = 1,      /* no From field, or no address in it */
    AUTHRES_FROM_MULTIPLE = 2,  /* several From fields or mailboxes of different domains */
    AUTHRES_FROM_BAD = 3,       /* a From field that cannot be parsed */
} authres_from_status;

/* authres_from_domain - the From domain of msg (header block, CRLF) into out, lower case */
authres_from_status authres_from_domain(const char *msg, size_t len, char *out, size_t outlen);

/* What the SMTP session knows when it writes Authentication-Results. */
typedef struct authres_input {
    const char *authserv_id;
    const spf_result *spf_mail;    /* MAIL FROM identity (postmaster@HELO for <>), may be NULL */
    const spf_result *spf_helo;    /* HELO identity, may be NULL */
    const dkim_results *dkim;      /* may be NULL (not checked) */
    const dmarc_eval *dmarc;       /* may be NULL (not evaluated) */
    const char *from_domain;       /* header.from, may be NULL */
    const char *dmarc_override;    /* "trusted_forwarder", "local_policy" or NULL */
} authres_input;

/* authres_header - append "Authentication-Results: ...\r\n" (folded) to out */
buf_status authres_header(const authres_input *in, buf *out);

/*
 * authres_strip_ours - copy msg to out without the Authentication-Results
 * fields whose authserv-id is ours (case-insensitive); returns how many
 * were dropped, or -1 when out's cap was hit.
 */
int authres_strip_ours(const char *msg, size_t len, const char *authserv_id, buf *out);

#endif
