/* fuzz_auth_keyrec - libFuzzer target for dkim_keyrec_parse (the key-record reader of
 * `pochta doctor`): any bytes as a published DKIM key record. Nothing may crash or leak;
 * a parsed record has a key and a sane size, a refused one says why. */
#include "auth/dkim.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dkim_keyrec kr;
    int rc = dkim_keyrec_parse((const char *)data, size, &kr);
    if (rc == 0 && (!kr.pkey || kr.bits <= 0))
        __builtin_trap();
    if (rc < 0 && (kr.pkey || kr.error[0] == '\0'))
        __builtin_trap();
    dkim_keyrec_free(&kr);
    return 0;
}
