/*
 * test_sending - sender identities, sending state and limits, and the
 * SQLite send-rate backend on a temporary database: what is allowed,
 * what a deleted mailbox leaves behind (nothing), and window resets.
 */
#include "check.h"
#include "lib/log.h"
#include "store/accounts.h"
#include "store/sending.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pochta-test-sending-XXXXXX";
static char db[300];

/* test_identities - exact and @domain identities, per user, case-insensitive */
static void test_identities(sending *s)
{
    CHECK(sending_identity_add(s, "alice@example.test", "Sales@Example.Test") == ACCT_OK, "add exact");
    CHECK(sending_identity_add(s, "alice@example.test", "@other.test") == ACCT_OK, "add domain");
    CHECK(sending_identity_add(s, "alice@example.test", "sales@example.test") == ACCT_EXISTS, "duplicate");
    CHECK(sending_identity_add(s, "nobody@example.test", "x@example.test") == ACCT_NOTFOUND, "no such user");
    CHECK(sending_identity_add(s, "alice@example.test", "no-at-sign") == ACCT_INVALID, "bad identity");
    CHECK(sending_identity_add(s, "@example.test", "x@example.test") == ACCT_INVALID, "user must be an address");
    static const struct {
        const char *user, *addr;
        acct_status want;
    } cases[] = {
        {"alice@example.test", "sales@example.test", ACCT_OK},
        {"ALICE@example.test", "SALES@EXAMPLE.TEST", ACCT_OK},
        {"alice@example.test", "anyone@other.test", ACCT_OK},
        {"alice@example.test", "anyone@sub.other.test", ACCT_NOTFOUND},
        {"alice@example.test", "support@example.test", ACCT_NOTFOUND},
        {"bob@example.test", "sales@example.test", ACCT_NOTFOUND},
        {"bob@example.test", "x@other.test", ACCT_NOTFOUND},
        {"alice@example.test", "", ACCT_NOTFOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(sending_identity_allowed(s, cases[i].user, cases[i].addr) == cases[i].want, "%s as %s",
              cases[i].user, cases[i].addr);
    CHECK(sending_identity_del(s, "alice@example.test", "@other.test") == ACCT_OK, "del");
    CHECK(sending_identity_allowed(s, "alice@example.test", "anyone@other.test") == ACCT_NOTFOUND, "gone");
}

/* test_state - disabled flag and per-user limit, defaults without a row */
static void test_state(sending *s)
{
    int off;
    long limit;
    CHECK(sending_get(s, "bob@example.test", &off, &limit) == ACCT_OK && off == 0 && limit == -1, "defaults");
    CHECK(sending_set_disabled(s, "bob@example.test", 1) == ACCT_OK, "disable");
    CHECK(sending_get(s, "bob@example.test", &off, &limit) == ACCT_OK && off == 1 && limit == -1, "disabled");
    CHECK(sending_set_limit(s, "bob@example.test", 7) == ACCT_OK, "limit");
    CHECK(sending_get(s, "bob@example.test", &off, &limit) == ACCT_OK && off == 1 && limit == 7, "both kept");
    CHECK(sending_set_disabled(s, "bob@example.test", 0) == ACCT_OK, "enable");
    CHECK(sending_set_limit(s, "bob@example.test", -2) == ACCT_INVALID, "bad limit");
    CHECK(sending_set_disabled(s, "ghost@example.test", 1) == ACCT_NOTFOUND, "no such user");
}

/* test_rate - counts within a window, reset after it, per key */
static void test_rate(void)
{
    char err[256];
    sendrate *r = sendrate_open_sqlite(db, err, sizeof err);
    CHECK(r != NULL, "open rate: %s", err);
    if (!r)
        return;
    unsigned c;
    time_t end;
    CHECK(r->be->count(r->impl, "user:a", 1000, 100, &c, &end) == ACCT_OK && c == 0 && end == 0, "empty");
    for (int i = 0; i < 3; i++)
        CHECK(r->be->add(r->impl, "user:a", 1000 + i, 100) == ACCT_OK, "add");
    CHECK(r->be->count(r->impl, "user:a", 1050, 100, &c, &end) == ACCT_OK && c == 3 && end == 1100, "three");
    CHECK(r->be->count(r->impl, "user:b", 1050, 100, &c, &end) == ACCT_OK && c == 0, "other key");
    CHECK(r->be->count(r->impl, "user:a", 1100, 100, &c, &end) == ACCT_OK && c == 0, "window over");
    CHECK(r->be->add(r->impl, "user:a", 1200, 100) == ACCT_OK, "add after");
    CHECK(r->be->count(r->impl, "user:a", 1201, 100, &c, &end) == ACCT_OK && c == 1 && end == 1300, "new window");
    sendrate_close(r);
}

/* main - a fresh database with two mailboxes */
int main(void)
{
    char err[256];
    log_init("test", 0, LOG_LEVEL_ERROR);
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/pochta.db", dir);
    accounts *a = accounts_open(db, err, sizeof err);
    CHECK(a != NULL, "accounts_open: %s", err);
    accounts_domain_add(a, "example.test");
    accounts_user_add(a, "alice@example.test", "pw-a");
    accounts_user_add(a, "bob@example.test", "pw-b");
    sending *s = sending_open(db, err, sizeof err);
    CHECK(s != NULL, "sending_open: %s", err);
    if (s) {
        test_identities(s);
        test_state(s);
        /* a deleted mailbox takes its rows along (foreign keys, cascade) */
        CHECK(accounts_user_del(a, "alice@example.test") == ACCT_OK, "user del");
        CHECK(sending_identity_allowed(s, "alice@example.test", "sales@example.test") == ACCT_NOTFOUND, "cascade");
        sending_close(s);
    }
    test_rate();
    accounts_close(a);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
