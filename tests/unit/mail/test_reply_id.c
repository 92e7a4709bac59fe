/* test_reply_id - the remote queue ID in real-world 250 replies (got/want table) */
#include "mail/reply_id.h"
#include "../check.h"

static const struct {
    const char *reply, *want; /* want NULL: no ID */
} cases[] = {
    {"250 2.0.0 Ok: queued as 4Xb1Zk2m3Fz9", "4Xb1Zk2m3Fz9"},
    {"250 2.0.0 Ok: queued as 6560A1B2C3D4E5F6", "6560A1B2C3D4E5F6"},
    {"250 2.0.0 Ok: queued as PEERQ3.", "PEERQ3"},
    {"250 OK id=1rAbCd-000123-AB", "1rAbCd-000123-AB"},
    {"250 2.6.0 <a@b.example> [InternalId=1234567, Hostname=EX01.example] Queued mail for delivery", "1234567"},
    {"250 2.0.0 x9ABCdef012345 Message accepted for delivery", "x9ABCdef012345"},
    {"250 2.0.0 OK  1700000000 d12-20020a05600c0a4c00b0040c1d2e3f4si123456wmq.5 - gsmtp",
     "d12-20020a05600c0a4c00b0040c1d2e3f4si123456wmq.5"},
    {"250 Message accepted for delivery", NULL},
    {"250 2.0.0 Message accepted for delivery", NULL},
    {"250 OK", NULL},
    {"550 5.1.1 queued as NOTHING", NULL},
    {"451 4.3.0 id=abc", NULL},
    {"250 queued as ", NULL},
    {"250 queued as !!!", NULL},
    {"", NULL},
    {"25", NULL},
};

/* test_long - an ID longer than REPLY_ID_MAX is not taken */
static void test_long(void)
{
    char reply[400] = "250 2.0.0 Ok: queued as ";
    size_t n = strlen(reply);
    memset(reply + n, 'A', 300);
    reply[n + 300] = '\0';
    char out[REPLY_ID_MAX];
    CHECK(reply_queue_id(reply, strlen(reply), out, sizeof out) == 0, "an overlong ID was accepted");
    char small[4];
    CHECK(reply_queue_id("250 queued as ABCDEF", 20, small, sizeof small) == 0, "out too small");
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[REPLY_ID_MAX];
        int found = reply_queue_id(cases[i].reply, strlen(cases[i].reply), out, sizeof out);
        CHECK(found == (cases[i].want != NULL), "case %zu \"%s\": found=%d", i, cases[i].reply, found);
        if (found && cases[i].want)
            CHECK_STR(out, cases[i].want, cases[i].reply);
    }
    test_long();
    return check_summary();
}
