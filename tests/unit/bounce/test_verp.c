/*
 * test_verp - signed VERP return paths: key file, make/check round trip
 * (full and short form), case folding by RCPT, and forged or garbled
 * tokens (got/want tables).
 */
#include "bounce/bounce_verp.h"
#include "../check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* lower - copy s lower-cased into out (what RCPT does to an address) */
static void lower(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = '\0';
}

/* test_roundtrip - what we make verifies and names its message and recipient */
static void test_roundtrip(void)
{
    static const struct {
        const char *qid, *rcpt, *want_rcpt; /* want_rcpt "" = short form */
    } cases[] = {
        {"0A1B2C3D4E5F6071", "perm1@hard.bounce.test", "perm1@hard.bounce.test"},
        {"0A1B2C3D4E5F6071", "first.last=x@ok.example", "first.last=x@ok.example"},
        {"FFFFFFFFFFFFFFFF", "a-very-long-local-part-for-a-list@a-long-domain.example.org", ""},
        {"0A1B2C3D4E5F6071", "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.test", ""},
        {"0A1B2C3D4E5F6071", "\"a b\"@quoted.test", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char addr[600], low[600], qid[64], rcpt[400];
        CHECK(bounce_verp_make(addr, sizeof addr, cases[i].qid, cases[i].rcpt, "example.test") == 0, "make %zu", i);
        CHECK(strchr(addr, '@') - addr <= 64, "local part of %s over 64", addr);
        lower(addr, low, sizeof low);
        CHECK(bounce_verp_check(low, qid, sizeof qid, rcpt, sizeof rcpt) == VERP_VALID, "check %s", low);
        CHECK_STR(qid, cases[i].qid, "queue id");
        CHECK_STR(rcpt, cases[i].want_rcpt, "recipient");
    }
}

/* test_forged - anything we did not sign is refused or not VERP at all */
static void test_forged(void)
{
    char good[600], qid[64], rcpt[400];
    bounce_verp_make(good, sizeof good, "0A1B2C3D4E5F6071", "bob@peer.test", "example.test");
    char other_rcpt[600], other_qid[600], bad_mac[600];
    snprintf(other_rcpt, sizeof other_rcpt, "%s", good);
    char *p = strstr(other_rcpt, "=bob=");
    p[1] = 'r'; /* rob@peer.test with bob's MAC */
    snprintf(other_qid, sizeof other_qid, "%s", good);
    other_qid[8] = other_qid[8] == '0' ? '1' : '0';
    snprintf(bad_mac, sizeof bad_mac, "%s", good);
    char *at = strrchr(bad_mac, '@');
    at[-1] = at[-1] == 'a' ? 'b' : 'a';
    static const char *const not_verp[] = {"alice@example.test", "bounce+x@example.test", ""};
    const char *forged[] = {other_rcpt, other_qid, bad_mac, "bounces+@example.test", "bounces+QID@example.test",
                            "bounces+0A1B2C3D4E5F6071=bob=peer.test@example.test",
                            "bounces+0A1B2C3D4E5F6071==@example.test", "bounces+=x=y=z@example.test"};
    for (size_t i = 0; i < sizeof not_verp / sizeof not_verp[0]; i++)
        CHECK(bounce_verp_check(not_verp[i], qid, sizeof qid, rcpt, sizeof rcpt) == VERP_NONE, "%s", not_verp[i]);
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
        CHECK(bounce_verp_check(forged[i], qid, sizeof qid, rcpt, sizeof rcpt) == VERP_FORGED, "%s", forged[i]);
}

int main(void)
{
    char dir[] = "/tmp/test_verp.XXXXXX", err[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char addr[300];
    CHECK(bounce_verp_make(addr, sizeof addr, "Q", "a@b", "c") < 0, "no key: no VERP");
    CHECK(bounce_verp_key_load(dir, 0, err, sizeof err) < 0, "no key file yet");
    CHECK(bounce_verp_key_load(dir, 1, err, sizeof err) == 0, "%s", err);
    char path[300];
    snprintf(path, sizeof path, "%s/" BOUNCE_VERP_KEY_FILE, dir);
    CHECK(access(path, R_OK) == 0, "key file written");
    test_roundtrip();
    test_forged();
    /* a second daemon start reads the same key: old tokens stay valid */
    char before[300], after[300];
    bounce_verp_make(before, sizeof before, "0A1B2C3D4E5F6071", "x@y.test", "example.test");
    CHECK(bounce_verp_key_load(dir, 1, err, sizeof err) == 0, "%s", err);
    bounce_verp_make(after, sizeof after, "0A1B2C3D4E5F6071", "x@y.test", "example.test");
    CHECK_STR(after, before, "same key after reload");
    unlink(path);
    rmdir(dir);
    return check_summary();
}
