/*
 * cidr - parse network lists and match addresses against them (cidr.h).
 *
 * Addresses are parsed with inet_pton only, so "010.1.1.1" and other
 * ambiguous spellings are refused rather than guessed at. An IPv4-mapped
 * IPv6 client address (::ffff:192.0.2.1) matches IPv4 networks, since a
 * dual-stack listener reports IPv4 clients that way.
 */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* cidr_parse_bits - "/N" suffix as a number no larger than max; -1 if malformed */
static int cidr_parse_bits(const char *s, unsigned max)
{
    if (!*s || strlen(s) > 3)
        return -1;
    unsigned n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n * 10 + (unsigned)(*s - '0');
    }
    return n > max ? -1 : (int)n;
}

/* cidr_parse_one - one entry "ADDR" or "ADDR/BITS" into net; 0 or -1 */
static int cidr_parse_one(const char *entry, cidr_net *net)
{
    char host[64];
    const char *slash = strchr(entry, '/');
    size_t hlen = slash ? (size_t)(slash - entry) : strlen(entry);
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, entry, hlen);
    host[hlen] = '\0';
    memset(net, 0, sizeof *net);
    unsigned max;
    if (inet_pton(AF_INET, host, net->addr) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, net->addr) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    int bits = slash ? cidr_parse_bits(slash + 1, max) : (int)max;
    if (bits < 0)
        return -1;
    net->bits = (unsigned)bits;
    for (unsigned i = net->bits; i < max; i++)
        net->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    return 0;
}

/* cidr_list_parse - split on commas and blanks, parse each entry */
int cidr_list_parse(const char *text, cidr_list *list, char *err, size_t errlen)
{
    list->count = 0;
    const char *p = text ? text : "";
    static const char sep[] = ", \t";
    for (;;) {
        p += strspn(p, sep);
        if (!*p)
            return 0;
        size_t n = strcspn(p, sep);
        char entry[80];
        if (n >= sizeof entry) {
            snprintf(err, errlen, "network entry too long: '%.40s...'", p);
            return -1;
        }
        memcpy(entry, p, n);
        entry[n] = '\0';
        if (list->count >= CIDR_LIST_MAX) {
            snprintf(err, errlen, "more than %d networks", CIDR_LIST_MAX);
            return -1;
        }
        if (cidr_parse_one(entry, &list->net[list->count]) < 0) {
            snprintf(err, errlen, "bad network '%s': want ADDR or ADDR/BITS (IPv4 or IPv6)", entry);
            return -1;
        }
        list->count++;
        p += n;
    }
}

/* cidr_net_match - first bits of addr equal the network */
static int cidr_net_match(const cidr_net *net, const unsigned char *addr)
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (addr[full] & mask) == net->addr[full];
}

/* cidr_list_match - address in any network of the list */
int cidr_list_match(const cidr_list *list, const char *ip)
{
    unsigned char a4[4], a6[16];
    int is4 = inet_pton(AF_INET, ip, a4) == 1;
    int is6 = !is4 && inet_pton(AF_INET6, ip, a6) == 1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (is6 && memcmp(a6, mapped, sizeof mapped) == 0) {
        memcpy(a4, a6 + 12, 4);
        is4 = 1;
    }
    for (size_t i = 0; list && i < list->count; i++) {
        const cidr_net *net = &list->net[i];
        if (net->family == AF_INET && is4 && cidr_net_match(net, a4))
            return 1;
        if (net->family == AF_INET6 && is6 && cidr_net_match(net, a6))
            return 1;
    }
    return 0;
}
