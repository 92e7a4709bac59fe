/*
 * test_accounts - the account database on a temporary file: domains,
 * mailboxes, passwords, aliases and their expansion (nested, looping,
 * duplicated), case-insensitivity, and NOTFOUND vs OK vs INVALID.
 */
#include "check.h"
#include "lib/log.h"
#include "store/accounts.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/pochta-test-accounts-XXXXXX";
static char db[300];

/* joined - the expansion of address as "a,b,c" (or the status as text) */
static const char *joined(accounts *a, const char *address)
{
    static char out[1024];
    char **list;
    acct_status st = accounts_expand(a, address, &list);
    if (st != ACCT_OK) {
        snprintf(out, sizeof out, "status %d", (int)st);
        return out;
    }
    out[0] = '\0';
    size_t n = 0;
    for (char **p = list; *p; p++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "," : "", *p);
    accounts_list_free(list);
    return out;
}

static int rows;
/* count_row - accounts_row_fn counting rows */
static void count_row(void *arg, const char *const *f, int n)
{
    rows++;
    if (arg && n > 0)
        CHECK(strchr(f[0], '@') || strchr(f[0], '.'), "odd row %s", f[0]);
}

/* test_domains - add, duplicate, invalid, is_local, case */
static void test_domains(accounts *a)
{
    CHECK(accounts_domain_add(a, "Example.TEST") == ACCT_OK, "add domain");
    CHECK(accounts_domain_add(a, "example.test") == ACCT_EXISTS, "duplicate domain");
    CHECK(accounts_domain_add(a, "other.test") == ACCT_OK, "add other");
    CHECK(accounts_domain_add(a, "bad domain") == ACCT_INVALID, "space in domain");
    CHECK(accounts_domain_add(a, "a..b") == ACCT_INVALID, "empty label");
    CHECK(accounts_domain_add(a, "") == ACCT_INVALID, "empty");
    CHECK(accounts_domain_is_local(a, "EXAMPLE.test") == ACCT_OK, "is_local case");
    CHECK(accounts_domain_is_local(a, "example.org") == ACCT_NOTFOUND, "not local");
    rows = 0;
    CHECK(accounts_list_domains(a, count_row, a) == ACCT_OK && rows == 2, "list domains %d", rows);
}

/* test_users - add, duplicates, domain rules, passwords, delete */
static void test_users(accounts *a)
{
    CHECK(accounts_user_add(a, "Alice@Example.Test", "right horse") == ACCT_OK, "add alice");
    CHECK(accounts_user_add(a, "alice@example.test", "x") == ACCT_EXISTS, "dup alice");
    CHECK(accounts_user_add(a, "bob@example.test", "bob-pw") == ACCT_OK, "add bob");
    CHECK(accounts_user_add(a, "carol@nowhere.test", "pw") == ACCT_INVALID, "domain not local");
    CHECK(accounts_user_add(a, "no-at-sign", "pw") == ACCT_INVALID, "no @");
    CHECK(accounts_user_add(a, "@example.test", "pw") == ACCT_INVALID, "empty local");
    CHECK(accounts_user_add(a, "a b@example.test", "pw") == ACCT_INVALID, "space");
    CHECK(accounts_user_add(a, "dave@example.test", "") == ACCT_INVALID, "empty password");
    char longaddr[300];
    memset(longaddr, 'x', sizeof longaddr);
    memcpy(longaddr + 250, "@example.test", 14);
    CHECK(accounts_user_add(a, longaddr, "pw") == ACCT_INVALID, "too long");

    CHECK(accounts_user_check_password(a, "ALICE@example.test", "right horse") == ACCT_OK, "right password");
    CHECK(accounts_user_check_password(a, "alice@example.test", "wrong horse") == ACCT_NOTFOUND, "wrong password");
    CHECK(accounts_user_check_password(a, "alice@example.test", "") == ACCT_NOTFOUND, "empty password");
    CHECK(accounts_user_check_password(a, "nobody@example.test", "x") == ACCT_NOTFOUND, "unknown user");
    CHECK(accounts_user_passwd(a, "alice@example.test", "new one") == ACCT_OK, "passwd");
    CHECK(accounts_user_check_password(a, "alice@example.test", "right horse") == ACCT_NOTFOUND, "old pw");
    CHECK(accounts_user_check_password(a, "alice@example.test", "new one") == ACCT_OK, "new pw");
    CHECK(accounts_user_passwd(a, "zed@example.test", "x") == ACCT_NOTFOUND, "passwd unknown");

    CHECK(accounts_recipient_exists(a, "BOB@EXAMPLE.TEST") == ACCT_OK, "bob exists");
    CHECK(accounts_recipient_exists(a, "zed@example.test") == ACCT_NOTFOUND, "zed not");
    CHECK(accounts_recipient_exists(a, "bob@example.org") == ACCT_NOTFOUND, "remote not");
    CHECK(accounts_recipient_exists(a, "garbage") == ACCT_NOTFOUND, "garbage not");
    rows = 0;
    CHECK(accounts_list_users(a, "example.test", count_row, a) == ACCT_OK && rows == 2, "list users %d", rows);
    rows = 0;
    CHECK(accounts_list_users(a, "other.test", count_row, NULL) == ACCT_OK && rows == 0, "list other");

    CHECK(accounts_user_add(a, "tmp@other.test", "pw") == ACCT_OK, "add tmp");
    CHECK(accounts_user_del(a, "tmp@other.test") == ACCT_OK, "del tmp");
    CHECK(accounts_user_del(a, "tmp@other.test") == ACCT_NOTFOUND, "del tmp twice");
}

