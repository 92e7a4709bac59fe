/* fuzz_dns_rdata - libFuzzer target for src/dns/dns_rdata: any RDATA of any type must
 * decode or fail cleanly, and a decoded name never holds a raw NUL (bytes are escaped). */
#include "dns/dns_rdata.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* first byte picks the type among those we decode specially */
    static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_NS, DNS_T_CNAME,
                                     DNS_T_PTR, DNS_T_TXT, DNS_T_SOA, DNS_T_SPF, 99};
    uint16_t type = types[data[0] % (sizeof types / sizeof types[0])];
    buf out;
    buf_init(&out, DNS_RDATA_MAX);
    uint16_t pref;
    if (dns_rdata_parse(type, data + 1, size - 1, &out, &pref) == 0 &&
        (type == DNS_T_MX || type == DNS_T_PTR || type == DNS_T_CNAME || type == DNS_T_NS) &&
        memchr(buf_cstr(&out), '\0', out.len) != NULL)
        abort();  /* names are escaped: a NUL can never appear */
    buf_free(&out);
    return 0;
}
