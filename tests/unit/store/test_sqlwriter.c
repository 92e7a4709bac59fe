/*
 * test_sqlwriter - rows pushed from several threads all reach the table
 * (NULL, text, integer and real values bound in order); rows pushed when
 * the writer is not running are dropped, not queued; stop writes what is
 * pending; past `max` waiting rows, callers asking sqlwriter_taking are
 * refused and every refused row is counted as dropped.
 */
#include "store/sqlwriter.h"

#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define ROWS 500

static sqlwriter w = SQLWRITER_INIT;

/* pusher - ROWS rows tagged with the thread number */
static void *pusher(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < ROWS; i++) {
        sqlwriter_row *r = sqlwriter_row_new(4);
        sqlwriter_text(r, 0, i % 2 ? "odd" : NULL);
        sqlwriter_int(r, 1, t);
        sqlwriter_real(r, 2, i + 0.5);
        sqlwriter_text_own(r, 3, strdup("owned"));
        sqlwriter_push(&w, r);
    }
    return NULL;
}

/* A tick hook that holds the writer until released, so rows pile up behind it */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int holding = 1, held;

/* hold_tick - tell the test the writer is inside, then wait while holding is set */
static void hold_tick(sqlite3 *db)
{
    (void)db;
    pthread_mutex_lock(&hold_lock);
    held = 1;
    pthread_cond_broadcast(&hold_cond);
    while (holding)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
}

/* count - one integer from a query */
static long count(const char *path, const char *sql)
{
    char err[256];
    sqlite3 *db = sqlwriter_open(path, SQLITE_OPEN_READONLY, err, sizeof err);
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/test_sqlwriter.XXXXXX", path[256], err[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/t.db", dir);

    sqlwriter_row *early = sqlwriter_row_new(4);
    sqlwriter_push(&w, early); /* not running: dropped and freed (ASan would see a leak) */

    int rc = sqlwriter_start(&w, path, "CREATE TABLE t(a TEXT, b INTEGER, c REAL, d TEXT);",
                             "INSERT INTO t(a, b, c, d) VALUES (?, ?, ?, ?)", "test", 1000000, err, sizeof err);
    CHECK(rc == 0, "start: %s", err);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, pusher, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    sqlwriter_stop(&w);

    CHECK(count(path, "SELECT count(*) FROM t") == THREADS * ROWS, "every row written");
    CHECK(count(path, "SELECT count(*) FROM t WHERE a IS NULL") == THREADS * ROWS / 2, "NULL text kept NULL");
    CHECK(count(path, "SELECT count(DISTINCT b) FROM t") == THREADS, "integers bound");
    CHECK(count(path, "SELECT count(*) FROM t WHERE c = 0.5 AND d = 'owned'") == THREADS, "reals and owned text");
    CHECK(!sqlwriter_taking(&w), "a stopped writer takes nothing");

    /* a full writer: 2 rows may wait; the writer is held in its tick, so 8 of 10 are refused */
    static sqlwriter full = SQLWRITER_INIT;
    char path2[300];
    snprintf(path2, sizeof path2, "%s/full.db", dir);
    full.tick = hold_tick;
    rc = sqlwriter_start(&full, path2, "CREATE TABLE t(a INTEGER);", "INSERT INTO t(a) VALUES (?)", "full", 2, err,
                         sizeof err);
    CHECK(rc == 0, "start full: %s", err);
    pthread_mutex_lock(&hold_lock);
    while (!held)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    int kept = 0;
    for (int i = 0; i < 10; i++) {
        if (!sqlwriter_taking(&full))
            continue;
        sqlwriter_row *r = sqlwriter_row_new(1);
        sqlwriter_int(r, 0, i);
        sqlwriter_push(&full, r);
        kept++;
    }
    pthread_mutex_lock(&full.lock);
    unsigned long dropped = full.dropped;
    pthread_mutex_unlock(&full.lock);
    CHECK(kept == 2 && dropped == 8, "full: %d kept, %lu dropped", kept, dropped);
    pthread_mutex_lock(&hold_lock);
    holding = 0;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    sqlwriter_stop(&full);
    CHECK(count(path2, "SELECT count(*) FROM t") == 2, "the kept rows written");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
