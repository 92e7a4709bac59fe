/*
 * smtp_cmd - parse one SMTP command line into a verb, argument, path and
 * ESMTP parameters. No sockets, no state: the session decides what a
 * command means in its current state.
 *
 * RFCs: RFC 5321 4.1.1 (commands), 4.1.2 (argument syntax: Mail-parameters,
 * esmtp-keyword/value), 4.5.3.1.4 (512-octet line); RFC 1870 (SIZE);
 * RFC 6152 (8BITMIME) and RFC 3030 (BINARYMIME, BDAT); RFC 6531 (SMTPUTF8);
 * RFC 3461 (RET, ENVID, NOTIFY, ORCPT; xtext 4); RFC 4954 5 (AUTH=);
 * RFC 3207 (STARTTLS).
 *
 * Accepted leniencies (Postfix accepts them too): one space after "FROM:" /
 * "TO:", several spaces between parameters, trailing white space, and a
 * path without angle brackets ("MAIL FROM: a@b", flagged in bare_path).
 * Refused: duplicate parameters, parameters not defined for the verb,
 * unknown parameters, NUL/CR/LF inside the line.
 *
 * UTF-8 paths: a MAIL path may hold UTF-8 (local_utf8 / domain_utf8 are
 * set); RFC 6531 wants SMTPUTF8 on that MAIL, which the caller checks
 * (553 5.6.7). RCPT has no SMTPUTF8 parameter of its own (it belongs to the
 * transaction), so RCPT paths are parsed with UTF-8 allowed and the caller
 * checks path.local_utf8 against the MAIL command it kept.
 *
 * Ownership: all pointers in smtp_cmd point into the caller's line, which
 * the parser modifies in place (NUL terminators, xtext decoding).
 */
#ifndef POCHTA_MAIL_SMTP_CMD_H
#define POCHTA_MAIL_SMTP_CMD_H

#include <stddef.h>

#include "mail/addr.h"

#define SMTP_CMD_LINE_MAX 512 /* RFC 5321 4.5.3.1.4, incl. CRLF */
#define SMTP_ENVID_MAX 100    /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500    /* RFC 3461 4.2 */

typedef enum {
    SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT, SMTP_CMD_DATA, SMTP_CMD_BDAT,
    SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT, SMTP_CMD_HELP, SMTP_CMD_VRFY, SMTP_CMD_EXPN,
    SMTP_CMD_STARTTLS, SMTP_CMD_AUTH, SMTP_CMD_UNKNOWN
} smtp_cmd_verb;
typedef enum { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME } smtp_body;
typedef enum { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS } smtp_ret;

#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

typedef enum {
    SMTP_PARSE_OK = 0,
    SMTP_PARSE_UNKNOWN,   /* verb not recognised -> 500 5.5.2 */
    SMTP_PARSE_SYNTAX,    /* bad/missing argument, a repeated parameter, a malformed RET/ENVID/NOTIFY/ORCPT
                             value (RFC 3461 4) -> 501 5.5.4 */
    SMTP_PARSE_BAD_ADDR,  /* bad path in MAIL/RCPT -> 501 5.1.7 / 501 5.1.3 */
    SMTP_PARSE_BAD_PARAM, /* unknown ESMTP parameter, malformed SIZE/BODY/AUTH value -> 555 5.5.4 */
} smtp_parse_status;

typedef struct smtp_cmd {
    smtp_cmd_verb verb;   /* set even when parsing fails (SMTP_CMD_UNKNOWN if not recognised) */
    char *arg;            /* points into the line: argument text after the verb, trimmed, "" if none
                             (HELO/EHLO domain, VRFY/EXPN/HELP argument, AUTH mechanism and initial response);
                             a quoted VRFY/EXPN argument is unquoted in place */
    mail_addr path;       /* MAIL FROM / RCPT TO */
    long long size;       /* SIZE=, -1 when absent (RFC 1870) */
    smtp_body body;       /* BODY= (RFC 6152, RFC 3030) */
    int smtputf8;         /* SMTPUTF8 (RFC 6531) */
    smtp_ret ret;         /* RET= (RFC 3461) */
    char *envid;          /* ENVID= xtext decoded, NULL when absent; points into line */
    char *auth_param;     /* MAIL ... AUTH= xtext decoded ("<>" when unknown), NULL when absent */
    int notify;           /* NOTIFY= flags, 0 when absent */
    char *orcpt;          /* ORCPT= as given (addr-type;xtext), NULL when absent */
    unsigned long long chunk_size; /* BDAT size */
    int last;             /* BDAT ... LAST */
    const char *error;    /* on failure: static text naming the problem, for the reply */
    /* additions */
    int bare_path;        /* MAIL/RCPT path was given without <> (tolerated, as Postfix does) */
    size_t auth_mech_len; /* AUTH: the mechanism is arg[0 .. auth_mech_len) */
    char *auth_initial;   /* AUTH: initial response (points into arg), NULL when absent */
} smtp_cmd;

/* smtp_cmd_parse - parse one command line (CRLF already removed, NUL-terminated, len <= 510).
 * May modify line in place; cmd's pointers point into line. flags: MAIL_ADDR_ALLOW_UTF8 is decided by
 * the command's own SMTPUTF8 parameter, so no flags are needed. Verbs are case-insensitive.
 * "MAIL FROM:<a@b>" and the common "MAIL FROM: <a@b>" (one space after the colon) are both accepted. */
smtp_parse_status smtp_cmd_parse(char *line, size_t len, smtp_cmd *cmd);
/* smtp_cmd_verb_name - "MAIL", ... ("UNKNOWN" for SMTP_CMD_UNKNOWN); static string */
const char *smtp_cmd_verb_name(smtp_cmd_verb v);
/* smtp_notify_parse - a NOTIFY value (NEVER, or a comma list of SUCCESS, FAILURE, DELAY, any case)
 * as SMTP_NOTIFY_* flags; -1 with *why set when it is not one */
int smtp_notify_parse(const char *val, const char **why);
/* smtp_xtext_decode - RFC 3461 4 xtext decoded in place (s is NUL-terminated);
 * returns the decoded length or -1 when s is not valid xtext */
int smtp_xtext_decode(char *s);
/* smtp_xtext_encode - RFC 3461 4 xtext of s ('+', '=' and bytes outside 33..126 as "+XX") into out;
 * returns the length, or -1 when it does not fit (out is then "") */
int smtp_xtext_encode(const char *s, char *out, size_t outlen);

#endif
