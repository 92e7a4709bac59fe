/*
 * msglog - per-message event log in SQLite (API in msglog.h).
 *
 * Table msglog(id TEXT, ts REAL, event TEXT, detail TEXT), indexed on id,
 * in the same database file as the accounts (WAL mode, busy timeout).
 * msglog_event() formats the row, logs it through lib/log and hands it to
 * a batched writer thread (sqlwriter.h), so callers (the event loop,
 * delivery workers) never wait for the disk.
 *
 * Limits: MSGLOG_DETAIL_MAX bytes of detail per row; at most
 * MSGLOG_PENDING_MAX rows waiting (past that rows are only logged, and a
 * warning says how many were dropped: the log line remains the record).
 * Retention (msglog_set_retention, config msglog_retention and
 * msglog_max_rows): the writer deletes rows older than the age and the
 * oldest rows past the count, at start and then at most once an hour.
 * Queries for `pochta log` and `pochta trace` are in msglog_query.c.
 */
#include "store/msglog.h"
#include "store/sqlwriter.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/hdr_addr.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MSGLOG_DETAIL_MAX 8192
#define MSGLOG_PRUNE_EVERY 3600.0 /* seconds between two retention passes */
#define MSGLOG_PENDING_MAX 100000

static const char msglog_schema[] =
    "CREATE TABLE IF NOT EXISTS msglog(id TEXT, ts REAL, event TEXT, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS msglog_id ON msglog(id);";

static const char msglog_insert_sql[] = "INSERT INTO msglog(id, ts, event, detail) VALUES (?, ?, ?, ?)";

static sqlwriter msglog_writer = SQLWRITER_INIT;

/* retention, set before msglog_start and read by the writer thread only */
static double msglog_max_age;   /* seconds; 0 = keep forever */
static long msglog_max_rows;    /* 0 = no cap */
static double msglog_pruned_at; /* last retention pass */

/* msglog_set_retention - age and row cap applied by the writer; call before msglog_start */
void msglog_set_retention(double max_age_seconds, long max_rows)
{
    msglog_max_age = max_age_seconds;
    msglog_max_rows = max_rows;
}

/* msglog_prune - delete rows past the retention age and the oldest past the row cap */
static void msglog_prune(sqlite3 *db, double max_age, long max_rows)
{
    sqlite3_stmt *st = NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (max_age > 0 &&
        sqlite3_prepare_v2(db, "DELETE FROM msglog WHERE ts < ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_double(st, 1, (double)tv.tv_sec + (double)tv.tv_usec / 1e6 - max_age);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_error(NULL, "event=msglog_error op=prune error=\"%s\"", sqlite3_errmsg(db));
        else if (sqlite3_changes(db) > 0)
            log_info(NULL, "event=msglog_pruned reason=age rows=%d", sqlite3_changes(db));
    }
    sqlite3_finalize(st);
    st = NULL;
    /* rowids grow with insertion, so the oldest rows have the smallest ones */
    if (max_rows > 0 && sqlite3_prepare_v2(db, "DELETE FROM msglog WHERE rowid <= (SELECT max(rowid) FROM msglog) - ?",
                                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, max_rows);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_error(NULL, "event=msglog_error op=prune error=\"%s\"", sqlite3_errmsg(db));
        else if (sqlite3_changes(db) > 0)
            log_info(NULL, "event=msglog_pruned reason=rows rows=%d", sqlite3_changes(db));
    }
    sqlite3_finalize(st);
}

/* msglog_prune_due - a retention pass when the last one is an hour old (writer thread, between batches) */
static void msglog_prune_due(sqlite3 *db)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = (double)tv.tv_sec;
    if (now - msglog_pruned_at < MSGLOG_PRUNE_EVERY)
        return;
    msglog_pruned_at = now;
    msglog_prune(db, msglog_max_age, msglog_max_rows);
}

/* msglog_start - open the database, create the table, start the writer */
int msglog_start(const char *db_path, char *err, size_t errlen)
{
    msglog_pruned_at = 0; /* first pass when the writer starts */
    msglog_writer.tick = msglog_prune_due;
    return sqlwriter_start(&msglog_writer, db_path, msglog_schema, msglog_insert_sql, "msglog", MSGLOG_PENDING_MAX,
                           err, errlen);
}

/* msglog_stop - flush what is pending, stop the writer, close the database */
void msglog_stop(void)
{
    sqlwriter_stop(&msglog_writer);
}

/* msglog_event - log the event now and queue it for the database */
void msglog_event(const char *id, const char *event, const char *fmt, ...)
{
    buf detail;
    buf_init(&detail, MSGLOG_DETAIL_MAX);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vprintf(&detail, fmt, ap) != BUF_OK) {
        /* too long for one row: keep what fits, marked as cut */
        va_end(ap);
        va_start(ap, fmt);
        char *full = NULL;
        if (vasprintf(&full, fmt, ap) >= 0) {
            buf_append(&detail, full, MSGLOG_DETAIL_MAX - 16);
            buf_append_str(&detail, " truncated=yes");
            free(full);
        }
    }
    va_end(ap);
    log_info(id, "event=%s %s", event, buf_cstr(&detail));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (!sqlwriter_taking(&msglog_writer)) {
        buf_free(&detail);
        return;
    }
    char *d = buf_steal(&detail, NULL);
    sqlwriter_row *r = sqlwriter_row_new(4);
    sqlwriter_text(r, 0, id ? id : "-");
    sqlwriter_real(r, 1, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    sqlwriter_text(r, 2, event);
    sqlwriter_text_own(r, 3, d ? d : xstrdup(""));
    sqlwriter_push(&msglog_writer, r);
}

/* msglog_store - insert one row now, in the caller's thread (the CLI: queue hold/delete) */
int msglog_store(const char *db_path, const char *id, const char *event, const char *fmt, ...)
{
    char err[512], detail[MSGLOG_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sqlite3 *db = sqlwriter_open(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, sizeof err);
    sqlite3_stmt *st = NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int rc = -1;
    if (!db || sqlite3_exec(db, msglog_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, msglog_insert_sql, -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
done:
    if (rc < 0)
        log_error(id, "event=msglog_error error=\"%s\"", db ? sqlite3_errmsg(db) : err);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* msglog_message_id - record the Message-ID header of a queued message (event message_id) */
void msglog_message_id(const char *id, const char *data, size_t len)
{
    char ids[1][MAIL_PATH_MAX];
    size_t n = 0;
    /* a Message-ID has the shape of an angle address (RFC 5322 3.6.4) */
    if (hdr_addrs(data, len, "message-id", ids, 1, &n) != HDR_FROM_OK || n != 1)
        return;
    char q[MAIL_PATH_MAX + 16];
    log_quote(q, sizeof q, ids[0], strlen(ids[0]));
    msglog_event(id, "message_id", "message_id=%s", q);
}
