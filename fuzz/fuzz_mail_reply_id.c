/* fuzz_mail_reply_id - libFuzzer target for src/mail/reply_id: any reply bytes must be
 * read without crashing, and a found ID must be non-empty, NUL-terminated and fit. */
#include "mail/reply_id.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[REPLY_ID_MAX];
    if (reply_queue_id((const char *)data, size, out, sizeof out) &&
        (!memchr(out, '\0', sizeof out) || out[0] == '\0'))
        __builtin_trap();
    return 0;
}
