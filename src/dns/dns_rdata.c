/*
 * dns_rdata - turn one record's RDATA in wire format into a dns_rr in the
 * form dns.h promises: A/AAAA as presentation addresses, names in lower case
 * without the trailing dot (root = ""), TXT character-strings concatenated,
 * SOA as "mname rname serial refresh retry expire minimum", other types as
 * raw bytes.
 *
 * Input comes from the network (through libunbound, which has already
 * decompressed names), so every length is checked; a compression pointer or
 * any overrun is "malformed" (-1). Bytes in labels that are not letters,
 * digits, '-' or '_' are written as \DDD (RFC 4343 2.1, RFC 1035 5.1) so a
 * name can never smuggle a dot or a control byte into logs or comparisons.
 *
 * RFCs: 1035 3.3 (name, CNAME, MX, NS, PTR, SOA, TXT), 3596 2.2 (AAAA),
 *       7505 (null MX), 7208 3.3 (TXT strings are concatenated).
 */
#include "dns/dns_rdata.h"

#include "lib/buf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>

/* dns_wire_name - decode a wire name at rd[*pos], appending its text to out */
static int dns_wire_name(const unsigned char *rd, size_t len, size_t *pos, buf *out)
{
    size_t p = *pos, total = 0, start = out->len;
    for (;;) {
        if (p >= len)
            return -1;
        unsigned n = rd[p++];
        if (n == 0)
            break;
        if (n > 63 || p + n > len)  /* 0xC0: a pointer, impossible in decompressed rdata */
            return -1;
        total += n + 1;
        if (total > 255)  /* RFC 1035 2.3.4 */
            return -1;
        if (out->len > start && buf_append_char(out, '.') != BUF_OK)
            return -1;
        for (unsigned i = 0; i < n; i++) {
            unsigned char c = rd[p + i];
            buf_status st;
            if (isalnum(c) || c == '-' || c == '_')
                st = buf_append_char(out, (char)tolower(c));
            else
                st = buf_printf(out, "\\%03u", c);
            if (st != BUF_OK)
                return -1;
        }
        p += n;
    }
    *pos = p;
    return 0;
}

/* dns_u32 - big-endian 32-bit number */
static uint32_t dns_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* dns_rdata_soa - "mname rname serial refresh retry expire minimum" */
static int dns_rdata_soa(const unsigned char *rd, size_t len, buf *out)
{
    size_t pos = 0;
    if (dns_wire_name(rd, len, &pos, out) < 0 || buf_append_char(out, ' ') != BUF_OK)
        return -1;
    if (dns_wire_name(rd, len, &pos, out) < 0 || len - pos != 20)
        return -1;
    const unsigned char *n = rd + pos;
    return buf_printf(out, " %u %u %u %u %u", dns_u32(n), dns_u32(n + 4), dns_u32(n + 8), dns_u32(n + 12),
                      dns_u32(n + 16)) == BUF_OK ? 0 : -1;
}

/* dns_rdata_txt - concatenated character-strings */
static int dns_rdata_txt(const unsigned char *rd, size_t len, buf *out)
{
    size_t p = 0;
    if (len == 0)
        return -1;  /* RFC 1035 3.3.14: at least one string */
    while (p < len) {
        size_t n = rd[p++];
        if (p + n > len || buf_append(out, rd + p, n) != BUF_OK)
            return -1;
        p += n;
    }
    return 0;
}

/* dns_rdata_parse - fill out (text) and *pref from one RDATA of type; 0, or -1 when malformed */
int dns_rdata_parse(uint16_t type, const unsigned char *rd, size_t len, buf *out, uint16_t *pref)
{
    char addr[INET6_ADDRSTRLEN];
    size_t pos = 0;
    *pref = 0;
    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA:
        if (len != (type == DNS_T_A ? 4u : 16u) ||
            !inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, rd, addr, sizeof addr))
            return -1;
        return buf_append_str(out, addr) == BUF_OK ? 0 : -1;
    case DNS_T_MX:
        if (len < 3)
            return -1;
        *pref = (uint16_t)(rd[0] << 8 | rd[1]);
        pos = 2;
        /* fall through */
    case DNS_T_NS:
    case DNS_T_CNAME:
    case DNS_T_PTR:
        if (dns_wire_name(rd, len, &pos, out) < 0 || pos != len)
            return -1;
        return 0;
    case DNS_T_TXT:
    case DNS_T_SPF:
        return dns_rdata_txt(rd, len, out);
    case DNS_T_SOA:
        return dns_rdata_soa(rd, len, out);
    default:
        return buf_append(out, rd, len) == BUF_OK ? 0 : -1;
    }
}
