/*
 * bounce_internal - what the parts of src/bounce share: the decoded view of
 * a bounce message (bounce_doc, filled by bounce_mime.c from GMime) and the
 * PCRE2 helpers used by the parser, the classifier and explain.
 */
#ifndef POCHTA_BOUNCE_BOUNCE_INTERNAL_H
#define POCHTA_BOUNCE_BOUNCE_INTERNAL_H

#include "bounce/bounce.h"
#include "lib/buf.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* bounce_doc - a bounce message decoded to UTF-8 text */
typedef struct bounce_doc {
    buf body;            /* human-readable parts (text/plain, else text/html without tags) */
    buf dsn;             /* message/delivery-status parts */
    buf orig;            /* headers of the returned message (rfc822 part or text/rfc822-headers) */
    buf fbl;             /* message/feedback-report fields (RFC 5965) */
    bool feedback;       /* a message/feedback-report part */
    bool report;         /* multipart/report */
    char *from, *to, *subject, *auto_submitted, *precedence, *failed_rcpts;
    bool autoreply_hdr;  /* X-Autoreply, X-Autorespond, Precedence: auto_reply, ... */
} bounce_doc;

/* bounce_mime_read - decode raw into doc (zeroed by the caller); false if GMime found no message */
bool bounce_mime_read(const char *raw, size_t len, bounce_doc *doc);
void bounce_doc_free(bounce_doc *doc);

/* bounce_re_compile - compile pat (caseless, UTF); NULL on error after logging it */
pcre2_code *bounce_re_compile(const char *pat);
/*
 * bounce_re_find - match re in s[0..len) from offset start; true with
 * ovector copied to ov (2*nov entries, unused set to PCRE2_UNSET).
 */
bool bounce_re_find(const pcre2_code *re, const char *s, size_t len, size_t start, size_t *ov, size_t nov);

/* bounce_rules_init - compile the classifier rules; 0 or -1 */
int bounce_rules_init(void);
/* bounce_rules_match - first reason whose rule matches text, or NULL */
const char *bounce_rules_match(const char *text, size_t len);
/* bounce_status_reason - reason implied by an enhanced status alone, or NULL */
const char *bounce_status_reason(const char *status);
/* bounce_status_decisive - reason an unambiguous status fixes by itself, or NULL */
const char *bounce_status_decisive(const char *status);
/* bounce_pseudo_status - Sisimai-style x.0.9NN status for reason and class '4'/'5' */
void bounce_pseudo_status(const char *reason, char cls, char out[16]);
/* bounce_find_codes - first enhanced status / reply code in text ("" when none) */
void bounce_find_codes(const char *text, char status[16], char reply[4]);

/* bounce_unprefix - diag as the rules read it: addresses masked, repeated reply prefixes removed; caller frees */
char *bounce_unprefix(const char *diag);

/* bounce_explain_init - compile explain's patterns; 0 or -1 */
int bounce_explain_init(void);

/* bounce_rcpt_add - append a recipient (address copied, <> stripped); NULL past BOUNCE_MAX_RCPTS */
bounce_rcpt *bounce_rcpt_add(bounce_report *r, const char *addr, size_t len);
/* bounce_rcpt_find - the recipient with addr (case-insensitive), or NULL */
bounce_rcpt *bounce_rcpt_find(bounce_report *r, const char *addr);
/* bounce_one_line - s[0..len) with runs of white space made one space, capped at BOUNCE_MAX_DIAG; caller frees */
char *bounce_one_line(const char *s, size_t len);

/* bounce_dsn_read - recipients of RFC 3464 fields in dsn; returns how many were added */
size_t bounce_dsn_read(const char *dsn, size_t len, bounce_report *r);
/* bounce_notice_end - offset in body where the copy of the returned message starts (len if none) */
size_t bounce_notice_end(const char *body, size_t len);
/* bounce_text_recipients - add the failed recipients named in a free-text notice; returns how many */
size_t bounce_text_recipients(const char *notice, size_t len, const char *const *skip, bounce_report *r);
/* bounce_text_context - the notice lines about addr (the address's lines and those after); caller frees */
char *bounce_text_context(const char *notice, size_t len, const char *addr, const bounce_report *r);
/* bounce_notify_is - whether text is a JSON bounce/delivery notification (Amazon SES) */
bool bounce_notify_is(const char *s, size_t len);
/* bounce_notify_read - add the recipients of such a notification; returns how many */
size_t bounce_notify_read(const char *s, size_t len, bounce_report *r);
/* bounce_stage - SMTP command named in text ("RCPT", "DATA", ...) into out, or "" */
void bounce_stage(const char *text, char out[12]);
/* bounce_remote_host - remote host named in text, or NULL; caller frees */
char *bounce_remote_host(const char *text);

#endif