/* test_aliases - add/del rules and expansion */
static void test_aliases(accounts *a)
{
    CHECK(accounts_alias_add(a, "Postmaster@example.test", "alice@example.test") == ACCT_OK, "postmaster");
    CHECK(accounts_alias_add(a, "postmaster@example.test", "ALICE@example.test") == ACCT_EXISTS, "dup alias");
    CHECK(accounts_alias_add(a, "x@nowhere.test", "alice@example.test") == ACCT_INVALID, "alias not local");
    CHECK(accounts_alias_add(a, "x@example.test", "not an address") == ACCT_INVALID, "bad target");
    /* team -> alice, bob, sales; sales -> bob, remote; nested duplicate bob appears once */
    CHECK(accounts_alias_add(a, "team@example.test", "alice@example.test") == ACCT_OK, "team1");
    CHECK(accounts_alias_add(a, "team@example.test", "bob@example.test") == ACCT_OK, "team2");
    CHECK(accounts_alias_add(a, "team@example.test", "sales@example.test") == ACCT_OK, "team3");
    CHECK(accounts_alias_add(a, "sales@example.test", "bob@example.test") == ACCT_OK, "sales1");
    CHECK(accounts_alias_add(a, "sales@example.test", "Partner@Remote.example") == ACCT_OK, "sales2");
    /* loop: l1 -> l2 -> l1, and l2 -> alice */
    CHECK(accounts_alias_add(a, "l1@example.test", "l2@example.test") == ACCT_OK, "l1");
    CHECK(accounts_alias_add(a, "l2@example.test", "l1@example.test") == ACCT_OK, "l2");
    CHECK(accounts_alias_add(a, "l2@example.test", "alice@example.test") == ACCT_OK, "l2b");
    /* pure loop: p1 <-> p2 leads nowhere */
    CHECK(accounts_alias_add(a, "p1@example.test", "p2@example.test") == ACCT_OK, "p1");
    CHECK(accounts_alias_add(a, "p2@example.test", "p1@example.test") == ACCT_OK, "p2");
    /* self + forward: keep a copy and forward */
    CHECK(accounts_alias_add(a, "bob@example.test", "bob@example.test") == ACCT_OK, "bob self");
    CHECK(accounts_alias_add(a, "bob@example.test", "bob@elsewhere.example") == ACCT_OK, "bob fwd");

    CHECK_STR(joined(a, "alice@example.test"), "alice@example.test", "mailbox expands to itself");
    CHECK_STR(joined(a, "POSTMASTER@example.test"), "alice@example.test", "simple alias");
    CHECK_STR(joined(a, "team@example.test"),
              "alice@example.test,bob@elsewhere.example,bob@example.test,partner@remote.example", "nested");
    CHECK_STR(joined(a, "l1@example.test"), "alice@example.test", "loop cut");
    CHECK_STR(joined(a, "p1@example.test"), "status 1", "pure loop");
    CHECK_STR(joined(a, "nobody@example.test"), "status 1", "unknown");
    CHECK_STR(joined(a, "someone@remote.example"), "status 1", "remote is not ours to expand");
    CHECK(accounts_recipient_exists(a, "team@example.test") == ACCT_OK, "alias exists");

    /* a chain deeper than the limit is cut, not followed forever */
    char from[64], to[64];
    for (int i = 0; i < 15; i++) {
        snprintf(from, sizeof from, "c%d@example.test", i);
        snprintf(to, sizeof to, "c%d@example.test", i + 1);
        accounts_alias_add(a, from, to);
    }
    CHECK_STR(joined(a, "c5@example.test"), "c15@example.test", "depth 10 reached exactly");
    CHECK_STR(joined(a, "c0@example.test"), "status 1", "depth over 10 cut");

    rows = 0;
    CHECK(accounts_list_aliases(a, count_row, a) == ACCT_OK && rows == 28, "list aliases %d", rows);
    CHECK(accounts_alias_del(a, "team@example.test", "sales@example.test") == ACCT_OK, "del one");
    CHECK(accounts_alias_del(a, "team@example.test", "sales@example.test") == ACCT_NOTFOUND, "del one twice");
    CHECK(accounts_alias_del(a, "sales@example.test", NULL) == ACCT_OK, "del all");
    CHECK(accounts_recipient_exists(a, "sales@example.test") == ACCT_NOTFOUND, "sales gone");
}

