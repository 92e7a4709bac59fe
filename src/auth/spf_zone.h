/*
 * spf_zone - load a small test zone from a text file into the in-memory
 * resolver (dns_static_new), so a record can be tried before it is
 * published (`pochta spf check --zone FILE`) and the RFC 7208 suite can
 * drive the evaluator through the same DNS interface the daemon uses.
 *
 * Format: one record per line, fields separated by blanks; '#' starts a
 * comment line; blank lines are ignored.
 *   NAME A 192.0.2.1
 *   NAME AAAA 2001:db8::1
 *   NAME MX PREF TARGET          (TARGET "." = the root: a null MX)
 *   NAME PTR|CNAME|NS TARGET
 *   NAME TXT|SPF [STRING...]     (the strings are concatenated; none = empty record)
 *   NAME TIMEOUT                 (the name times out for every type it has
 *                                 no record of in the file; all types when
 *                                 it has none)
 * A field may be written in double quotes to hold blanks; in any field
 * \" \\ and \DDD (decimal byte, as in DNS presentation format) escape.
 *
 * Limits: SPF_ZONE_MAX_FILE bytes of file, SPF_ZONE_MAX_FIELD bytes per
 * field. A partial TIMEOUT is not seen through a CNAME pointing at the name.
 *
 * Ownership: the resolver returned is freed with dns_resolver_free().
 */
#ifndef POCHTA_AUTH_SPF_ZONE_H
#define POCHTA_AUTH_SPF_ZONE_H

#include "dns/dns.h"

#include <stddef.h>

struct event_base;

#define SPF_ZONE_MAX_FILE (16u << 20)
#define SPF_ZONE_MAX_FIELD 65535

/* spf_zone_parse - resolver on base answering from text; NULL with "line N: why" in err */
dns_resolver *spf_zone_parse(struct event_base *base, const char *text, size_t len, char *err, size_t errlen);
/* spf_zone_load - spf_zone_parse of the file at path ("-" = stdin) */
dns_resolver *spf_zone_load(struct event_base *base, const char *path, char *err, size_t errlen);

#endif
