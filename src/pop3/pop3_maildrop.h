/*
 * pop3_maildrop - a POP3 session's snapshot of one Maildir (RFC 1939 maildrop).
 *
 * At login the messages in new/ and cur/ are listed in delivery order
 * (the leading seconds of the Maildir name, then the name) and numbered
 * from 1; that numbering holds for the whole session. Mail arriving later
 * shows in the next session.
 *
 * UIDs (UIDL, RFC 1939 7): the Maildir base name (the file name up to ':'),
 * which never changes when a reader (Dovecot) moves the file from new/ to
 * cur/ or adds flags, so UIDs are stable across sessions and readers. A
 * base name longer than 70 octets or with octets outside 0x21-0x7E is
 * replaced by the hex SHA-256 of it (still stable, 64 octets).
 *
 * Sizes are file sizes: pochta stores messages with CRLF line ends, so
 * that is the octet count sent (files with bare LF, written by other
 * programs, are sent with CRLF and are then a little larger than listed).
 *
 * All functions here touch the disk: call them on a worker thread.
 */
#ifndef POCHTA_POP3_POP3_MAILDROP_H
#define POCHTA_POP3_POP3_MAILDROP_H

#include <stddef.h>

#include "lib/buf.h"

#define POP3_UID_MAX 70          /* RFC 1939 7: a unique-id is 1 to 70 octets */
#define POP3_MAILDROP_MAX 100000 /* messages listed in one session; the rest wait for the next */

typedef struct pop3_msg {
    char *name;                  /* "new/BASE" or "cur/BASE:2,FLAGS" at listing time */
    char uid[POP3_UID_MAX + 1];
    size_t size;
    int deleted;                 /* DELE in this session (applied at QUIT only) */
} pop3_msg;

typedef struct pop3_maildrop {
    char *root;                  /* mail_dir/DOMAIN/LOCAL */
    pop3_msg *msg;
    size_t n;
    unsigned long long total;    /* bytes of all listed messages */
} pop3_maildrop;

/* pop3_maildrop_open - list root; a Maildir that does not exist yet is empty. 0, or -1 with err. Caller frees. */
int pop3_maildrop_open(const char *root, pop3_maildrop **out, char *err, size_t errlen);
void pop3_maildrop_free(pop3_maildrop *d);

/*
 * pop3_maildrop_read - message i (0-based) as sent for RETR (lines < 0) or
 * TOP i lines: CRLF line ends, dot-stuffed (RFC 1939 3), without the final
 * ".". Returns 0, 1 when the file is gone (another client deleted it), or
 * -1 with err.
 */
int pop3_maildrop_read(const pop3_maildrop *d, size_t i, long lines, buf *out, char *err, size_t errlen);

/*
 * pop3_maildrop_format - a message's bytes as sent (the parser behind
 * pop3_maildrop_read, no disk): lines end in CRLF (a bare LF becomes CRLF,
 * a last line without an end gets one), lines starting with "." get one
 * more; lines >= 0 keeps the headers, the blank line and that many body
 * lines. 0, or -1 when out's cap is reached.
 */
int pop3_maildrop_format(const char *data, size_t len, long lines, buf *out);

/*
 * pop3_maildrop_expunge - delete every message marked deleted (the UPDATE
 * state, RFC 1939 6) and subtract them from maildirsize. *removed counts
 * files removed (or already gone); returns 0, or -1 when some could not be
 * removed (err says why).
 */
int pop3_maildrop_expunge(pop3_maildrop *d, size_t *removed, char *err, size_t errlen);

#endif
