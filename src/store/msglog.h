/*
 * msglog - the story of each message: one event line per step, keyed by
 * queue ID, both logged (lib/log) and kept in the SQLite database so that
 * `pochta log ID` can print it later.
 *
 * msglog_event() is safe from any thread and never blocks on disk: rows are
 * handed to a writer thread that inserts them in batches (one transaction per
 * batch). Events: client (connect/HELO/TLS), rcpt (verdict with reply),
 * queued, delivered, deferred, bounced, expired, and refusals.
 */
#ifndef POCHTA_STORE_MSGLOG_H
#define POCHTA_STORE_MSGLOG_H

#include <stddef.h>
#include <stdio.h>

/* msglog_start - open db_path for writing and start the writer thread; 0 or -1 with err */
int msglog_start(const char *db_path, char *err, size_t errlen);
/* msglog_stop - flush pending rows and stop the writer */
void msglog_stop(void);

/*
 * msglog_event - log "ID event=EVENT <fmt...>" and store it. fmt continues
 * the key=value line (e.g. "to=<bob@example.test> status=sent relay=local").
 * Before msglog_start() (or in the CLI) it only logs.
 */
void msglog_event(const char *id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* msglog_set_retention - drop rows older than max_age_seconds and past max_rows (0 = no limit); before msglog_start */
void msglog_set_retention(double max_age_seconds, long max_rows);

/* msglog_store - insert one row synchronously (the CLI's own events); 0 or -1 (logged) */
int msglog_store(const char *db_path, const char *id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* msglog_message_id - log event=message_id with the Message-ID header of data (nothing when it has none) */
void msglog_message_id(const char *id, const char *data, size_t len);

/* Queries (msglog_query.c), read-only, for `pochta log` and `pochta trace`. */

/* msglog_print - write every stored event of id, oldest first, to out; returns rows printed or -1 */
long msglog_print(const char *db_path, const char *id, FILE *out);

/* msglog_row_fn - one stored row: time (Unix, fractional), event name, key=value detail */
typedef void (*msglog_row_fn)(void *arg, double ts, const char *event, const char *detail);
/* msglog_each - call fn for every row of id, oldest first; rows seen or -1 */
long msglog_each(const char *db_path, const char *id, msglog_row_fn fn, void *arg);

/* msglog_id_fn - one matching queue ID and the time of its latest row */
typedef void (*msglog_id_fn)(void *arg, const char *id, double last_ts);
/*
 * msglog_find - queue IDs whose rows mention needle, newest first, at most
 * limit of them. mode 'm': needle is a Message-ID (event message_id, exact);
 * mode 'a': an address (any row with "<needle>" in it, case-insensitive).
 * Returns IDs found or -1.
 */
long msglog_find(const char *db_path, char mode, const char *needle, long limit, msglog_id_fn fn, void *arg);

#endif
