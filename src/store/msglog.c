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
 */
#include "store/msglog.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MSGLOG_DETAIL_MAX 4096
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

/* msglog_thread - take every pending row and insert them, until stopped and empty */
static void *msglog_thread(void *arg)
{
    pthread_mutex_lock(&msglog.lock);
    for (;;) {
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

/* msglog_print - print the stored story of id, oldest first */
long msglog_print(const char *db_path, const char *id, FILE *out)
{
    char err[512];
    sqlite3 *db = msglog_open_db(db_path, SQLITE_OPEN_READONLY, err, sizeof err);
    if (!db) {
        log_error(id, "event=msglog_error error=\"%s\"", err);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    long rows = 0;
    if (sqlite3_prepare_v2(db, "SELECT ts, event, detail FROM msglog WHERE id = ? ORDER BY ts, rowid", -1,
                           &st, NULL) != SQLITE_OK) {
        /* no table yet: nothing was ever logged */
        int missing = strstr(sqlite3_errmsg(db), "no such table") != NULL;
        if (!missing)
            log_error(id, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
        sqlite3_close(db);
        return missing ? 0 : -1;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double ts = sqlite3_column_double(st, 0);
        const unsigned char *ev = sqlite3_column_text(st, 1), *det = sqlite3_column_text(st, 2);
        time_t t = (time_t)ts;
        struct tm tm;
        char when[32];
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(out, "%s %s %s%s%s\n", when, id, ev ? (const char *)ev : "", det && *det ? " " : "",
                det ? (const char *)det : "");
        rows++;
    }
    if (rc != SQLITE_DONE) {
        log_error(id, "event=msglog_error error=\"%s\"", sqlite3_errmsg(db));
        rows = -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
}
