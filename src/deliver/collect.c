/*
 * collect - incoming bounces to our VERP return paths become bounce_store
 * records and events in the original message's log (API in collect.h).
 * Runs on a delivery worker thread, after the bounce was fsync'ed in the
 * queue, so parsing never holds up an SMTP session.
 *
 * In the full VERP form the address names the recipient, and only that
 * recipient is counted: whoever holds one message's token (its receiving
 * server) cannot make us suppress other addresses by listing them in a
 * report. A report naming one other address (a forwarder's final mailbox)
 * is counted for the VERP recipient instead.
 */
#include "deliver/collect.h"
#include "bounce/bounce.h"
#include "bounce/bounce_store.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/msglog.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* collect_log - one "bounce_received" event in the original message's log */
static void collect_log(const queue_msg *m, const char *qid, const bounce_rcpt *rc, int suppressed)
{
    char diag[1100], mta[300];
    log_quote(diag, sizeof diag, rc->diagnostic ? rc->diagnostic : "", rc->diagnostic ? strlen(rc->diagnostic) : 0);
    log_quote(mta, sizeof mta, rc->remote_mta && rc->remote_mta[0] ? rc->remote_mta : "-",
              rc->remote_mta && rc->remote_mta[0] ? strlen(rc->remote_mta) : 1);
    msglog_event(qid, "bounce_received", "rcpt=<%s> status=%s reply=%s reason=%s hard=%s suppressed=%s bounce_id=%s "
                 "remote_mta=%s diagnostic=%s", rc->recipient, rc->status[0] ? rc->status : "-",
                 rc->reply_code[0] ? rc->reply_code : "-", rc->reason, rc->hard ? "yes" : "no",
                 suppressed ? "yes" : "no", m->id, mta, diag);
}

/* collect_pick - whether report entry rc is one to count for the VERP recipient rcpt ("" = any) */
static int collect_pick(bounce_report *r, size_t i, const char *rcpt)
{
    bounce_rcpt *rc = &r->rcpt[i];
    if (!rcpt[0] || strcasecmp(rc->recipient, rcpt) == 0)
        return 1;
    if (r->nrcpt != 1)
        return 0;
    free(rc->recipient); /* one other address: the VERP address knows better */
    rc->recipient = xstrdup(rcpt);
    return 1;
}

/* collect_bounce - parse and record one bounce (see collect.h) */
collect_status collect_bounce(const pochta_config *cfg, const queue_msg *m, const char *verp_to, const char *qid,
                              const char *rcpt, size_t *counted)
{
    bounce_report r;
    *counted = 0;
    if (bounce_parse_hint(m->data.data ? m->data.data : "", m->data.len, rcpt[0] ? rcpt : NULL, &r) !=
            BOUNCE_PARSE_OK || r.kind != BOUNCE_KIND_DSN) {
        log_info(m->id, "event=bounce_ignored to=<%s> orig_id=%s kind=%d reason=\"not a delivery failure report\"",
                 verp_to, qid, (int)r.kind);
        bounce_report_free(&r);
        return COLLECT_OK;
    }
    bounce_store *bs = bounce_store_open(cfg->db_path);
    if (!bs) {
        bounce_report_free(&r);
        return COLLECT_TEMPFAIL;
    }
    bstore_status s = BSTORE_OK;
    for (size_t i = 0; s == BSTORE_OK && i < r.nrcpt; i++) {
        if (!collect_pick(&r, i, rcpt))
            continue;
        int sup = 0;
        s = bounce_store_record(bs, qid, &r.rcpt[i], cfg->bounce_suppress_after, &sup);
        if (s != BSTORE_OK)
            break;
        collect_log(m, qid, &r.rcpt[i], sup);
        (*counted)++;
    }
    bounce_store_close(bs);
    bounce_report_free(&r);
    return s == BSTORE_TEMPFAIL ? COLLECT_TEMPFAIL : COLLECT_OK;
}

/* collect_sender - sender of qid from its "queued from=<...>" event */
int collect_sender(const char *db_path, const char *qid, char *out, size_t outlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int found = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto done;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, "SELECT detail FROM msglog WHERE id = ?1 AND event = 'queued' LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, qid, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        goto done;
    int rc = sqlite3_step(st);
    found = rc == SQLITE_DONE ? 0 : -1;
    if (rc == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        const char *from = d ? strstr(d, "from=<") : NULL;
        const char *end = from ? strchr(from + 6, '>') : NULL;
        found = 0;
        if (end && end > from + 6 && (size_t)(end - from - 6) < outlen) {
            snprintf(out, outlen, "%.*s", (int)(end - from - 6), from + 6);
            found = 1;
        }
    }
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}
