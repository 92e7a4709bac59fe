/*
 * fuzz_pop3_format - pop3_maildrop_format (RETR/TOP content: CRLF, dot-
 * stuffing, TOP's header/body split) on arbitrary message bytes. The first
 * byte picks RETR or TOP with 0-15 lines. Checks: every output line ends in
 * CRLF, no line is a lone "." (it would end the response early), and the
 * output stays within the 2x + 64 cap the reader gives it.
 */
#include "pop3/pop3_maildrop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    long lines = data[0] & 0x10 ? (long)(data[0] & 0x0f) : -1;
    buf out;
    buf_init(&out, 2 * size + 64);
    if (pop3_maildrop_format((const char *)data + 1, size - 1, lines, &out) == 0 && out.len > 0) {
        const char *p = out.data, *end = out.data + out.len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl || nl == p || nl[-1] != '\r')
                abort();
            if (nl - p == 2 && p[0] == '.')
                abort();
            p = nl + 1;
        }
    }
    buf_free(&out);
    return 0;
}
