/*
 * msglog_query - read-only queries over the message log (API in msglog.h):
 * the rows of one queue ID, and the queue IDs that mention an address or a
 * Message-ID. Opened read-only per call, so the CLI never blocks the
 * daemon's writer for long (WAL lets readers and the writer run together).
 *
 * The address search scans the detail column (no index on text inside a
 * row); its cost is bounded by the retention limits (msglog_max_rows rows
 * at most, about a second per million rows).
 */
#include "store/msglog.h"
#include "lib/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MSGLOG_QUERY_BUSY_MS 5000

/* msglog_query_open - the database read-only; NULL (logged) when it cannot be opened */
static sqlite3 *msglog_query_open(const char *db_path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        log_error(NULL, "event=msglog_error error=\"cannot open %s: %s\"", db_path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, MSGLOG_QUERY_BUSY_MS);
    return db;
}

/* msglog_query_prepare - prepare sql; 1 ready, 0 no table yet (nothing logged), -1 error */
static int msglog_query_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return 1;
    if (strstr(sqlite3_errmsg(db), "no such table"))
        return 0;
    log_error(NULL, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
    return -1;
}

/* msglog_each - every row of id, oldest first */
long msglog_each(const char *db_path, const char *id, msglog_row_fn fn, void *arg)
{
    sqlite3 *db = msglog_query_open(db_path);
    if (!db)
        return -1;
    sqlite3_stmt *st = NULL;
    int p = msglog_query_prepare(db, "SELECT ts, event, detail FROM msglog WHERE id = ? ORDER BY ts, rowid", &st);
    long rows = p < 0 ? -1 : 0;
    if (p > 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *ev = sqlite3_column_text(st, 1), *det = sqlite3_column_text(st, 2);
            fn(arg, sqlite3_column_double(st, 0), ev ? (const char *)ev : "", det ? (const char *)det : "");
            rows++;
        }
        if (rc != SQLITE_DONE) {
            log_error(id, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
            rows = -1;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
}

typedef struct msglog_print_ctx {
    const char *id;
    FILE *out;
} msglog_print_ctx;

/* msglog_print_row - one line: local time, ID, event, detail */
static void msglog_print_row(void *arg, double ts, const char *event, const char *detail)
{
    msglog_print_ctx *c = arg;
    time_t t = (time_t)ts;
    struct tm tm;
    char when[32];
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(c->out, "%s %s %s%s%s\n", when, c->id, event, *detail ? " " : "", detail);
}

/* msglog_print - print the stored story of id, oldest first */
long msglog_print(const char *db_path, const char *id, FILE *out)
{
    msglog_print_ctx c = {id, out};
    return msglog_each(db_path, id, msglog_print_row, &c);
}

/* msglog_find - IDs mentioning a Message-ID ('m') or an address ('a'), newest first */
long msglog_find(const char *db_path, char mode, const char *needle, long limit, msglog_id_fn fn, void *arg)
{
    char pattern[1100];
    const char *sql;
    if (mode == 'm') {
        /* the stored value is log_quote()d: plain unless it has spaces or quotes */
        char q[1040];
        log_quote(q, sizeof q, needle, strlen(needle));
        snprintf(pattern, sizeof pattern, "message_id=%s", q);
        sql = "SELECT id, max(ts) AS last FROM msglog WHERE event = 'message_id' AND detail = ?1 "
              "GROUP BY id ORDER BY last DESC LIMIT ?2";
    } else {
        snprintf(pattern, sizeof pattern, "<%s>", needle);
        sql = "SELECT id, max(ts) AS last FROM msglog WHERE id IN (SELECT id FROM msglog WHERE "
              "instr(lower(detail), lower(?1)) > 0) GROUP BY id ORDER BY last DESC LIMIT ?2";
    }
    sqlite3 *db = msglog_query_open(db_path);
    if (!db)
        return -1;
    sqlite3_stmt *st = NULL;
    int p = msglog_query_prepare(db, sql, &st);
    long found = p < 0 ? -1 : 0;
    if (p > 0) {
        sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, limit);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(st, 0);
            fn(arg, id ? (const char *)id : "", sqlite3_column_double(st, 1));
            found++;
        }
        if (rc != SQLITE_DONE) {
            log_error(NULL, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
            found = -1;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}
