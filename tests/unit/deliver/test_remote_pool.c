/*
 * test_remote_pool - session slots per destination and the idle connection
 * cache of outbound SMTP (deliver/remote_pool.h), without a network: the
 * "connections" are tokens, and the close function records what the pool
 * gave up.
 */
#include "check.h"
#include "deliver/remote_pool.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct remote_conn {
    int id;
};

static int closed[16]; /* closed[id]: how often the pool closed connection id */

/* close_token - the pool's close function: count it */
static void close_token(struct remote_conn *c)
{
    closed[c->id]++;
}

/* releaser - hold a slot of a.test for 100 ms in another thread, then free it */
static void *releaser(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    remote_pool_release("a.test");
    return NULL;
}

/* test_limit - the limit, the bounded wait, a slot freed while waiting */
static void test_limit(void)
{
    struct remote_conn *out;
    remote_pool_start(2, 5, close_token);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "first slot");
    CHECK(remote_pool_get("A.TEST", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "second slot (case-blind)");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 50, &out) == POOL_BUSY, "third: at the limit");
    CHECK(remote_pool_get("b.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "another destination is free");
    pthread_t t;
    pthread_create(&t, NULL, releaser, NULL);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 5000, &out) == POOL_SLOT, "slot freed while waiting");
    pthread_join(t, NULL);
    remote_pool_release("a.test");
    remote_pool_release("a.test");
    remote_pool_release("b.test");
    remote_pool_stop();
}

/* test_cache - park, take back, TLS first, eviction at the limit, other destinations */
static void test_cache(void)
{
    struct remote_conn c[4] = {{0}, {1}, {2}, {3}}, *out = NULL;
    memset(closed, 0, sizeof closed);
    remote_pool_start(2, 5, close_token);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT && !out, "slot, nothing cached");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 1, &c[1]) == 1, "parked");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 26, 0, &out) == POOL_SLOT && !out, "other port: not it");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_CACHED && out == &c[1], "taken back");
    remote_pool_release("a.test"); /* the port-26 slot */
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 0, &c[1]) == 1, "parked again (plain)");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 26, 0, &out) == POOL_SLOT, "second slot");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 1, &c[2]) == 1, "parked (TLS)");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_CACHED && out == &c[2], "TLS one first");
    /* a.test: c[2] in use, c[1] idle = 2; a new address evicts the idle one and takes its slot */
    CHECK(remote_pool_get("a.test", "192.0.2.9", 25, 0, &out) == POOL_SLOT && !out, "slot by eviction");
    CHECK(closed[1] == 1, "the evicted connection was closed (%d)", closed[1]);
    CHECK(remote_pool_put("a.test", "192.0.2.9", 25, 0, &c[3]) == 1, "parked at .9");
    /* another destination on the same host takes it, its slot moves along */
    CHECK(remote_pool_get("b.test", "192.0.2.9", 25, 0, &out) == POOL_CACHED && out == &c[3], "shared host");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "a.test has a slot again");
    remote_pool_release("a.test");
    remote_pool_release("a.test");
    remote_pool_release("b.test");
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "slot");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 1, &c[2]) == 1, "parked before stop");
    remote_pool_stop();
    CHECK(closed[2] == 1, "stop closed the idle connection (%d)", closed[2]);
    CHECK(closed[3] == 0 && closed[1] == 1, "nothing else closed");
}

/* test_expiry - an idle connection is closed after the reuse time; reuse 0 keeps nothing */
static void test_expiry(void)
{
    struct remote_conn c = {5}, *out;
    memset(closed, 0, sizeof closed);
    remote_pool_start(0, 1, close_token);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "no limit: slot");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 0, &c) == 1, "parked for 1 s");
    for (int i = 0; i < 40 && !closed[5]; i++)
        usleep(100 * 1000);
    CHECK(closed[5] == 1, "closed by the reaper after the reuse time (%d)", closed[5]);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT && !out, "nothing cached any more");
    remote_pool_release("a.test");
    remote_pool_stop();
    remote_pool_start(3, 0, close_token);
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "slot");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 0, &c) == 0, "reuse off: refused");
    remote_pool_release("a.test");
    remote_pool_stop();
    CHECK(remote_pool_get("a.test", "192.0.2.1", 25, 0, &out) == POOL_SLOT, "stopped: no limit");
    CHECK(remote_pool_put("a.test", "192.0.2.1", 25, 0, &c) == 0, "stopped: no cache");
}

int main(void)
{
    test_limit();
    test_cache();
    test_expiry();
    return check_summary();
}
