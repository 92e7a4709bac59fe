/* fuzz_mail_addr - libFuzzer target for src/mail/addr: paths, bare addresses and the
 * domain/literal predicates must never crash, and a parsed address must format. */
#include "mail/addr.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int flags = data[0] & 7; /* first byte picks the flags */
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    mail_addr a;
    size_t used = 0;
    const char *err = NULL;
    char out[MAIL_PATH_MAX * 4];
    if (mail_addr_parse_path(s, len, flags, &a, &used, &err) == MAIL_ADDR_OK) {
        if (used > len || used > MAIL_PATH_MAX || mail_addr_format(&a, out, sizeof out) < 0)
            __builtin_trap();
    } else if (!err) {
        __builtin_trap();
    }
    if (mail_addr_parse(s, len, flags, &a, &err) == MAIL_ADDR_OK && mail_addr_format(&a, out, sizeof out) < 0)
        __builtin_trap();
    (void)mail_domain_valid(s, len);
    (void)mail_address_literal_valid(s, len);
    (void)mail_domain_is_fqdn(s, len);
    return 0;
}
