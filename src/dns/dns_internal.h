/*
 * dns_internal - helpers shared by the dns backends (not for other modules):
 * building a dns_answer, normalising names, delivering a result.
 *
 * Ownership: a dns_answer built here owns its rr array, every rr->text and
 * canon; dns_answer_clear() frees them. name is borrowed from the query.
 */
#ifndef POCHTA_DNS_DNS_INTERNAL_H
#define POCHTA_DNS_DNS_INTERNAL_H

#include "dns/dns.h"

/* DNS_NAME_MAX - longest name in presentation form we keep (RFC 1035 2.3.4: 255 octets wire) */
#define DNS_NAME_MAX 1025
/* DNS_MAX_RR - records kept per answer; more are dropped (a sane answer never comes close) */
#define DNS_MAX_RR 512

/* dns_answer_init - empty answer for name/type with status st */
void dns_answer_init(dns_answer *a, const char *name, uint16_t type, dns_status st);
/* dns_answer_add - append a record; text is copied (len bytes, NUL added) */
void dns_answer_add(dns_answer *a, uint16_t type, uint32_t ttl, uint16_t pref, const char *text, size_t len);
/* dns_answer_clear - free what dns_answer_init/add allocated */
void dns_answer_clear(dns_answer *a);
/* dns_name_norm - lower-case copy of name without the trailing dot into out; -1 when too long or empty label */
int dns_name_norm(const char *name, char *out, size_t outlen);

#endif
