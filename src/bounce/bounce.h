/*
 * bounce - read bounce messages (non-delivery reports, delay notices,
 * auto-replies, abuse feedback reports) and say what went wrong.
 *
 * bounce_parse() takes one raw message (RFC 5322) and lists every failed
 * or delayed recipient with its enhanced status (RFC 3463), SMTP reply
 * code, remote MTA, diagnostic text, SMTP stage, a reason from Sisimai's
 * published taxonomy and whether the failure is permanent for the address
 * (a "hard" bounce). RFC 3464 message/delivery-status reports are read
 * first; otherwise the free-text notices of the common MTAs. MIME (parts,
 * transfer encodings, RFC 2047 words, charsets) is decoded by GMime, so
 * every text reaching the rules is UTF-8. Auto-replies (RFC 3834) come
 * back as kind BOUNCE_KIND_AUTOREPLY with reason "vacation" and feedback
 * reports (RFC 5965) as BOUNCE_KIND_FEEDBACK, never as failures.
 *
 * Limits: input over BOUNCE_MAX_INPUT bytes is refused; at most
 * BOUNCE_MAX_RCPTS recipients and BOUNCE_MAX_DIAG bytes of diagnostic per
 * recipient are kept. The classification rules are data: bounce_rules.def
 * (reason patterns with their language) and bounce_explain.def.
 */
#ifndef POCHTA_BOUNCE_BOUNCE_H
#define POCHTA_BOUNCE_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define BOUNCE_MAX_INPUT (10u * 1024 * 1024)
#define BOUNCE_MAX_RCPTS 1000
#define BOUNCE_MAX_DIAG 1000

typedef enum {
    BOUNCE_KIND_NONE = 0,   /* not a bounce: no recipients */
    BOUNCE_KIND_DSN,        /* a delivery status notification of any format */
    BOUNCE_KIND_AUTOREPLY,  /* vacation / out-of-office reply */
    BOUNCE_KIND_FEEDBACK,   /* RFC 5965 abuse report */
} bounce_kind;

typedef enum {
    BOUNCE_PARSE_OK = 0,
    BOUNCE_PARSE_TOO_BIG = -1,   /* input over BOUNCE_MAX_INPUT */
    BOUNCE_PARSE_ERROR = -2,     /* the library could not start (rules did not compile) */
} bounce_parse_status;

/* bounce_rcpt - one failed, delayed (or reported) recipient; strings owned by the report */
typedef struct bounce_rcpt {
    char *recipient;      /* address, lower-cased domain kept as found */
    char status[16];      /* enhanced status "5.1.1"; x.0.9NN when guessed from the reason */
    char reply_code[4];   /* "550" or "" */
    const char *reason;   /* static taxonomy name, e.g. "userunknown" */
    bool hard;            /* permanent for this address: stop mailing it */
    char action[16];      /* DSN action: failed, delayed, delivered, ... */
    char *diagnostic;     /* server's words, one line, UTF-8 */
    char *remote_mta;     /* host that answered, or "" */
    char smtp_command[12];/* CONN HELO EHLO STARTTLS AUTH MAIL RCPT DATA or "" */
} bounce_rcpt;

typedef struct bounce_report {
    bounce_kind kind;
    size_t nrcpt;
    bounce_rcpt *rcpt;
    char *reporting_mta;
    struct {
        char *message_id, *from, *to, *subject;
    } original;
} bounce_report;

/* bounce_class - what the classifier says about one diagnostic */
typedef struct bounce_class {
    const char *reason;   /* taxonomy name */
    bool hard;
    char status[16];      /* found in the text, or guessed */
    char reply_code[4];
    bool by_rule;         /* a rule of bounce_rules.def matched the text (else status or nothing) */
} bounce_class;

/* bounce_init - start GMime and compile the rules; 0, or -1 if a rule does not compile */
int bounce_init(void);

/*
 * bounce_parse - parse raw (len bytes) into *out (zeroed first; free with
 * bounce_report_free even on error). A message that is not a bounce gives
 * BOUNCE_PARSE_OK with kind BOUNCE_KIND_NONE and no recipients.
 */
bounce_parse_status bounce_parse(const char *raw, size_t len, bounce_report *out);
/* bounce_parse_hint - bounce_parse, with hint as the recipient when the report names none (from VERP) */
bounce_parse_status bounce_parse_hint(const char *raw, size_t len, const char *hint, bounce_report *out);
void bounce_report_free(bounce_report *r);

/*
 * bounce_classify - reason, hard/soft, status and reply code for one
 * diagnostic text (status/reply may be given by a DSN, else NULL/"").
 */
void bounce_classify(const char *diag, const char *status, const char *reply, bounce_class *out);

/* bounce_reason_hard - whether reason with status class (4 or 5) means the address is dead */
bool bounce_reason_hard(const char *reason, char status_class);

/* bounce_reason_summary - one sentence for reason in lang "en" or "ru" (never NULL) */
const char *bounce_reason_summary(const char *reason, const char *lang);

/* bounce_report_json - write r as one JSON object (see README: pochta bounce parse --json) */
void bounce_report_json(FILE *out, const bounce_report *r);
/* bounce_json_string - write s as a JSON string literal */
void bounce_json_string(FILE *out, const char *s);

#endif
