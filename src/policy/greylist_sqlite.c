/*
 * greylist_sqlite - the greylist store in pochta.db (table greylist), on
 * its own connection. Reads and writes run on the loop thread: they touch
 * one small indexed table that stays in the page cache. synchronous=NORMAL
 * is enough: losing the last greylist writes in a power cut only makes a
 * sender retry once more, it loses no mail.
 */
#include "policy/greylist.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct greylist_db {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *purge;
} greylist_db;

/* greylist_sqlite_get - read one entry */
static greylist_db_status greylist_sqlite_get(void *h, const char *key, greylist_entry *e)
{
    greylist_db *g = h;
    sqlite3_reset(g->get);
    sqlite3_bind_text(g->get, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(g->get);
    if (rc == SQLITE_DONE)
        return GREYLIST_DB_NOTFOUND;
    if (rc != SQLITE_ROW) {
        log_warn(NULL, "event=greylist_db_error op=get error=\"%s\"", sqlite3_errmsg(g->db));
        return GREYLIST_DB_TEMPFAIL;
    }
    e->first = sqlite3_column_int64(g->get, 0);
    e->last = sqlite3_column_int64(g->get, 1);
    e->count = (unsigned)sqlite3_column_int64(g->get, 2);
    sqlite3_reset(g->get);
    return GREYLIST_DB_OK;
}

/* greylist_sqlite_put - insert or replace one entry */
static greylist_db_status greylist_sqlite_put(void *h, const char *key, const greylist_entry *e)
{
    greylist_db *g = h;
    sqlite3_reset(g->put);
    sqlite3_bind_text(g->put, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(g->put, 2, e->first);
    sqlite3_bind_int64(g->put, 3, e->last);
    sqlite3_bind_int64(g->put, 4, e->count);
    int rc = sqlite3_step(g->put);
    sqlite3_reset(g->put);
    if (rc != SQLITE_DONE) {
        log_warn(NULL, "event=greylist_db_error op=put error=\"%s\"", sqlite3_errmsg(g->db));
        return GREYLIST_DB_TEMPFAIL;
    }
    return GREYLIST_DB_OK;
}

/* greylist_sqlite_purge - delete expired entries */
static greylist_db_status greylist_sqlite_purge(void *h, long long pending_before, long long passed_before)
{
    greylist_db *g = h;
    sqlite3_reset(g->purge);
    sqlite3_bind_int64(g->purge, 1, pending_before);
    sqlite3_bind_int64(g->purge, 2, passed_before);
    int rc = sqlite3_step(g->purge);
    sqlite3_reset(g->purge);
    return rc == SQLITE_DONE ? GREYLIST_DB_OK : GREYLIST_DB_TEMPFAIL;
}

/* greylist_sqlite_close - finalize and close */
static void greylist_sqlite_close(void *h)
{
    greylist_db *g = h;
    sqlite3_finalize(g->get);
    sqlite3_finalize(g->put);
    sqlite3_finalize(g->purge);
    sqlite3_close(g->db);
    free(g);
}

static const greylist_ops greylist_sqlite_ops = {
    greylist_sqlite_get, greylist_sqlite_put, greylist_sqlite_purge, greylist_sqlite_close,
};

/* greylist_sqlite_open - open db_path, create the table, prepare statements */
greylist *greylist_sqlite_open(const char *db_path, char *err, size_t errlen)
{
    greylist_db *d = xcalloc(1, sizeof *d);
    if (sqlite3_open_v2(db_path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(d->db, 200);
    if (sqlite3_exec(d->db, "PRAGMA synchronous=NORMAL;"
                            "CREATE TABLE IF NOT EXISTS greylist (key TEXT PRIMARY KEY, first INTEGER NOT NULL, "
                            "last INTEGER NOT NULL, count INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(d->db, "SELECT first, last, count FROM greylist WHERE key = ?1", -1, &d->get, NULL) ||
        sqlite3_prepare_v2(d->db, "INSERT OR REPLACE INTO greylist (key, first, last, count) VALUES (?1, ?2, ?3, ?4)",
                           -1, &d->put, NULL) ||
        sqlite3_prepare_v2(d->db, "DELETE FROM greylist WHERE (count = 0 AND first < ?1) OR last < ?2", -1,
                           &d->purge, NULL))
        goto fail;
    greylist *g = xcalloc(1, sizeof *g);
    g->ops = &greylist_sqlite_ops;
    g->h = d;
    return g;
fail:
    snprintf(err, errlen, "%s: greylist table: %s", db_path, d->db ? sqlite3_errmsg(d->db) : "cannot open");
    greylist_sqlite_close(d);
    return NULL;
}
