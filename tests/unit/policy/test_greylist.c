/* test_greylist - the greylisting decision over the real SQLite store in a temporary file, with a fake clock. */
#include "check.h"
#include "policy/greylist.h"

#include <stdlib.h>
#include <unistd.h>

static void test_network(void)
{
    char out[64];
    CHECK(greylist_network("192.0.2.77", out, sizeof out) == 0, "v4");
    CHECK_STR(out, "192.0.2.0/24", "v4 network");
    CHECK(greylist_network("::ffff:192.0.2.77", out, sizeof out) == 0, "mapped");
    CHECK_STR(out, "192.0.2.0/24", "mapped network");
    CHECK(greylist_network("2001:db8:1:2:3:4:5:6", out, sizeof out) == 0, "v6");
    CHECK_STR(out, "2001:db8:1:2::/64", "v6 network");
    CHECK(greylist_network("mx.example.org", out, sizeof out) < 0, "not an address");
}

static void test_cycle(const char *db)
{
    char err[256];
    greylist *g = greylist_sqlite_open(db, err, sizeof err);
    CHECK(g != NULL, "open: %s", err);
    if (!g)
        return;
    g->delay = 300;
    g->window = 2 * 86400;
    g->expire = 35 * 86400;
    g->awl = 2;
    unsigned wait;
    long long t = 1000000;
    CHECK(greylist_check(g, "192.0.2.1", "a@x.test", "u@ours.test", t, &wait) == GREYLIST_DEFER && wait == 300,
          "first attempt defers for the whole delay (%u)", wait);
    CHECK(greylist_check(g, "192.0.2.1", "A@X.test", "u@ours.test", t + 100, &wait) == GREYLIST_DEFER && wait == 200,
          "early retry (case-insensitive) defers for the rest (%u)", wait);
    CHECK(greylist_check(g, "192.0.2.200", "a@x.test", "u@ours.test", t + 301, &wait) == GREYLIST_PASS,
          "retry after the delay from the same /24 passes");
    CHECK(greylist_check(g, "192.0.2.1", "a@x.test", "u@ours.test", t + 400, &wait) == GREYLIST_PASS,
          "a passed triplet keeps passing");
    CHECK(greylist_check(g, "192.0.2.1", "b@x.test", "u@ours.test", t + 500, &wait) == GREYLIST_DEFER,
          "another sender from the network is still greylisted (1 pass < awl 2)");
    CHECK(greylist_check(g, "192.0.2.1", "b@x.test", "u@ours.test", t + 900, &wait) == GREYLIST_PASS, "second pass");
    CHECK(greylist_check(g, "192.0.2.9", "c@y.test", "v@ours.test", t + 901, &wait) == GREYLIST_KNOWN,
          "two passed triplets: the network is auto-whitelisted");
    CHECK(greylist_check(g, "198.51.100.1", "a@x.test", "u@ours.test", t + 1000, &wait) == GREYLIST_DEFER,
          "another network starts over");
    CHECK(greylist_check(g, "198.51.100.1", "a@x.test", "u@ours.test", t + 1000 + 3 * 86400, &wait) == GREYLIST_DEFER,
          "a retry after the window starts over");
    CHECK(greylist_check(g, "192.0.2.9", "c@y.test", "v@ours.test", t + 901 + 36 * 86400, &wait) == GREYLIST_DEFER,
          "the auto-whitelist expires after a silence longer than expire");
    greylist_free(g);
}

int main(void)
{
    char dir[] = "/tmp/pochta-greylist-XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char db[128];
    snprintf(db, sizeof db, "%s/pochta.db", dir);
    test_network();
    test_cycle(db);
    unlink(db);
    rmdir(dir);
    return check_summary();
}
