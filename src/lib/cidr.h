/*
 * cidr - lists of IPv4/IPv6 networks ("127.0.0.0/8, 192.0.2.7, ::1/128")
 * and the test "is this address inside one of them".
 *
 * Used for `trusted_networks` (hosts that may relay without AUTH). A list
 * is written with commas and/or blanks between entries; an entry without
 * "/BITS" is one host. At most CIDR_LIST_MAX entries; the text is checked
 * whole (cidr_list_parse fails on the first bad entry, naming it).
 *
 * Ownership: cidr_list_parse fills a caller-owned cidr_list (no heap).
 */
#ifndef POCHTA_LIB_CIDR_H
#define POCHTA_LIB_CIDR_H

#include <stddef.h>

#define CIDR_LIST_MAX 64

typedef struct cidr_net {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network bytes, host bits cleared */
    unsigned bits;           /* prefix length */
} cidr_net;

typedef struct cidr_list {
    size_t count;
    cidr_net net[CIDR_LIST_MAX];
} cidr_list;

/* cidr_list_parse - text into list; 0, or -1 with err naming the bad entry. NULL/"" is the empty list. */
int cidr_list_parse(const char *text, cidr_list *list, char *err, size_t errlen);
/* cidr_list_match - 1 when ip (textual IPv4 or IPv6) lies in one of the networks, else 0 */
int cidr_list_match(const cidr_list *list, const char *ip);

#endif
