/* fuzz_mail_hdr_addr - libFuzzer target for src/mail/hdr_addr: any header block must
 * parse without crashing, and every address returned must hold an @ and fit. */
#include "mail/hdr_addr.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[16][MAIL_PATH_MAX];
    static const char *const names[] = {"to", "cc", "bcc"};
    size_t n = 0;
    const char *s = (const char *)data;
    if (hdr_from_addrs(s, size, out, 16, &n) == HDR_FROM_OK && n == 0)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (!memchr(out[i], '\0', MAIL_PATH_MAX) || !strchr(out[i], '@'))
            __builtin_trap();
    for (int k = 0; k < 3; k++)
        (void)hdr_addrs(s, size, names[k], out, 16, &n);
    (void)hdr_from_error(HDR_FROM_SYNTAX);
    return 0;
}
