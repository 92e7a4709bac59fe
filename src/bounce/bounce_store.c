/*
 * bounce_store - bounce events, per-address counters and the suppression
 * list in SQLite (see bounce_store.h). Every statement is prepared with
 * bound parameters; SQLITE_BUSY/IOERR/FULL are temporary failures.
 * A busy timeout lets the daemon and the CLI share the file.
 */
#include "bounce/bounce_store.h"
#include "bounce/bounce_internal.h"
#include "bounce/bounce_verp.h"
#include "lib/xalloc.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct bounce_store {
    sqlite3 *db;
};

static const char bstore_schema[] =
    "CREATE TABLE IF NOT EXISTS bounce_event ("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, queue_id TEXT NOT NULL DEFAULT '',"
    " address TEXT NOT NULL COLLATE NOCASE, status TEXT, reply_code TEXT, reason TEXT,"
    " hard INTEGER NOT NULL, diagnostic TEXT, remote_mta TEXT);"
    "CREATE INDEX IF NOT EXISTS bounce_event_address ON bounce_event(address);"
    "CREATE TABLE IF NOT EXISTS bounce_address ("
    " address TEXT PRIMARY KEY COLLATE NOCASE, hard_count INTEGER NOT NULL DEFAULT 0,"
    " soft_count INTEGER NOT NULL DEFAULT 0, last_reason TEXT, last_status TEXT, last_diagnostic TEXT,"
    " first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, suppressed_at INTEGER NOT NULL DEFAULT 0);";

/* bstore_err - map an SQLite result to our three values */
static bstore_status bstore_err(int rc)
{
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_IOERR || prim == SQLITE_FULL ||
        prim == SQLITE_NOMEM)
        return BSTORE_TEMPFAIL;
    return BSTORE_PERMFAIL;
}

bounce_store *bounce_store_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, bstore_schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    bounce_store *bs = xcalloc(1, sizeof *bs);
    bs->db = db;
    return bs;
fail:
    fprintf(stderr, "bounce: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
}

void bounce_store_close(bounce_store *bs)
{
    if (!bs)
        return;
    sqlite3_close(bs->db);
    free(bs);
}

/* bstore_exec - prepare sql, bind n text arguments (NULL binds NULL), step to done */
static bstore_status bstore_exec(bounce_store *bs, const char *sql, int n, const char *const *args)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(bs->db, sql, -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < n; i++)
        rc = args[i] ? sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? BSTORE_OK : bstore_err(rc);
}

/* bstore_counts_reason - whether reason counts toward suppression at all */
static int bstore_counted(const char *reason)
{
    return strcmp(reason, "vacation") != 0 && strcmp(reason, "feedback") != 0 && strcmp(reason, "delivered") != 0;
}

bstore_status bounce_store_record(bounce_store *bs, const char *queue_id, const bounce_rcpt *rc,
                                  unsigned threshold, int *suppressed)
{
    if (suppressed)
        *suppressed = 0;
    if (!rc->recipient[0] || !strchr(rc->recipient, '@') || !bstore_counted(rc->reason))
        return BSTORE_OK;
    char now[24], hard[2] = {rc->hard ? '1' : '0', 0}, thr[16];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    snprintf(thr, sizeof thr, "%u", threshold ? threshold : 3);
    bstore_status s = bstore_exec(bs, "BEGIN IMMEDIATE", 0, NULL);
    if (s != BSTORE_OK)
        return s;
    const char *ev[] = {now, queue_id ? queue_id : "", rc->recipient, rc->status, rc->reply_code, rc->reason,
                        hard, rc->diagnostic, rc->remote_mta};
    s = bstore_exec(bs,
                    "INSERT INTO bounce_event(at, queue_id, address, status, reply_code, reason, hard, diagnostic,"
                    " remote_mta) VALUES (?1, ?2, lower(?3), ?4, ?5, ?6, ?7, ?8, ?9)",
                    9, ev);
    const char *ad[] = {rc->recipient, hard, rc->reason, rc->status, rc->diagnostic, now, thr};
    if (s == BSTORE_OK)
        s = bstore_exec(bs,
                        "INSERT INTO bounce_address(address, hard_count, soft_count, last_reason, last_status,"
                        " last_diagnostic, first_at, last_at) VALUES (lower(?1), ?2 = '1', ?2 = '0', ?3, ?4, ?5, ?6, ?6)"
                        " ON CONFLICT(address) DO UPDATE SET hard_count = hard_count + (?2 = '1'),"
                        " soft_count = soft_count + (?2 = '0'), last_reason = ?3, last_status = ?4,"
                        " last_diagnostic = ?5, last_at = ?6",
                        6, ad);
    /* suppress: enough hard bounces, or one that says the mailbox or domain does not exist */
    if (s == BSTORE_OK && rc->hard)
        s = bstore_exec(bs,
                        "UPDATE bounce_address SET suppressed_at = ?6 WHERE address = lower(?1) AND suppressed_at = 0"
                        " AND (hard_count >= CAST(?7 AS INTEGER) OR ?3 IN ('userunknown', 'hostunknown'))",
                        7, ad);
    if (s == BSTORE_OK && suppressed)
        *suppressed = sqlite3_changes(bs->db) > 0 && rc->hard;
    if (s == BSTORE_OK)
        s = bstore_exec(bs, "COMMIT", 0, NULL);
    if (s != BSTORE_OK)
        (void)bstore_exec(bs, "ROLLBACK", 0, NULL);
    return s;
}

