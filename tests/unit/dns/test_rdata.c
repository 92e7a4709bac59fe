/*
 * test_rdata - wire RDATA to dns_rr text: got/want table, malformed inputs.
 */
#include "check.h"
#include "dns/dns_rdata.h"

static const struct {
    uint16_t type;
    const char *rd;
    size_t len;
    int rc;
    uint16_t pref;
    const char *want;
} cases[] = {
    {DNS_T_A, "\x7f\x00\x00\x01", 4, 0, 0, "127.0.0.1"},
    {DNS_T_A, "\x7f\x00\x00", 3, -1, 0, NULL},
    {DNS_T_AAAA, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16, 0, 0, "2001:db8::1"},
    {DNS_T_MX, "\x00\x0a\x02MX\x07" "Example\x04test\x00", 19, 0, 10, "mx.example.test"},
    {DNS_T_MX, "\x00\x00\x00", 3, 0, 0, ""},                        /* null MX, RFC 7505 */
    {DNS_T_MX, "\x00\x0a", 2, -1, 0, NULL},
    {DNS_T_MX, "\x00\x0a\xc0\x0c", 4, -1, 0, NULL},                 /* compression pointer */
    {DNS_T_PTR, "\x02mx\x04test\x00junk", 13, -1, 0, NULL},         /* trailing bytes */
    {DNS_T_PTR, "\x02mx\x04test", 8, -1, 0, NULL},                  /* no root label */
    {DNS_T_PTR, "\x04" "a.b\x01" "\x00", 6, 0, 0, "a\\046b\\001"},   /* dot and control escaped */
    {DNS_T_CNAME, "\x04good\x06sender\x04test\x00", 18, 0, 0, "good.sender.test"},
    {DNS_T_TXT, "\x03" "abc\x02" "de", 7, 0, 0, "abcde"},
    {DNS_T_TXT, "\x00", 1, 0, 0, ""},
    {DNS_T_TXT, "\x05" "abc", 4, -1, 0, NULL},
    {DNS_T_TXT, "", 0, -1, 0, NULL},
    {DNS_T_SOA, "\x02ns\x00\x02hm\x00\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5", 28, 0, 0, "ns hm 1 2 3 4 5"},
    {DNS_T_SOA, "\x02ns\x00\x02hm\x00\0\0\0\1", 12, -1, 0, NULL},
};

int main(void)
{
    buf out;
    buf_init(&out, DNS_RDATA_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t pref = 99;
        buf_reset(&out);
        int rc = dns_rdata_parse(cases[i].type, (const unsigned char *)cases[i].rd, cases[i].len, &out, &pref);
        CHECK(rc == cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc == 0 && cases[i].want) {
            CHECK_STR(buf_cstr(&out), cases[i].want, "text");
            CHECK(pref == cases[i].pref, "case %zu: pref %u", i, pref);
        }
    }
    /* a name longer than 255 wire bytes is malformed (RFC 1035 2.3.4) */
    unsigned char longname[300];
    size_t n = 0;
    while (n + 64 < sizeof longname) {
        longname[n++] = 63;
        memset(longname + n, 'a', 63);
        n += 63;
    }
    longname[n++] = 0;
    uint16_t pref;
    buf_reset(&out);
    CHECK(dns_rdata_parse(DNS_T_PTR, longname, n, &out, &pref) == -1, "long name");
    buf_free(&out);
    return check_summary();
}
