/* fuzz_auth_dkim - libFuzzer target for src/auth DKIM and DMARC parsing: the input is
 * verified as a message (header split, tag lists, canonicalisation, base64, key-record
 * checks against fixed key records), then parsed as a tag list and as a DMARC record.
 * Nothing may crash or leak. */
#include "auth/dkim.h"
#include "auth/dkim_internal.h"
#include "auth/dmarc.h"

#include <event2/event.h>
#include <stdint.h>
#include <string.h>

static struct event_base *fz_base;
static dns_resolver *fz_dns;

/* fz_init - one loop and resolver for the whole run; keys from the RFC 8463 / RFC 6376 examples */
static void fz_init(void)
{
    static const char ed[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    static const char rsa[] = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";
    fz_base = event_base_new();
    fz_dns = dns_static_new(fz_base);
    dns_static_add(fz_dns, "brisbane._domainkey.football.example.com", DNS_T_TXT, 0, ed, sizeof ed - 1);
    dns_static_add(fz_dns, "brisbane._domainkey.example.com", DNS_T_TXT, 0, rsa, sizeof rsa - 1);
    dns_static_add(fz_dns, "test._domainkey.example.com", DNS_T_TXT, 0, "v=DKIM1; p=", 11);
    dns_static_timeout(fz_dns, "slow._domainkey.example.com");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_base)
        fz_init();
    const char *s = (const char *)data;
    dkim_results res;
    dkim_verify_sync(fz_base, fz_dns, s, size, &res);
    if (res.count > DKIM_MAX_SIGS || res.count > res.found)
        __builtin_trap();
    dkim_taglist tl;
    (void)dkim_tags_parse(s, size, &tl);
    dmarc_record rec;
    char err[128];
    (void)dmarc_record_parse(s, size, &rec, err, sizeof err);
    return 0;
}
