/*
 * test_evconn - evconn_read_line: whole lines, CR LF and bare LF, partial
 * input, the limit counted with the line end, and an overlong line that
 * arrives in pieces being dropped as one.
 */
#include "event/evconn.h"

#include "../check.h"

#include <event2/buffer.h>
#include <stdint.h>

#define MAX 8

/* take - one call on in; returns the result and the line or "<long>" */
static int take(struct evbuffer *in, int *skipping, char *out)
{
    char line[MAX];
    size_t len = 0;
    int got = evconn_read_line(in, line, MAX, skipping, &len);
    if (got)
        snprintf(out, 32, "%s", len == SIZE_MAX ? "<long>" : line);
    return got;
}

int main(void)
{
    struct evbuffer *in = evbuffer_new();
    int skipping = 0;
    char got[32];

    evbuffer_add_printf(in, "NOOP\r\nQUIT\nRS");
    CHECK(take(in, &skipping, got) == 1, "first line");
    CHECK_STR(got, "NOOP", "CR LF stripped");
    CHECK(take(in, &skipping, got) == 1, "second line");
    CHECK_STR(got, "QUIT", "bare LF");
    CHECK(take(in, &skipping, got) == 0, "partial line waits");
    evbuffer_add_printf(in, "ET\r\n");
    CHECK(take(in, &skipping, got) == 1, "completed line");
    CHECK_STR(got, "RSET", "completed line");

    evbuffer_add_printf(in, "123456\r\n");  /* 8 octets with CR LF: at the limit */
    CHECK(take(in, &skipping, got) == 1 && strcmp(got, "123456") == 0, "limit counts the line end: %s", got);
    evbuffer_add_printf(in, "1234567\r\n"); /* 9 octets */
    CHECK(take(in, &skipping, got) == 1, "over the limit");
    CHECK_STR(got, "<long>", "over the limit");

    evbuffer_add_printf(in, "ABCDEFGHIJ"); /* no end yet, already too long: dropped now */
    CHECK(take(in, &skipping, got) == 0 && skipping && evbuffer_get_length(in) == 0, "overlong piece drained");
    evbuffer_add_printf(in, "KLM\r\nNOOP\r\n");
    CHECK(take(in, &skipping, got) == 1, "rest of the overlong line");
    CHECK_STR(got, "<long>", "the overlong line is reported once");
    CHECK(!skipping, "skipping ends with the line");
    CHECK(take(in, &skipping, got) == 1, "next line");
    CHECK_STR(got, "NOOP", "the next line is intact");

    evbuffer_free(in);
    return check_summary();
}
