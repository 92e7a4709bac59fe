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

/* msglog_print - write every stored event of id, oldest first, to out; returns rows printed or -1 */
long msglog_print(const char *db_path, const char *id, FILE *out);

#endif
