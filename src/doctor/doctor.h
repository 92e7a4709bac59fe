/*
 * doctor - check a domain's mail setup the way receiving servers will, and
 * a message the way their content filters will, and say what to fix
 * (`pochta doctor`, docs/doctor.md).
 *
 * A run fills a doctor_report: a list of checks, each with an id
 * ("spf.pass"), a status (ok / warn / fail / skip), the value seen, why it
 * matters (fixed per id, in the table of doctor_report.c) and the exact
 * record or setting that fixes it. The score is 10 minus the weight of each
 * failed check and half the weight of each warning (never below 0); skipped
 * checks cost nothing. Weights are in the same table and in docs/doctor.md.
 *
 * Domain checks (doctor_run_domain): domain, MX, server IP (PTR, FCrDNS,
 * dynamic-looking, HELO), SPF, DKIM, DMARC, blocklists over the DNS layer
 * (synchronous lookups on one event loop), then SMTP probes of each MX
 * (doctor_smtp.c). Message checks (doctor_run_message): DKIM, alignment,
 * text part, List-Unsubscribe, size, header sanity.
 *
 * A DNS timeout is never "missing": a check whose lookup failed
 * temporarily is a warning that says the answer could not be had.
 */
#ifndef POCHTA_DOCTOR_DOCTOR_H
#define POCHTA_DOCTOR_DOCTOR_H

#include "dns/dns.h"

#include <stddef.h>
#include <stdio.h>

struct event_base;

/* DOCTOR_MAX_SELECTORS - DKIM selectors checked per run */
#define DOCTOR_MAX_SELECTORS 8
/* DOCTOR_MAX_MX - MX hosts looked at (RFC 7208 stops at 10 too) */
#define DOCTOR_MAX_MX 10
/* DOCTOR_MAX_SMTP - MX hosts probed over SMTP (each costs a connection and a TLS handshake) */
#define DOCTOR_MAX_SMTP 3
/* Blocklists asked when none are given; the defaults of doctor_dnsbl / doctor_uribl in config.c */
#define DOCTOR_DNSBL_DEFAULT "zen.spamhaus.org bl.spamcop.net b.barracudacentral.org"
#define DOCTOR_URIBL_DEFAULT "dbl.spamhaus.org multi.uribl.com multi.surbl.org"
/* DOCTOR_MAX_MESSAGE - largest message file read for --message */
#define DOCTOR_MAX_MESSAGE (64u * 1024 * 1024)

typedef enum {
    DOCTOR_OK = 0,
    DOCTOR_WARN,
    DOCTOR_FAIL,
    DOCTOR_SKIP,
} doctor_status;

typedef struct doctor_check {
    const char *id;       /* from the weight table: "spf.pass" */
    doctor_status status;
    char *value;          /* what was seen (owned) */
    char *fix;            /* what to do, or NULL when ok (owned) */
} doctor_check;

typedef struct doctor_report {
    char *subject;        /* the domain or file checked (owned) */
    int message;          /* 1 for --message reports */
    doctor_check *checks; /* in the order run (owned) */
    size_t n, cap;
} doctor_report;

typedef struct doctor_opts {
    const char *domain;
    const char *ip;                 /* server IP; NULL = first address of the best MX */
    const char *helo;               /* HELO name; NULL = first MX host name */
    const char *selectors[DOCTOR_MAX_SELECTORS];
    size_t nselectors;              /* 0 = try common selectors */
    const char *dkim_key;           /* our private key (PEM) for the first selector; NULL = no match check */
    const char *dnsbl;              /* IP lists, comma or space separated (ZONE=CODES*W as in dnsbl_zones
                                       is accepted, the suffixes ignored); NULL = defaults, "" or "none" = none */
    const char *uribl;              /* domain lists; same */
    const char *connect;            /* "ADDR:PORT": probe this SMTP server instead of the MX hosts */
    const char *own_listener;       /* "ADDR:PORT" of our smtp_listen: probed when no MX host has an address */
    unsigned smtp_port;             /* port for MX probes; 0 = 25 */
    int no_smtp;                    /* skip the SMTP probes */
    const char *ca_file;            /* extra CA certificates trusted for STARTTLS (PEM) */
    const char *relay_to;           /* outside address used by the open-relay probe */
    unsigned timeout_ms;            /* per DNS query and per SMTP read */
} doctor_opts;

/* doctor_run_domain - every domain check into rep (initialised here); r runs on base */
void doctor_run_domain(struct event_base *base, dns_resolver *r, const doctor_opts *o, doctor_report *rep);

/* doctor_run_message - content checks of msg (len bytes, LF or CRLF) into rep; r may be NULL (no DKIM check) */
void doctor_run_message(struct event_base *base, dns_resolver *r, const char *name, const char *msg, size_t len,
                        doctor_report *rep);

/* --- report (doctor_report.c) ------------------------------------------------------------------ */

void doctor_report_init(doctor_report *rep, const char *subject, int message);
void doctor_report_free(doctor_report *rep);
/* doctor_add - append check id (must be in the weight table) with a printf value; returns it for doctor_fix */
doctor_check *doctor_add(doctor_report *rep, const char *id, doctor_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* doctor_fix - set the fix text of c */
void doctor_fix(doctor_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* doctor_score - 10 minus the weights of failures and half those of warnings, floored at 0 */
double doctor_score(const doctor_report *rep);
/* doctor_failed - number of checks with status fail */
size_t doctor_failed(const doctor_report *rep);
/* doctor_print_human - grouped, readable report; colour when color is set */
void doctor_print_human(const doctor_report *rep, FILE *out, int color);
/* doctor_print_json - one JSON object: subject, score, max, checks[] */
void doctor_print_json(const doctor_report *rep, FILE *out);
/* doctor_status_name - "ok", "warn", "fail", "skip" */
const char *doctor_status_name(doctor_status st);
/* doctor_why - why check id matters (from the table), or "" */
const char *doctor_why(const char *id);

#endif