/* test_domain_del - deleting a domain removes its mailboxes and aliases */
static void test_domain_del(accounts *a)
{
    CHECK(accounts_user_add(a, "u@other.test", "pw") == ACCT_OK, "add u");
    CHECK(accounts_alias_add(a, "al@other.test", "alice@example.test") == ACCT_OK, "add al");
    CHECK(accounts_alias_add(a, "x@example.test", "u@other.test") == ACCT_OK, "alias into other");
    CHECK(accounts_domain_del(a, "OTHER.test") == ACCT_OK, "del domain");
    CHECK(accounts_domain_del(a, "other.test") == ACCT_NOTFOUND, "del domain twice");
    CHECK(accounts_recipient_exists(a, "u@other.test") == ACCT_NOTFOUND, "user gone");
    rows = 0;
    accounts_list_users(a, NULL, count_row, NULL);
    CHECK(rows == 2, "users left %d", rows);
    CHECK_STR(joined(a, "x@example.test"), "u@other.test", "alias elsewhere kept (target now remote)");
}

/* test_reader_does_not_block - an open read transaction elsewhere does not stop a change (WAL) */
static void test_reader_does_not_block(accounts *a)
{
    sqlite3 *other;
    CHECK(sqlite3_open(db, &other) == SQLITE_OK, "open second handle");
    CHECK(sqlite3_exec(other, "BEGIN; SELECT count(*) FROM users;", NULL, NULL, NULL) == SQLITE_OK, "reader txn");
    CHECK(accounts_user_add(a, "eve@example.test", "pw") == ACCT_OK, "write beside a reader (WAL)");
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(other);
}

/* test_busy_is_tempfail - a writer holding the lock past the 5 s busy timeout gives TEMPFAIL, never NOTFOUND */
static void test_busy_is_tempfail(accounts *a)
{
    sqlite3 *other;
    CHECK(sqlite3_open(db, &other) == SQLITE_OK, "open second handle");
    CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "writer txn");
    CHECK(accounts_domain_add(a, "busy.test") == ACCT_TEMPFAIL, "busy write is TEMPFAIL");
    CHECK(accounts_domain_is_local(a, "example.test") == ACCT_OK, "reads still work under a writer (WAL)");
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    CHECK(accounts_domain_add(a, "busy.test") == ACCT_OK, "after the writer is gone");
}

int main(void)
{
    char err[256];
    log_init("test", 0, LOG_LEVEL_ERROR);
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/pochta.db", dir);
    CHECK(accounts_open("/nonexistent/dir/x.db", err, sizeof err) == NULL, "open in missing dir");
    accounts *a = accounts_open(db, err, sizeof err);
    CHECK(a != NULL, "open: %s", err);
    if (!a)
        return check_summary();
    test_domains(a);
    test_users(a);
    test_aliases(a);
    test_domain_del(a);
    test_reader_does_not_block(a);
    test_busy_is_tempfail(a);
    accounts_close(a);
    /* reopening an existing file keeps the data */
    a = accounts_open(db, err, sizeof err);
    CHECK(a && accounts_recipient_exists(a, "alice@example.test") == ACCT_OK, "reopen");
    accounts_close(a);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
