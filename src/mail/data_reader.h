/*
 * data_reader - the DATA phase of SMTP as a byte-stream state machine:
 * finds the end-of-data line, removes dot-stuffing and refuses bare CR and
 * bare LF. Feed it any split of the input (even one byte at a time): the
 * result is the same.
 *
 * RFCs: RFC 5321 4.1.1.4 (end of data is CRLF "." CRLF; the data starts at
 * the beginning of a line, right after the 354 reply), 4.5.2 (a leading dot
 * on a line is removed), 2.3.8 (lines end with CRLF only: a lone CR or LF
 * is refused at once, which closes the SMTP smuggling hole CVE-2023-51764),
 * 4.5.3.1.6 (text lines at most 1000 octets with CRLF, counted as sent,
 * i.e. with a stuffed dot).
 *
 * Deferred errors (too big, line too long): the reader keeps reading to
 * the end of data, cuts out back to what it held at init (so memory stops
 * growing and the result does not depend on how input was split), appends
 * nothing more, and reports dr->error at DATA_DONE, so the session can
 * answer 552/500 in step with the client.
 * After DATA_DONE or a bare CR/LF error the reader takes no more input
 * (feed returns 0) until data_reader_init().
 *
 * Ownership: the reader does not own out; it only appends to it.
 */
#ifndef POCHTA_MAIL_DATA_READER_H
#define POCHTA_MAIL_DATA_READER_H

#include <stddef.h>

#include "lib/buf.h"

#define DATA_LINE_MAX 1000 /* text line incl. CRLF, RFC 5321 4.5.3.1.6 */

typedef enum {
    DATA_MORE = 0,    /* need more input */
    DATA_DONE,        /* saw CRLF.CRLF; check dr->error for a deferred problem */
    DATA_ERR_BARE_LF, /* LF not preceded by CR: refuse at once (SMTP smuggling, CVE-2023-51764) */
    DATA_ERR_BARE_CR, /* CR not followed by LF: refuse at once */
} data_status;

typedef enum { DATA_OK = 0, DATA_TOO_BIG, DATA_LINE_TOO_LONG } data_error;

typedef struct data_reader {
    /* private fields */
    int state;       /* data_reader.c: DR_BOL, DR_DOT, ... */
    size_t line_len; /* octets of the current line so far, without CRLF, as sent */
    size_t base;     /* out->len at init: what the caller put there is never discarded */
    /* public */
    buf *out;         /* message body is appended here, dot-unstuffed, CRLF line ends, without the final ".CRLF" */
    data_error error; /* first deferred error: keep reading to the end, discard data, report at DONE */
    size_t total;     /* octets received (before unstuffing) */
} data_reader;

/* data_reader_init - out's cap is the message size limit; passing it yields DATA_TOO_BIG at DONE.
 * out is not emptied: a caller may put a Received: header there first. */
void data_reader_init(data_reader *dr, buf *out);
/* data_reader_feed - consume input; returns the number of bytes used. Stops right after the end-of-data
 * line (so the rest of the buffer is the next pipelined command) or at a bare CR/LF error.
 * A CR at the very end of the input is not an error yet: it waits for the next feed. */
size_t data_reader_feed(data_reader *dr, const char *p, size_t n, data_status *st);

#endif
