/* fuzz_auth_authres - libFuzzer target for src/auth/authres.c: the input is a message whose
 * From domain is extracted, whose forged Authentication-Results are stripped (the output may
 * never be longer than the input), and whose domain (when found) goes into an
 * Authentication-Results field. Nothing may crash or leak. */
#include "auth/authres.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char from[256];
    authres_from_status st = authres_from_domain(s, size, from, sizeof from);
    if (st == AUTHRES_FROM_OK && (from[0] == '\0' || strlen(from) > 253))
        __builtin_trap();
    buf out;
    buf_init(&out, size + 1);
    int dropped = authres_strip_ours(s, size, "mx.example.test", &out);
    if (dropped < 0 || out.len > size || (dropped == 0 && out.len != size))
        __builtin_trap();
    buf_free(&out);
    dmarc_eval ev = {.result = DMARC_RESULT_FAIL, .policy = DMARC_POLICY_REJECT, .action = DMARC_POLICY_REJECT};
    authres_input in = {.authserv_id = "mx.example.test", .dmarc = &ev,
                        .from_domain = st == AUTHRES_FROM_OK ? from : NULL};
    buf hdr;
    buf_init(&hdr, AUTHRES_MAX + 2);
    (void)authres_header(&in, &hdr);
    buf_free(&hdr);
    return 0;
}
