/* test_hdr_addr - From:/To: address extraction, got/want table. */
#include "check.h"
#include "mail/hdr_addr.h"

#include <stdio.h>

static const struct {
    const char *msg;
    hdr_from_status want;
    const char *addrs; /* space-separated, lower case */
} from_cases[] = {
    {"From: alice@example.test\r\n\r\nbody", HDR_FROM_OK, "alice@example.test"},
    {"From: Alice <Alice@Example.Test>\r\n\r\n", HDR_FROM_OK, "alice@example.test"},
    {"Subject: x\r\nFROM : \"Smith, John\" <john@x.test>\r\n\r\n", HDR_FROM_OK, "john@x.test"},
    {"From: a@x.test, \"B (b)\" <b@y.test> (comment, with comma)\r\n\r\n", HDR_FROM_OK, "a@x.test b@y.test"},
    {"From: Alice\r\n <alice@x.test>\r\n\r\n", HDR_FROM_OK, "alice@x.test"},
    {"From: (c) alice@x.test (c2)\n\n", HDR_FROM_OK, "alice@x.test"},
    {"From: team: a@x.test, b@x.test;\r\n\r\n", HDR_FROM_OK, "a@x.test b@x.test"},
    {"From: <@route.test:a@x.test>\r\n\r\n", HDR_FROM_OK, "a@x.test"},
    {"From: \"a@evil.test\" <b@good.test>\r\n\r\n", HDR_FROM_OK, "b@good.test"},
    {"Subject: none\r\n\r\nFrom: late@x.test\r\n", HDR_FROM_NONE, ""},
    {"From: a@x.test\r\nFrom: b@x.test\r\n\r\n", HDR_FROM_MANY, ""},
    {"From: Alice\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From: <a@x.test\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From: \"unterminated <a@x.test>\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From: (open a@x.test\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From: <a@x.test> <b@x.test>\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From:\r\n\r\n", HDR_FROM_SYNTAX, ""},
    {"From: @x.test\r\n\r\n", HDR_FROM_SYNTAX, ""},
};

/* join - addresses as one space-separated string */
static void join(char (*a)[MAIL_PATH_MAX], size_t n, char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? " " : "", a[i]);
}

/* main - the table, then To/Cc/Bcc and the limits */
int main(void)
{
    static char addrs[8][MAIL_PATH_MAX];
    char got[2048];
    size_t n;
    for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
        const char *m = from_cases[i].msg;
        hdr_from_status st = hdr_from_addrs(m, strlen(m), addrs, 8, &n);
        CHECK(st == from_cases[i].want, "case %zu: status %d want %d", i, st, from_cases[i].want);
        join(addrs, n, got, sizeof got);
        CHECK_STR(got, from_cases[i].addrs, m);
    }
    const char *m = "To: a@x.test\r\nCc: b@x.test,\r\n c@x.test\r\nTo: d@x.test\r\nBcc: e@x.test\r\n\r\n";
    CHECK(hdr_addrs(m, strlen(m), "to", addrs, 8, &n) == HDR_FROM_OK, "to");
    join(addrs, n, got, sizeof got);
    CHECK_STR(got, "a@x.test d@x.test", "two To: fields");
    CHECK(hdr_addrs(m, strlen(m), "cc", addrs, 8, &n) == HDR_FROM_OK, "cc");
    join(addrs, n, got, sizeof got);
    CHECK_STR(got, "b@x.test c@x.test", "folded Cc:");
    const char *u = "To: undisclosed-recipients:;\r\n\r\n";
    CHECK(hdr_addrs(u, strlen(u), "to", addrs, 8, &n) == HDR_FROM_OK && n == 0, "empty group");
    CHECK(hdr_addrs(u, strlen(u), "cc", addrs, 8, &n) == HDR_FROM_NONE, "no Cc:");
    const char *many = "From: a@x, b@x, c@x\r\n\r\n";
    CHECK(hdr_from_addrs(many, strlen(many), addrs, 2, &n) == HDR_FROM_TOO_LONG, "more than max addresses");
    static char big[HDR_FROM_MAX + 64];
    memcpy(big, "From: ", 6);
    memset(big + 6, 'a', HDR_FROM_MAX);
    memcpy(big + 6 + HDR_FROM_MAX, "@x\r\n\r\n", 7);
    CHECK(hdr_from_addrs(big, strlen(big), addrs, 8, &n) == HDR_FROM_TOO_LONG, "overlong field");
    return check_summary();
}
