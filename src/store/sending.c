/*
 * sending - sender identities, sending rights and send-rate counters in
 * SQLite (API and schema in sending.h).
 *
 * Same connection rules as accounts.c: WAL, 5 s busy timeout,
 * foreign_keys=ON (so deleting a mailbox drops its rows), every SQLite
 * failure is ACCT_TEMPFAIL with one `event=sending_error` log line.
 * The rate counters run with synchronous=NORMAL: in WAL mode a commit is
 * then a write without fsync. Losing the last few counts in a power cut
 * only lets a user send a few more messages, and it keeps a counter update
 * from costing a disk flush per message.
 *
 * Limits: addresses and identities at most SENDING_MAX_ADDR bytes.
 */
#include "store/sending.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDING_MAX_ADDR 254 /* RFC 5321 4.5.3.1.3 less the <> */
#define SENDING_BUSY_MS 5000

static const char sending_schema[] =
    "CREATE TABLE IF NOT EXISTS identities(address TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,"
    " identity TEXT NOT NULL, PRIMARY KEY(address, identity));"
    "CREATE TABLE IF NOT EXISTS sending(address TEXT PRIMARY KEY REFERENCES users(address) ON DELETE CASCADE,"
    " disabled INTEGER NOT NULL DEFAULT 0, daily_limit INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE IF NOT EXISTS send_rate(key TEXT PRIMARY KEY, window_start INTEGER NOT NULL,"
    " count INTEGER NOT NULL);";

struct sending {
    sqlite3 *db;
};

/* sending_fail - log a database failure once and map it to ACCT_TEMPFAIL */
static acct_status sending_fail(sqlite3 *db, const char *op)
{
    log_warn(NULL, "event=sending_error op=%s code=%d error=\"%s\"", op, sqlite3_extended_errcode(db),
             sqlite3_errmsg(db));
    return ACCT_TEMPFAIL;
}