bstore_status bounce_store_collect(bounce_store *bs, const char *raw, size_t len, const char *rcpt_to,
                                   unsigned threshold, size_t *counted, size_t *newly)
{
    char qid[64] = "", vrcpt[320] = "";
    size_t n = 0, sup = 0;
    bounce_report r;
    bstore_status s = BSTORE_OK;
    /* a signed return path (bounce_verp.h, key loaded), else the unsigned form of bounce_verp_encode */
    if (rcpt_to && bounce_verp_check(rcpt_to, qid, sizeof qid, vrcpt, sizeof vrcpt) != VERP_VALID)
        (void)bounce_verp_decode(rcpt_to, qid, sizeof qid, vrcpt, sizeof vrcpt);
    if (bounce_parse_hint(raw, len, vrcpt[0] ? vrcpt : NULL, &r) != BOUNCE_PARSE_OK) {
        bounce_report_free(&r);
        return BSTORE_PERMFAIL;
    }
    /* the VERP address knows the recipient even when the report names none */
    if (r.kind == BOUNCE_KIND_DSN && r.nrcpt == 1 && vrcpt[0] && strcasecmp(r.rcpt[0].recipient, vrcpt) != 0) {
        free(r.rcpt[0].recipient);
        r.rcpt[0].recipient = xstrdup(vrcpt);
    }
    for (size_t i = 0; s == BSTORE_OK && r.kind == BOUNCE_KIND_DSN && i < r.nrcpt; i++) {
        int got = 0;
        s = bounce_store_record(bs, qid, &r.rcpt[i], threshold, &got);
        n += s == BSTORE_OK && bstore_counted(r.rcpt[i].reason);
        sup += got;
    }
    bounce_report_free(&r);
    if (counted)
        *counted = n;
    if (newly)
        *newly = sup;
    return s;
}

