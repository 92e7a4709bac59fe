/*
 * test_msglog - the message log on a temporary database: rows come back in
 * order, the retention passes (row cap and age) delete the oldest rows, and
 * the trace searches find IDs by address and by Message-ID.
 */
#include "check.h"
#include "lib/log.h"
#include "store/msglog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pochta-test-msglog-XXXXXX";
static char db[300];

/* count_row - msglog_each callback: count rows */
static void count_row(void *arg, double ts, const char *event, const char *detail)
{
    (void)ts;
    (void)event;
    (void)detail;
    (*(long *)arg)++;
}

/* rows_of - how many rows id has */
static long rows_of(const char *id)
{
    long n = 0;
    msglog_each(db, id, count_row, &n);
    return n;
}

typedef struct found {
    char ids[8][32];
    int n;
} found;

/* found_add - msglog_find callback */
static void found_add(void *arg, const char *id, double last_ts)
{
    found *f = arg;
    (void)last_ts;
    if (f->n < 8)
        snprintf(f->ids[f->n++], sizeof f->ids[0], "%s", id);
}

/* test_row_cap - with msglog_max_rows = 5, a restart keeps the newest 5 */
static void test_row_cap(void)
{
    char err[256];
    msglog_set_retention(0, 5);
    CHECK(msglog_start(db, err, sizeof err) == 0, "start: %s", err);
    for (int i = 0; i < 10; i++)
        msglog_event("AAAAAAAAAAAAAAAA", "attempt", "n=%d", i);
    msglog_stop();
    CHECK(rows_of("AAAAAAAAAAAAAAAA") == 10, "all rows stored before a pass");
    CHECK(msglog_start(db, err, sizeof err) == 0, "restart: %s", err); /* the writer prunes at start */
    msglog_stop();
    CHECK(rows_of("AAAAAAAAAAAAAAAA") == 5, "row cap: got %ld", rows_of("AAAAAAAAAAAAAAAA"));
}

/* test_age - rows older than the retention age go at the next pass */
static void test_age(void)
{
    char err[256];
    CHECK(msglog_store(db, "BBBBBBBBBBBBBBBB", "queued", "from=<old@x.test>") == 0, "store");
    sleep(2);
    CHECK(msglog_store(db, "CCCCCCCCCCCCCCCC", "queued", "from=<new@x.test>") == 0, "store");
    msglog_set_retention(1.5, 0);
    CHECK(msglog_start(db, err, sizeof err) == 0, "start: %s", err);
    msglog_stop();
    CHECK(rows_of("BBBBBBBBBBBBBBBB") == 0, "an old row survived");
    CHECK(rows_of("CCCCCCCCCCCCCCCC") == 1, "a new row was deleted");
    msglog_set_retention(0, 0);
}

/* test_find - address (case-insensitive, whole <address>) and Message-ID searches */
static void test_find(void)
{
    msglog_store(db, "DDDDDDDDDDDDDDDD", "rcpt", "to=<Bob@Example.Test> result=refused code=550");
    msglog_store(db, "EEEEEEEEEEEEEEEE", "mail", "from=<bob@example.test> client=x[127.0.0.1]");
    msglog_store(db, "EEEEEEEEEEEEEEEE", "message_id", "message_id=abc.1@client.test");
    msglog_store(db, "FFFFFFFFFFFFFFFF", "mail", "from=<notbob@example.test>");
    found f = {0};
    CHECK(msglog_find(db, 'a', "bob@example.test", 10, found_add, &f) == 2, "address: %d found", f.n);
    CHECK(f.n == 2 && strcmp(f.ids[0], "EEEEEEEEEEEEEEEE") == 0 && strcmp(f.ids[1], "DDDDDDDDDDDDDDDD") == 0,
          "newest first, notbob excluded");
    found g = {0};
    CHECK(msglog_find(db, 'm', "abc.1@client.test", 10, found_add, &g) == 1 &&
              strcmp(g.ids[0], "EEEEEEEEEEEEEEEE") == 0, "Message-ID");
    found h = {0};
    CHECK(msglog_find(db, 'm', "bob@example.test", 10, found_add, &h) == 0, "an address is not a Message-ID");
    CHECK(msglog_find(db, 'a', "nobody@example.test", 10, found_add, &h) == 0, "unknown address");
}

int main(void)
{
    log_init("test", 0, LOG_LEVEL_ERROR);
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/pochta.db", dir);
    test_row_cap();
    test_age();
    test_find();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