/* sending_db_open - connection with our pragmas and tables; NULL with err */
static sqlite3 *sending_db_open(const char *db_path, int sync_normal, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    static const char have[] = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                               "name IN ('identities', 'sending', 'send_rate')";
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, SENDING_BUSY_MS);
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sync_normal && sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(db, have, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    /* Read first: daemon threads opening handles should not queue for the write lock. */
    if (n != 3 && sqlite3_exec(db, sending_schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return db;
fail:
    snprintf(err, errlen, "%s: %s", db_path, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return NULL;
}

sending *sending_open(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = sending_db_open(db_path, 0, err, errlen);
    if (!db)
        return NULL;
    sending *s = xcalloc(1, sizeof *s);
    s->db = db;
    return s;
}

void sending_close(sending *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

/* sending_norm - lower-case copy of an address (or "@domain" when at_ok) into out; -1 if malformed */
static int sending_norm(const char *in, char out[SENDING_MAX_ADDR + 1], int at_ok)
{
    size_t n = in ? strlen(in) : 0;
    if (n == 0 || n > SENDING_MAX_ADDR)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (i < n && (c <= ' ' || c == 0x7f || c == '<' || c == '>'))
            return -1;
        out[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    const char *at = strrchr(out, '@');
    if (!at || at[1] == '\0' || (at == out && !at_ok))
        return -1;
    return 0;
}

/* sending_run - prepare sql, bind up to three texts, step once; SQLITE_ROW/DONE/error. *out kept on ROW. */
static int sending_run(sqlite3 *db, const char *sql, const char *p1, const char *p2, const char *p3,
                       sqlite3_stmt **out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    const char *p[3] = {p1, p2, p3};
    for (int i = 0; i < 3; i++)
        if (p[i])
            sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out)
        *out = st;
    else
        sqlite3_finalize(st);
    return rc;
}

/* sending_change - run a write; OK, NOTFOUND (nothing changed or no such user), EXISTS */
static acct_status sending_change(sending *s, const char *sql, const char *p1, const char *p2, const char *p3,
                                  const char *op)
{
    int rc = sending_run(s->db, sql, p1, p2, p3, NULL);
    if (rc == SQLITE_DONE)
        return sqlite3_changes(s->db) > 0 ? ACCT_OK : ACCT_NOTFOUND;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ACCT_NOTFOUND; /* no such mailbox */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return ACCT_EXISTS;
    return sending_fail(s->db, op);
}

acct_status sending_identity_add(sending *s, const char *user, const char *identity)
{
    char u[SENDING_MAX_ADDR + 1], id[SENDING_MAX_ADDR + 1];
    if (sending_norm(user, u, 0) < 0 || sending_norm(identity, id, 1) < 0)
        return ACCT_INVALID;
    acct_status st = sending_change(s, "INSERT INTO identities(address, identity) VALUES (?1, ?2)", u, id, NULL,
                                    "identity_add");
    if (st == ACCT_OK)
        log_info(NULL, "event=identity_add user=%s identity=%s", u, id);
    return st;
}

acct_status sending_identity_del(sending *s, const char *user, const char *identity)
{
    char u[SENDING_MAX_ADDR + 1], id[SENDING_MAX_ADDR + 1];
    if (sending_norm(user, u, 0) < 0 || sending_norm(identity, id, 1) < 0)
        return ACCT_INVALID;
    acct_status st = sending_change(s, "DELETE FROM identities WHERE address = ?1 AND identity = ?2", u, id, NULL,
                                    "identity_del");
    if (st == ACCT_OK)
        log_info(NULL, "event=identity_del user=%s identity=%s", u, id);
    return st;
}

acct_status sending_identity_list(sending *s, const char *user, accounts_row_fn fn, void *arg)
{
    char u[SENDING_MAX_ADDR + 1];
    if (user && sending_norm(user, u, 0) < 0)
        return ACCT_INVALID;
    sqlite3_stmt *st;
    const char *sql = user ? "SELECT address, identity FROM identities WHERE address = ?1 ORDER BY identity"
                           : "SELECT address, identity FROM identities ORDER BY address, identity";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sending_fail(s->db, "identity_list");
    if (user)
        sqlite3_bind_text(st, 1, u, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f[2] = {(const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1)};
        fn(arg, f, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? ACCT_OK : sending_fail(s->db, "identity_list");
}

acct_status sending_identity_allowed(sending *s, const char *user, const char *address)
{
    char u[SENDING_MAX_ADDR + 1], a[SENDING_MAX_ADDR + 1];
    if (sending_norm(user, u, 0) < 0 || sending_norm(address, a, 0) < 0)
        return ACCT_NOTFOUND;
    int rc = sending_run(s->db, "SELECT 1 FROM identities WHERE address = ?1 AND (identity = ?2 OR identity = ?3)",
                         u, a, strrchr(a, '@'), NULL);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc == SQLITE_ROW ? ACCT_OK : ACCT_NOTFOUND;
    return sending_fail(s->db, "identity_allowed");
}

acct_status sending_set_disabled(sending *s, const char *user, int disabled)
{
    char u[SENDING_MAX_ADDR + 1];
    if (sending_norm(user, u, 0) < 0)
        return ACCT_INVALID;
    acct_status st = sending_change(s, "INSERT INTO sending(address, disabled) VALUES (?1, ?2) "
                                       "ON CONFLICT(address) DO UPDATE SET disabled = excluded.disabled",
                                    u, disabled ? "1" : "0", NULL, "set_disabled");
    if (st == ACCT_OK)
        log_info(NULL, "event=sending_%s user=%s", disabled ? "disabled" : "enabled", u);
    return st;
}

acct_status sending_set_limit(sending *s, const char *user, long limit)
{
    char u[SENDING_MAX_ADDR + 1], l[24];
    if (sending_norm(user, u, 0) < 0 || limit < -1)
        return ACCT_INVALID;
    snprintf(l, sizeof l, "%ld", limit);
    acct_status st = sending_change(s, "INSERT INTO sending(address, daily_limit) VALUES (?1, ?2) "
                                       "ON CONFLICT(address) DO UPDATE SET daily_limit = excluded.daily_limit",
                                    u, l, NULL, "set_limit");
    if (st == ACCT_OK)
        log_info(NULL, "event=sending_limit user=%s limit=%ld", u, limit);
    return st;
}

acct_status sending_get(sending *s, const char *user, int *disabled, long *limit)
{
    char u[SENDING_MAX_ADDR + 1];
    *disabled = 0;
    *limit = -1;
    if (sending_norm(user, u, 0) < 0)
        return ACCT_NOTFOUND;
    sqlite3_stmt *st = NULL;
    int rc = sending_run(s->db, "SELECT disabled, daily_limit FROM sending WHERE address = ?1", u, NULL, NULL, &st);
    if (rc == SQLITE_ROW) {
        *disabled = sqlite3_column_int(st, 0) != 0;
        *limit = (long)sqlite3_column_int64(st, 1);
        sqlite3_finalize(st);
        return ACCT_OK;
    }
    return rc == SQLITE_DONE ? ACCT_OK : sending_fail(s->db, "get");
}

/* --- SQLite send-rate backend ------------------------------------------- */

/* sendrate_sqlite_count - current window's count for key */
static acct_status sendrate_sqlite_count(void *impl, const char *key, time_t now, unsigned window,
                                         unsigned *count, time_t *window_end)
{
    sqlite3 *db = impl;
    sqlite3_stmt *st = NULL;
    *count = 0;
    *window_end = 0;
    int rc = sending_run(db, "SELECT window_start, count FROM send_rate WHERE key = ?1", key, NULL, NULL, &st);
    if (rc == SQLITE_ROW) {
        time_t start = (time_t)sqlite3_column_int64(st, 0);
        if (now < start + (time_t)window) {
            *count = (unsigned)sqlite3_column_int64(st, 1);
            *window_end = start + (time_t)window;
        }
        sqlite3_finalize(st);
        return ACCT_OK;
    }
    return rc == SQLITE_DONE ? ACCT_OK : sending_fail(db, "rate_count");
}

/* sendrate_sqlite_add - count one message; a window that ended starts again at now */
static acct_status sendrate_sqlite_add(void *impl, const char *key, time_t now, unsigned window)
{
    sqlite3 *db = impl;
    char n[24], w[24];
    snprintf(n, sizeof n, "%lld", (long long)now);
    snprintf(w, sizeof w, "%u", window);
    int rc = sending_run(db,
                         "INSERT INTO send_rate(key, window_start, count) VALUES (?1, CAST(?2 AS INTEGER), 1) "
                         "ON CONFLICT(key) DO UPDATE SET "
                         "count = CASE WHEN CAST(?2 AS INTEGER) >= window_start + CAST(?3 AS INTEGER) "
                         "THEN 1 ELSE count + 1 END, "
                         "window_start = CASE WHEN CAST(?2 AS INTEGER) >= window_start + CAST(?3 AS INTEGER) "
                         "THEN CAST(?2 AS INTEGER) ELSE window_start END",
                         key, n, w, NULL);
    return rc == SQLITE_DONE ? ACCT_OK : sending_fail(db, "rate_add");
}

/* sendrate_sqlite_close - close the connection */
static void sendrate_sqlite_close(void *impl)
{
    sqlite3_close(impl);
}

static const sendrate_backend sendrate_sqlite = {
    "sqlite", sendrate_sqlite_count, sendrate_sqlite_add, sendrate_sqlite_close,
};

sendrate *sendrate_open_sqlite(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = sending_db_open(db_path, 1, err, errlen);
    if (!db)
        return NULL;
    sendrate *r = xcalloc(1, sizeof *r);
    r->be = &sendrate_sqlite;
    r->impl = db;
    return r;
}

void sendrate_close(sendrate *r)
{
    if (!r)
        return;
    r->be->close(r->impl);
    free(r);
}