bounce_suppress_result bounce_store_suppressed(bounce_store *bs, const char *addr, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(bs->db,
                                "SELECT last_reason, hard_count, last_status FROM bounce_address"
                                " WHERE address = lower(?1) AND suppressed_at > 0",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    bounce_suppress_result res = BOUNCE_SUPPRESS_TEMPFAIL;
    if (rc == SQLITE_ROW) {
        res = BOUNCE_SUPPRESSED;
        if (why && whylen)
            snprintf(why, whylen, "%s after %d hard bounce(s), last status %s",
                     (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1),
                     sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "-");
    } else if (rc == SQLITE_DONE) {
        res = BOUNCE_NOT_SUPPRESSED;
    }
    sqlite3_finalize(st);
    return res;
}

/* bstore_time - UTC ISO 8601 of t into out */
static const char *bstore_time(long long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

/* col - column text or "" */
static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

bstore_status bounce_store_list(bounce_store *bs, int all, FILE *out)
{
    sqlite3_stmt *st = NULL;
    char t[32];
    int rc = sqlite3_prepare_v2(bs->db,
                                "SELECT address, hard_count, soft_count, last_reason, last_status, last_at, suppressed_at"
                                " FROM bounce_address WHERE ?1 OR suppressed_at > 0 ORDER BY last_at DESC, address",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 1, all);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fprintf(out, "%s %s hard=%d soft=%d reason=%s status=%s last=%s\n", col(st, 0),
                sqlite3_column_int64(st, 6) ? "suppressed" : "active", sqlite3_column_int(st, 1),
                sqlite3_column_int(st, 2), col(st, 3), col(st, 4), bstore_time(sqlite3_column_int64(st, 5), t));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? BSTORE_OK : bstore_err(rc);
}

bstore_status bounce_store_show(bounce_store *bs, const char *addr, FILE *out)
{
    sqlite3_stmt *st = NULL;
    char t[32];
    int found = 0;
    int rc = sqlite3_prepare_v2(bs->db,
                                "SELECT hard_count, soft_count, suppressed_at, first_at FROM bounce_address"
                                " WHERE address = lower(?1)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        found = 1;
        fprintf(out, "address: %s\nstate: %s\nhard bounces: %d\nsoft bounces: %d\nfirst: %s\n", addr,
                sqlite3_column_int64(st, 2) ? "suppressed" : "active", sqlite3_column_int(st, 0),
                sqlite3_column_int(st, 1), bstore_time(sqlite3_column_int64(st, 3), t));
    }
    sqlite3_finalize(st);
    if (!found)
        return rc == SQLITE_DONE ? BSTORE_PERMFAIL : bstore_err(rc);
    rc = sqlite3_prepare_v2(bs->db,
                            "SELECT at, queue_id, status, reply_code, reason, hard, remote_mta, diagnostic"
                            " FROM bounce_event WHERE address = lower(?1) ORDER BY at, id",
                            -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fprintf(out, "%s queue_id=%s status=%s reply=%s reason=%s %s remote=%s\n  said: %s\n",
                bstore_time(sqlite3_column_int64(st, 0), t), col(st, 1)[0] ? col(st, 1) : "-", col(st, 2),
                col(st, 3)[0] ? col(st, 3) : "-", col(st, 4), sqlite3_column_int(st, 5) ? "hard" : "soft",
                col(st, 6)[0] ? col(st, 6) : "-", col(st, 7));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? BSTORE_OK : bstore_err(rc);
}

bstore_status bounce_store_export(bounce_store *bs, FILE *out)
{
    sqlite3_stmt *st = NULL;
    char t[32];
    int first = 1;
    int rc = sqlite3_prepare_v2(bs->db,
                                "SELECT address, hard_count, soft_count, last_reason, last_status, last_diagnostic,"
                                " first_at, last_at, suppressed_at FROM bounce_address ORDER BY address",
                                -1, &st, NULL);
    fputc('[', out);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fputs(first ? "\n  {\"address\": " : ",\n  {\"address\": ", out);
        first = 0;
        bounce_json_string(out, col(st, 0));
        fprintf(out, ", \"suppressed\": %s, \"hard_bounces\": %d, \"soft_bounces\": %d, \"last_reason\": ",
                sqlite3_column_int64(st, 8) ? "true" : "false", sqlite3_column_int(st, 1),
                sqlite3_column_int(st, 2));
        bounce_json_string(out, col(st, 3));
        fputs(", \"last_status\": ", out);
        bounce_json_string(out, col(st, 4));
        fputs(", \"last_diagnostic\": ", out);
        bounce_json_string(out, col(st, 5));
        fprintf(out, ", \"first_at\": \"%s\"", bstore_time(sqlite3_column_int64(st, 6), t));
        fprintf(out, ", \"last_at\": \"%s\"}", bstore_time(sqlite3_column_int64(st, 7), t));
        rc = SQLITE_OK;
    }
    fputs(first ? "]\n" : "\n]\n", out);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? BSTORE_OK : bstore_err(rc);
}

bstore_status bounce_store_clear(bounce_store *bs, const char *addr, int *n)
{
    const char *a[] = {addr};
    bstore_status s = bstore_exec(bs, "BEGIN IMMEDIATE", 0, NULL);
    if (s == BSTORE_OK)
        s = addr ? bstore_exec(bs, "DELETE FROM bounce_event WHERE address = lower(?1)", 1, a)
                 : bstore_exec(bs, "DELETE FROM bounce_event", 0, NULL);
    if (s == BSTORE_OK)
        s = addr ? bstore_exec(bs, "DELETE FROM bounce_address WHERE address = lower(?1)", 1, a)
                 : bstore_exec(bs, "DELETE FROM bounce_address", 0, NULL);
    if (n)
        *n = s == BSTORE_OK ? sqlite3_changes(bs->db) : 0;
    if (s == BSTORE_OK)
        s = bstore_exec(bs, "COMMIT", 0, NULL);
    if (s != BSTORE_OK)
        (void)bstore_exec(bs, "ROLLBACK", 0, NULL);
    return s;
}

int bounce_verp_encode(char *out, size_t outlen, const char *queue_id, const char *rcpt, const char *our_domain)
{
    const char *at = strrchr(rcpt, '@');
    if (!at || strchr(queue_id, '=') || strchr(queue_id, '@'))
        return -1;
    int local = snprintf(out, outlen, BOUNCE_VERP_PREFIX "%s=%.*s=%s", queue_id, (int)(at - rcpt), rcpt, at + 1);
    if (local < 0 || local > 64) /* RFC 5321 4.5.3.1.1: a local part is at most 64 octets */
        return -1;
    int total = snprintf(out + local, outlen - (size_t)local, "@%s", our_domain);
    return total < 0 || (size_t)(local + total) >= outlen ? -1 : 0;
}

int bounce_verp_decode(const char *addr, char *qid, size_t qidlen, char *rcpt, size_t rcptlen)
{
    size_t plen = strlen(BOUNCE_VERP_PREFIX);
    const char *at = strrchr(addr, '@');
    if (strncasecmp(addr, BOUNCE_VERP_PREFIX, plen) != 0 || !at)
        return -1;
    const char *p = addr + plen;
    const char *eq1 = memchr(p, '=', (size_t)(at - p));
    const char *eq2 = NULL;
    for (const char *q = at - 1; q > (eq1 ? eq1 : p); q--)
        if (*q == '=') {
            eq2 = q;
            break;
        }
    if (!eq1 || !eq2 || eq1 == p || eq2 == eq1 + 1 || eq2 + 1 == at)
        return -1;
    if ((size_t)(eq1 - p) >= qidlen || (size_t)(at - eq1) >= rcptlen)
        return -1;
    snprintf(qid, qidlen, "%.*s", (int)(eq1 - p), p);
    snprintf(rcpt, rcptlen, "%.*s@%.*s", (int)(eq2 - eq1 - 1), eq1 + 1, (int)(at - eq2 - 1), eq2 + 1);
    return 0;
}
