/* fuzz_mail_data_reader - libFuzzer target for the DATA reader: the input is fed
 * whole and in small pieces chosen by the first byte; both runs must agree. */
#include "mail/data_reader.h"

#include <stdint.h>
#include <string.h>

/* run - feed data in pieces of step bytes (0 = whole) until a final status */
static void run(const char *p, size_t n, size_t step, buf *out, data_reader *dr, data_status *st, size_t *used)
{
    buf_init(out, 4096);
    data_reader_init(dr, out);
    *st = DATA_MORE;
    *used = 0;
    while (*used < n && *st == DATA_MORE) {
        size_t k = n - *used;
        if (step && k > step)
            k = step;
        size_t u = data_reader_feed(dr, p + *used, k, st);
        if (u > k)
            __builtin_trap();
        *used += u;
        if (u < k && *st == DATA_MORE)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (data[0] % 7) + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    buf o1, o2;
    data_reader d1, d2;
    data_status s1, s2;
    size_t u1, u2;
    run(p, n, 0, &o1, &d1, &s1, &u1);
    run(p, n, step, &o2, &d2, &s2, &u2);
    if (s1 != s2 || u1 != u2 || d1.error != d2.error || d1.total != d2.total || o1.len != o2.len ||
        (o1.len && memcmp(o1.data, o2.data, o1.len) != 0))
        __builtin_trap();
    buf_free(&o1);
    buf_free(&o2);
    return 0;
}
