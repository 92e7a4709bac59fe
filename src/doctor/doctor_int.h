/*
 * doctor_int - state of one domain run, shared by the files of src/doctor
 * (doctor_dns.c: domain, MX, IP, blocklists; doctor_auth.c: SPF, DKIM,
 * DMARC; doctor_smtp.c: the SMTP probes). Not for other modules.
 */
#ifndef POCHTA_DOCTOR_DOCTOR_INT_H
#define POCHTA_DOCTOR_DOCTOR_INT_H

#include "doctor/doctor.h"

#include <stdint.h>

/* DOCTOR_MAX_ADDRS - addresses kept per MX host */
#define DOCTOR_MAX_ADDRS 4

typedef struct doctor_mx {
    char *host;                     /* lower case, no trailing dot (owned) */
    uint16_t pref;
    char *addr[DOCTOR_MAX_ADDRS];   /* A then AAAA, presentation form (owned) */
    size_t naddr;
} doctor_mx;

typedef struct doctor_ctx {
    struct event_base *base;
    dns_resolver *r;
    const doctor_opts *o;
    doctor_report *rep;
    doctor_mx mx[DOCTOR_MAX_MX];    /* by preference */
    size_t nmx;
    char ip[64];                    /* the server IP checked, "" when unknown */
    char helo[256];                 /* the HELO name checked, "" when unknown */
} doctor_ctx;

/* doctor_lookup - one synchronous query; *out (may be NULL) freed by the caller with dns_answer_free */
dns_status doctor_lookup(doctor_ctx *c, const char *name, uint16_t type, dns_answer **out);
/* doctor_ip_equal - same address (text forms compared as binary, so ::1 equals 0::1) */
int doctor_ip_equal(const char *a, const char *b);
/* doctor_resolves_to - DNS_OK when name has an A/AAAA equal to ip, DNS_NODATA when it has others, else the failure */
dns_status doctor_resolves_to(doctor_ctx *c, const char *name, const char *ip, char *seen, size_t seenlen);

/* doctor_looks_dynamic - 1 when a reverse name holds the address (127-0-0-4, reversed, hex) or an
 * access-network word as a whole token (dyn, pool, dsl, cable, ppp, dhcp, client, ...) */
int doctor_looks_dynamic(const char *name, const char *ip);

void doctor_check_spf(doctor_ctx *c);
void doctor_check_dkim(doctor_ctx *c);
void doctor_check_dmarc(doctor_ctx *c);
void doctor_check_smtp(doctor_ctx *c);

#endif
