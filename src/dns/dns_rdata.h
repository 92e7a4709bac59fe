/*
 * dns_rdata - decode one record's wire-format RDATA into the text form of
 * dns_rr (see dns.h). Used by the unbound backend; separate so it can be
 * unit-tested and fuzzed without a resolver.
 */
#ifndef POCHTA_DNS_DNS_RDATA_H
#define POCHTA_DNS_DNS_RDATA_H

#include "dns/dns.h"
#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

/* DNS_RDATA_MAX - cap on one decoded record: RDATA is at most 65535 bytes, escapes can triple names */
#define DNS_RDATA_MAX (65536 * 4)

/*
 * dns_rdata_parse - append the text form of rd (len bytes, type) to out
 * and set *pref (MX preference, else 0). 0, or -1 when the RDATA is
 * malformed (out then holds junk: reset it).
 */
int dns_rdata_parse(uint16_t type, const unsigned char *rd, size_t len, buf *out, uint16_t *pref);

#endif
