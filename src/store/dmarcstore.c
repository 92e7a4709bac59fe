/*
 * dmarcstore - DMARC result rows in SQLite (API in dmarcstore.h).
 *
 * Table dmarc_results, one row per evaluated message, indexed on
 * (policy_domain, ts) because aggregate reports are per policy domain and
 * period. Rows wait in a list; one writer thread inserts a whole batch in
 * one transaction, so the event loop never waits for the disk.
 */
#include "store/dmarcstore.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define DMARCSTORE_BUSY_MS 5000
#define DMARCSTORE_NTEXT 17

static const char dmarcstore_schema[] =
    "CREATE TABLE IF NOT EXISTS dmarc_results(id TEXT, ts INTEGER, source_ip TEXT, header_from TEXT,"
    " envelope_from TEXT, policy_domain TEXT, p TEXT, sp TEXT, pct INTEGER, adkim TEXT, aspf TEXT, rua TEXT,"
    " result TEXT, disposition TEXT, override TEXT, dkim_aligned INTEGER, spf_aligned INTEGER,"
    " spf_domain TEXT, spf_scope TEXT, spf_result TEXT, dkim TEXT);"
    "CREATE INDEX IF NOT EXISTS dmarc_results_domain ON dmarc_results(policy_domain, ts);";

static const char dmarcstore_insert_sql[] =
    "INSERT INTO dmarc_results(id, source_ip, header_from, envelope_from, policy_domain, p, sp, adkim, aspf,"
    " rua, result, disposition, override, spf_domain, spf_scope, spf_result, dkim, ts, pct, dkim_aligned,"
    " spf_aligned) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

typedef struct dmarcstore_item {
    char *text[DMARCSTORE_NTEXT]; /* in the column order of dmarcstore_insert_sql */
    long long num[4];             /* ts, pct, dkim_aligned, spf_aligned */
    struct dmarcstore_item *next;
} dmarcstore_item;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    sqlite3 *db;
    int running, stopping;
    dmarcstore_item *head, *tail;
    size_t pending;
    unsigned long dropped;
} ds = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* dmarcstore_item_free - a list of items */
static void dmarcstore_item_free(dmarcstore_item *it)
{
    while (it) {
        dmarcstore_item *next = it->next;
        for (int i = 0; i < DMARCSTORE_NTEXT; i++)
            free(it->text[i]);
        free(it);
        it = next;
    }
}

/* dmarcstore_insert - one batch, one transaction */
static void dmarcstore_insert(sqlite3 *db, dmarcstore_item *items)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, dmarcstore_insert_sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (dmarcstore_item *it = items; it; it = it->next) {
        for (int i = 0; i < DMARCSTORE_NTEXT; i++)
            sqlite3_bind_text(st, i + 1, it->text[i], -1, SQLITE_STATIC);
        for (int i = 0; i < 4; i++)
            sqlite3_bind_int64(st, DMARCSTORE_NTEXT + 1 + i, it->num[i]);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return;
    st = NULL;
fail:
    log_error(NULL, "event=dmarcstore_error error=\"%s\"", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* dmarcstore_thread - write batches until stopped and empty */
static void *dmarcstore_thread(void *arg)
{
    pthread_mutex_lock(&ds.lock);
    for (;;) {
        if (!ds.head) {
            if (ds.stopping)
                break;
            pthread_cond_wait(&ds.wake, &ds.lock);
            continue;
        }
        dmarcstore_item *items = ds.head;
        ds.head = ds.tail = NULL;
        ds.pending = 0;
        unsigned long dropped = ds.dropped;
        ds.dropped = 0;
        pthread_mutex_unlock(&ds.lock);
        if (dropped)
            log_warn(NULL, "event=dmarcstore_dropped rows=%lu reason=\"writer behind\"", dropped);
        dmarcstore_insert(ds.db, items);
        dmarcstore_item_free(items);
        pthread_mutex_lock(&ds.lock);
    }
    pthread_mutex_unlock(&ds.lock);
    return NULL;
}

/* dmarcstore_start - see dmarcstore.h */
int dmarcstore_start(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, DMARCSTORE_BUSY_MS);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, dmarcstore_schema, NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    pthread_mutex_lock(&ds.lock);
    ds.db = db;
    ds.stopping = 0;
    if (pthread_create(&ds.thread, NULL, dmarcstore_thread, NULL) != 0) {
        pthread_mutex_unlock(&ds.lock);
        ds.db = NULL;
        snprintf(err, errlen, "cannot start the DMARC result writer");
        sqlite3_close(db);
        return -1;
    }
    ds.running = 1;
    pthread_mutex_unlock(&ds.lock);
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", db_path, msg ? msg : db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_free(msg);
    sqlite3_close(db);
    return -1;
}

/* dmarcstore_stop - flush and stop */
void dmarcstore_stop(void)
{
    pthread_mutex_lock(&ds.lock);
    if (!ds.running) {
        pthread_mutex_unlock(&ds.lock);
        return;
    }
    ds.running = 0;
    ds.stopping = 1;
    pthread_cond_signal(&ds.wake);
    pthread_mutex_unlock(&ds.lock);
    pthread_join(ds.thread, NULL);
    sqlite3_close(ds.db);
    ds.db = NULL;
}

/* dmarcstore_dup - copy of s, NULL stays NULL */
static char *dmarcstore_dup(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* dmarcstore_add - see dmarcstore.h */
void dmarcstore_add(const dmarcstore_row *r)
{
    pthread_mutex_lock(&ds.lock);
    int take = ds.running && ds.pending < DMARCSTORE_PENDING_MAX;
    if (ds.running && !take)
        ds.dropped++;
    pthread_mutex_unlock(&ds.lock);
    if (!take)
        return;
    dmarcstore_item *it = xcalloc(1, sizeof *it);
    const char *texts[DMARCSTORE_NTEXT] = {r->id, r->source_ip, r->header_from, r->envelope_from,
                                           r->policy_domain, r->p, r->sp, r->adkim, r->aspf, r->rua,
                                           r->result, r->disposition, r->override, r->spf_domain,
                                           r->spf_scope, r->spf_result, r->dkim};
    for (int i = 0; i < DMARCSTORE_NTEXT; i++)
        it->text[i] = dmarcstore_dup(texts[i]);
    it->num[0] = (long long)r->ts;
    it->num[1] = r->pct;
    it->num[2] = r->dkim_aligned;
    it->num[3] = r->spf_aligned;
    pthread_mutex_lock(&ds.lock);
    if (ds.tail)
        ds.tail->next = it;
    else
        ds.head = it;
    ds.tail = it;
    ds.pending++;
    pthread_cond_signal(&ds.wake);
    pthread_mutex_unlock(&ds.lock);
}
