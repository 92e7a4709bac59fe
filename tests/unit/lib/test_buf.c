/* test_buf - the capped buffer: growth, cap enforcement, steal, consume, quoting. */
#include "check.h"
#include "lib/buf.h"
#include "lib/log.h"

#include <stdlib.h>

/* test_cap - an append past the cap fails and changes nothing */
static void test_cap(void)
{
    buf b;
    buf_init(&b, 10);
    CHECK(buf_append_str(&b, "12345") == BUF_OK, "append within cap");
    CHECK(buf_append_str(&b, "67890") == BUF_OK, "append up to cap");
    CHECK(buf_append_char(&b, 'x') == BUF_TOO_BIG, "append past cap");
    CHECK_STR(buf_cstr(&b), "1234567890", "unchanged after failed append");
    CHECK(buf_printf(&b, "%d", 1) == BUF_TOO_BIG, "printf past cap");
    buf_free(&b);
}

/* test_ops - printf, consume, reset, steal */
static void test_ops(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    CHECK_STR(buf_cstr(&b), "", "empty buffer reads as empty string");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%03d,", i % 1000);
    CHECK(b.len == 4000, "len after 1000 printfs: %zu", b.len);
    buf_consume(&b, 3996);
    CHECK_STR(buf_cstr(&b), "999,", "consume keeps the tail");
    size_t len;
    char *p = buf_steal(&b, &len);
    CHECK(len == 4 && b.len == 0 && b.data == NULL, "steal empties the buffer");
    free(p);
    buf_free(&b);
}

/* test_quote - log values are quoted only when needed */
static void test_quote(void)
{
    char out[64];
    CHECK_STR(log_quote(out, sizeof out, "plain", 5), "plain", "no quoting");
    CHECK_STR(log_quote(out, sizeof out, "a b", 3), "\"a b\"", "space quoted");
    CHECK_STR(log_quote(out, sizeof out, "a\"\n", 3), "\"a\\\"\\x0a\"", "escapes");
    CHECK_STR(log_quote(out, sizeof out, "", 0), "\"\"", "empty value");
}

int main(void)
{
    test_cap();
    test_ops();
    test_quote();
    return check_summary();
}
