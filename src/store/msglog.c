/*
 * msglog - per-message event log in SQLite (API in msglog.h).
 *
 * Table msglog(id TEXT, ts REAL, event TEXT, detail TEXT), indexed on id,
 * in the same database file as the accounts (WAL mode, busy timeout).
 * msglog_event() formats the row, logs it through lib/log and appends it
 * to an in-memory list; one writer thread takes the whole list at a time
 * and inserts it in a single transaction, so callers (the event loop,
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
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/hdr_addr.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MSGLOG_DETAIL_MAX 8192
#define MSGLOG_PRUNE_EVERY 3600.0 /* seconds between two retention passes */
#define MSGLOG_PENDING_MAX 100000
#define MSGLOG_BUSY_MS 5000

static const char msglog_schema[] =
    "CREATE TABLE IF NOT EXISTS msglog(id TEXT, ts REAL, event TEXT, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS msglog_id ON msglog(id);";

typedef struct msglog_row {
    char *id, *event, *detail;  /* heap, owned by the row */
    double ts;
    struct msglog_row *next;
} msglog_row;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    sqlite3 *db;
    int running, stopping;
    msglog_row *head, *tail;
    size_t pending;
    unsigned long dropped;
    double max_age;   /* seconds; 0 = keep forever */
    long max_rows;    /* 0 = no cap */
    double pruned_at; /* last retention pass */
} msglog = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* msglog_row_free - release a list of rows */
static void msglog_row_free(msglog_row *r)
{
    while (r) {
        msglog_row *next = r->next;
        free(r->id);
        free(r->event);
        free(r->detail);
        free(r);
        r = next;
    }
}

/* msglog_insert - write one batch in one transaction; rows that fail are logged */
static void msglog_insert(sqlite3 *db, msglog_row *rows)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO msglog(id, ts, event, detail) VALUES (?, ?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        goto fail;
    for (msglog_row *r = rows; r; r = r->next) {
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, r->ts);
        sqlite3_bind_text(st, 3, r->event, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->detail, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return;
    st = NULL;
fail:
    log_error(NULL, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* msglog_set_retention - age and row cap applied by the writer; call before msglog_start */
void msglog_set_retention(double max_age_seconds, long max_rows)
{
    pthread_mutex_lock(&msglog.lock);
    msglog.max_age = max_age_seconds;
    msglog.max_rows = max_rows;
    pthread_mutex_unlock(&msglog.lock);
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

/* msglog_prune_due - run a retention pass when the last one is an hour old (writer thread, lock held) */
static void msglog_prune_due(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = (double)tv.tv_sec;
    if (now - msglog.pruned_at < MSGLOG_PRUNE_EVERY)
        return;
    msglog.pruned_at = now;
    double age = msglog.max_age;
    long rows = msglog.max_rows;
    pthread_mutex_unlock(&msglog.lock);
    msglog_prune(msglog.db, age, rows);
    pthread_mutex_lock(&msglog.lock);
}

/* msglog_thread - take every pending row and insert them, until stopped and empty */
static void *msglog_thread(void *arg)
{
    pthread_mutex_lock(&msglog.lock);
    for (;;) {
        msglog_prune_due();
        if (!msglog.head) {
            if (msglog.stopping)
                break;
            pthread_cond_wait(&msglog.wake, &msglog.lock);
            continue;
        }
        msglog_row *rows = msglog.head;
        msglog.head = msglog.tail = NULL;
        msglog.pending = 0;
        unsigned long dropped = msglog.dropped;
        msglog.dropped = 0;
        pthread_mutex_unlock(&msglog.lock);
        if (dropped)
            log_warn(NULL, "event=msglog_dropped rows=%lu reason=\"writer behind\"", dropped);
        msglog_insert(msglog.db, rows);
        msglog_row_free(rows);
        pthread_mutex_lock(&msglog.lock);
    }
    pthread_mutex_unlock(&msglog.lock);
    return NULL;
}

/* msglog_open_db - open db_path with WAL and a busy timeout; NULL with err */
static sqlite3 *msglog_open_db(const char *db_path, int flags, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db_path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, MSGLOG_BUSY_MS);
    return db;
}

/* msglog_start - open the database, create the table, start the writer */
int msglog_start(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = msglog_open_db(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
    if (!db)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, msglog_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", db_path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    pthread_mutex_lock(&msglog.lock);
    msglog.db = db;
    msglog.stopping = 0;
    msglog.pruned_at = 0; /* first pass when the writer starts */
    if (pthread_create(&msglog.thread, NULL, msglog_thread, NULL) != 0) {
        pthread_mutex_unlock(&msglog.lock);
        sqlite3_close(db);
        msglog.db = NULL;
        snprintf(err, errlen, "cannot start the message log writer");
        return -1;
    }
    msglog.running = 1;
    pthread_mutex_unlock(&msglog.lock);
    return 0;
}

/* msglog_stop - flush what is pending, stop the writer, close the database */
void msglog_stop(void)
{
    pthread_mutex_lock(&msglog.lock);
    if (!msglog.running) {
        pthread_mutex_unlock(&msglog.lock);
        return;
    }
    msglog.running = 0;
    msglog.stopping = 1;
    pthread_cond_signal(&msglog.wake);
    pthread_mutex_unlock(&msglog.lock);
    pthread_join(msglog.thread, NULL);
    sqlite3_close(msglog.db);
    msglog.db = NULL;
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
    pthread_mutex_lock(&msglog.lock);
    if (!msglog.running) {
        pthread_mutex_unlock(&msglog.lock);
        buf_free(&detail);
        return;
    }
    if (msglog.pending >= MSGLOG_PENDING_MAX) {
        msglog.dropped++;
        pthread_mutex_unlock(&msglog.lock);
        buf_free(&detail);
        return;
    }
    pthread_mutex_unlock(&msglog.lock);
    msglog_row *r = xcalloc(1, sizeof *r);
    r->id = xstrdup(id ? id : "-");
    r->event = xstrdup(event);
    r->detail = buf_steal(&detail, NULL);
    if (!r->detail)
        r->detail = xstrdup("");
    r->ts = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    pthread_mutex_lock(&msglog.lock);
    if (msglog.tail)
        msglog.tail->next = r;
    else
        msglog.head = r;
    msglog.tail = r;
    msglog.pending++;
    pthread_cond_signal(&msglog.wake);
    pthread_mutex_unlock(&msglog.lock);
}

/* msglog_store - insert one row now, in the caller's thread (the CLI: queue hold/delete) */
int msglog_store(const char *db_path, const char *id, const char *event, const char *fmt, ...)
{
    char err[512], detail[MSGLOG_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sqlite3 *db = msglog_open_db(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, sizeof err);
    sqlite3_stmt *st = NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int rc = -1;
    if (!db || sqlite3_exec(db, msglog_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO msglog(id, ts, event, detail) VALUES (?, ?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
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
