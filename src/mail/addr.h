/*
 * addr - RFC 5321 envelope addresses: paths, mailboxes, domains, literals.
 *
 * API: mail_addr_parse_path() for "<...>" in MAIL FROM / RCPT TO,
 * mail_addr_parse() for a bare "local@domain", mail_addr_format() to write
 * one back, and the domain/literal predicates used for HELO/EHLO.
 *
 * Grammar (RFC 5321 4.1.2, 4.1.3): Path = "<" [ A-d-l ":" ] Mailbox ">",
 * Local-part = Dot-string / Quoted-string, Domain = sub-domain *("." sub-domain)
 * with LDH labels, address literals "[IPv4]" and "[IPv6:...]" (the strict
 * RFC 5321 IPv6 grammar: at most 6 groups besides "::", 4 with an IPv4 tail).
 * With MAIL_ADDR_ALLOW_UTF8 (RFC 6531 3.3) atext/qtext also take well-formed
 * UTF-8 and domains may hold U-labels, converted to A-labels with libidn2.
 * No comments, folding white space or obsolete forms: those belong to
 * RFC 5322 headers, not to the envelope.
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets as received (quotes
 * included), domain 255 octets (A-label form), path 256 octets including
 * "<" ">" and any source route; longer is MAIL_ADDR_TOO_LONG.
 *
 * Nothing here allocates memory that outlives a call; mail_addr is a plain
 * value owned by the caller.
 */
#ifndef POCHTA_MAIL_ADDR_H
#define POCHTA_MAIL_ADDR_H

#include <stddef.h>

#define MAIL_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define MAIL_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define MAIL_PATH_MAX 256   /* RFC 5321 4.5.3.1.3, incl. <> */

typedef struct mail_addr {
    char local[MAIL_LOCAL_MAX * 4 + 3]; /* as received; a quoted local part that needs no quoting is unquoted ("john"->john) */
    char domain[MAIL_DOMAIN_MAX + 1];   /* lower case; IDN U-labels converted to A-labels (libidn2); "[192.0.2.1]" / "[IPv6:...]" kept for literals */
    int is_null;       /* the null path <> */
    int is_literal;    /* domain is an address literal */
    int local_utf8;    /* local part holds non-ASCII (only valid with SMTPUTF8) */
    int domain_utf8;   /* domain was given with U-labels */
    int is_postmaster; /* <Postmaster> (case-insensitive) with no domain, RCPT only */
} mail_addr;

typedef enum { MAIL_ADDR_OK = 0, MAIL_ADDR_SYNTAX = -1, MAIL_ADDR_TOO_LONG = -2 } mail_addr_status;

/* flags */
#define MAIL_ADDR_ALLOW_NULL 0x1       /* MAIL FROM:<> */
#define MAIL_ADDR_ALLOW_POSTMASTER 0x2 /* RCPT TO:<Postmaster> */
#define MAIL_ADDR_ALLOW_UTF8 0x4       /* SMTPUTF8 was given: UTF-8 local parts and U-label domains */

/* mail_addr_parse_path - parse "<...>" (source route "@a,@b:" accepted and dropped, RFC 5321 4.1.2 / C);
 * *consumed = bytes used (so ESMTP params follow). error_text (static string) says what is wrong. */
mail_addr_status mail_addr_parse_path(const char *s, size_t len, int flags, mail_addr *out,
                                      size_t *consumed, const char **error_text);
/* mail_addr_parse - parse a bare address "local@domain" (CLI, headers); same flags.
 * With MAIL_ADDR_ALLOW_NULL an empty string is the null address. */
mail_addr_status mail_addr_parse(const char *s, size_t len, int flags, mail_addr *out, const char **error_text);
/* mail_addr_format - "local@domain" (or "" for null) into out; returns length or -1 if it does not fit.
 * A bare <Postmaster> (empty domain) is written as its local part alone. */
int mail_addr_format(const mail_addr *a, char *out, size_t outlen);
/* mail_domain_valid - RFC 5321 Domain syntax (LDH labels, <=63 per label, <=255 total); 1/0 */
int mail_domain_valid(const char *s, size_t len);
/* mail_address_literal_valid - "[1.2.3.4]" or "[IPv6:...]" ; 1/0 */
int mail_address_literal_valid(const char *s, size_t len);
/* mail_domain_is_fqdn - has at least one dot and a non-numeric TLD; 1/0 */
int mail_domain_is_fqdn(const char *s, size_t len);

/* mail_local_is_dot_string - the local part is a valid RFC 5321 Dot-string
 * (so it needs no quoting); utf8 allows UTF-8 atext (RFC 6531); 1/0 */
int mail_local_is_dot_string(const char *s, size_t len, int utf8);
/* mail_utf8_valid - s is well-formed UTF-8 (no overlongs, no surrogates); 1/0 */
int mail_utf8_valid(const char *s, size_t len);

#endif
