/*
 * sqlwriter - batched SQLite inserts on one writer thread (API and
 * contract in sqlwriter.h).
 */
#include "store/sqlwriter.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>

#define SQLWRITER_BUSY_MS 5000

typedef struct sqlwriter_value {
    enum { SQLW_NULL, SQLW_TEXT, SQLW_INT, SQLW_REAL } type;
    char *s;       /* SQLW_TEXT, owned */
    long long i;
    double d;
} sqlwriter_value;

struct sqlwriter_row {
    size_t n;
    struct sqlwriter_row *next;
    sqlwriter_value v[];
};

/* sqlwriter_row_new - see sqlwriter.h */
sqlwriter_row *sqlwriter_row_new(size_t n)
{
    sqlwriter_row *r = xcalloc(1, sizeof *r + n * sizeof r->v[0]);
    r->n = n;
    return r;
}

/* sqlwriter_text_own - see sqlwriter.h */
void sqlwriter_text_own(sqlwriter_row *r, size_t i, char *s)
{
    free(r->v[i].s);
    r->v[i].s = s;
    r->v[i].type = s ? SQLW_TEXT : SQLW_NULL;
}

/* sqlwriter_text - see sqlwriter.h */
void sqlwriter_text(sqlwriter_row *r, size_t i, const char *s)
{
    sqlwriter_text_own(r, i, s ? xstrdup(s) : NULL);
}

/* sqlwriter_int - see sqlwriter.h */
void sqlwriter_int(sqlwriter_row *r, size_t i, long long v)
{
    r->v[i].type = SQLW_INT;
    r->v[i].i = v;
}

/* sqlwriter_real - see sqlwriter.h */
void sqlwriter_real(sqlwriter_row *r, size_t i, double v)
{
    r->v[i].type = SQLW_REAL;
    r->v[i].d = v;
}

/* sqlwriter_rows_free - release a list of rows */
static void sqlwriter_rows_free(sqlwriter_row *r)
{
    while (r) {
        sqlwriter_row *next = r->next;
        for (size_t i = 0; i < r->n; i++)
            free(r->v[i].s);
        free(r);
        r = next;
    }
}

/* sqlwriter_bind - the row's values to the statement's parameters, in order */
static void sqlwriter_bind(sqlite3_stmt *st, const sqlwriter_row *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const sqlwriter_value *v = &r->v[i];
        int k = (int)i + 1;
        if (v->type == SQLW_TEXT)
            sqlite3_bind_text(st, k, v->s, -1, SQLITE_STATIC);
        else if (v->type == SQLW_INT)
            sqlite3_bind_int64(st, k, v->i);
        else if (v->type == SQLW_REAL)
            sqlite3_bind_double(st, k, v->d);
        else
            sqlite3_bind_null(st, k);
    }
}

/* sqlwriter_insert - one batch, one transaction; a failure is logged and the batch lost */
static void sqlwriter_insert(sqlwriter *w, sqlwriter_row *rows)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, w->insert_sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (sqlwriter_row *r = rows; r; r = r->next) {
        sqlwriter_bind(st, r);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return;
    st = NULL;
fail:
    log_error(NULL, "event=%s_error error=\"%s\"", w->name, sqlite3_errmsg(w->db));
    sqlite3_finalize(st);
    sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
}

/* sqlwriter_thread - take every pending row and insert them, until stopped and empty */
static void *sqlwriter_thread(void *arg)
{
    sqlwriter *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (w->tick) {
            pthread_mutex_unlock(&w->lock);
            w->tick(w->db);
            pthread_mutex_lock(&w->lock);
        }
        if (!w->head) {
            if (w->stopping)
                break;
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        sqlwriter_row *rows = w->head;
        w->head = w->tail = NULL;
        w->pending = 0;
        unsigned long dropped = w->dropped;
        w->dropped = 0;
        pthread_mutex_unlock(&w->lock);
        if (dropped)
            log_warn(NULL, "event=%s_dropped rows=%lu reason=\"writer behind\"", w->name, dropped);
        sqlwriter_insert(w, rows);
        sqlwriter_rows_free(rows);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* sqlwriter_open - see sqlwriter.h */
sqlite3 *sqlwriter_open(const char *db_path, int flags, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db_path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, SQLWRITER_BUSY_MS);
    return db;
}

/* sqlwriter_start - see sqlwriter.h */
int sqlwriter_start(sqlwriter *w, const char *db_path, const char *schema, const char *insert_sql,
                    const char *name, size_t max, char *err, size_t errlen)
{
    sqlite3 *db = sqlwriter_open(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
    if (!db)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", db_path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    w->db = db;
    w->stopping = 0;
    w->insert_sql = insert_sql;
    w->name = name;
    w->max = max;
    if (pthread_create(&w->thread, NULL, sqlwriter_thread, w) != 0) {
        pthread_mutex_unlock(&w->lock);
        sqlite3_close(db);
        w->db = NULL;
        snprintf(err, errlen, "cannot start the %s writer", name);
        return -1;
    }
    w->running = 1;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* sqlwriter_stop - see sqlwriter.h */
void sqlwriter_stop(sqlwriter *w)
{
    pthread_mutex_lock(&w->lock);
    if (!w->running) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    w->running = 0;
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    sqlite3_close(w->db);
    w->db = NULL;
}

/* sqlwriter_taking - see sqlwriter.h */
int sqlwriter_taking(sqlwriter *w)
{
    pthread_mutex_lock(&w->lock);
    int yes = w->running && w->pending < w->max;
    if (w->running && !yes)
        w->dropped++; /* the caller skips the row: counted here, as sqlwriter_push would */
    pthread_mutex_unlock(&w->lock);
    return yes;
}

/* sqlwriter_push - see sqlwriter.h */
void sqlwriter_push(sqlwriter *w, sqlwriter_row *r)
{
    pthread_mutex_lock(&w->lock);
    if (!w->running || w->pending >= w->max) {
        if (w->running)
            w->dropped++;
        pthread_mutex_unlock(&w->lock);
        sqlwriter_rows_free(r);
        return;
    }
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    w->pending++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}
