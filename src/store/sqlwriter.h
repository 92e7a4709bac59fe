/*
 * sqlwriter - rows inserted into SQLite by one writer thread, in batches
 * (one transaction per batch), so that callers on the event loop or on
 * delivery workers never wait for the disk. The message log and the DMARC
 * result store are both built on it.
 *
 *   static sqlwriter w = SQLWRITER_INIT;
 *   sqlwriter_start(&w, db_path, schema, "INSERT INTO t(a, b) VALUES (?, ?)", "name", max, err, len);
 *   sqlwriter_row *r = sqlwriter_row_new(2);
 *   sqlwriter_text(r, 0, "x"); sqlwriter_int(r, 1, 42);
 *   sqlwriter_push(&w, r);      // the writer owns r from here on
 *   sqlwriter_stop(&w);         // writes what is pending, then stops
 *
 * Rows pushed while the writer is not running are dropped (the CLI and
 * tests run without one). At most `max` rows wait; past that new rows are
 * dropped and counted, and the writer logs how many
 * (event=NAME_dropped): the caller's log line stays the record. Values
 * bind to the INSERT's parameters in order. The optional tick hook runs
 * on the writer thread between batches (the message log prunes old rows
 * there).
 */
#ifndef POCHTA_STORE_SQLWRITER_H
#define POCHTA_STORE_SQLWRITER_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>

typedef struct sqlwriter_row sqlwriter_row;

typedef struct sqlwriter {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    sqlite3 *db;
    int running, stopping;
    sqlwriter_row *head, *tail;
    size_t pending, max;
    unsigned long dropped;
    const char *name, *insert_sql;
    void (*tick)(sqlite3 *db);  /* set before sqlwriter_start; may be NULL */
} sqlwriter;

#define SQLWRITER_INIT {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER}

/* sqlwriter_start - open db_path (WAL), run schema, start the writer; 0, or -1 with err */
int sqlwriter_start(sqlwriter *w, const char *db_path, const char *schema, const char *insert_sql,
                    const char *name, size_t max, char *err, size_t errlen);
/* sqlwriter_stop - write what is pending, stop the writer, close the database */
void sqlwriter_stop(sqlwriter *w);
/* sqlwriter_taking - 1 when a push now would be kept (running, not full): skip building rows otherwise;
 * a 0 while running counts one dropped row */
int sqlwriter_taking(sqlwriter *w);

/* sqlwriter_row_new - a row of n NULL values */
sqlwriter_row *sqlwriter_row_new(size_t n);
/* sqlwriter_text - value i is a copy of s (NULL stays NULL) */
void sqlwriter_text(sqlwriter_row *r, size_t i, const char *s);
/* sqlwriter_text_own - value i is s, a heap string the row now owns */
void sqlwriter_text_own(sqlwriter_row *r, size_t i, char *s);
/* sqlwriter_int - value i is an integer */
void sqlwriter_int(sqlwriter_row *r, size_t i, long long v);
/* sqlwriter_real - value i is a floating-point number */
void sqlwriter_real(sqlwriter_row *r, size_t i, double v);
/* sqlwriter_push - hand r to the writer (or drop it, see above); r is no longer the caller's */
void sqlwriter_push(sqlwriter *w, sqlwriter_row *r);

/* sqlwriter_open - open db_path with flags and a busy timeout; NULL with err */
sqlite3 *sqlwriter_open(const char *db_path, int flags, char *err, size_t errlen);

#endif
