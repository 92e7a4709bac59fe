/*
 * dmarcstore - DMARC result rows in SQLite (API in dmarcstore.h).
 *
 * Table dmarc_results, one row per evaluated message, indexed on
 * (policy_domain, ts) because aggregate reports are per policy domain and
 * period. Rows go to a batched writer thread (sqlwriter.h), so the event
 * loop never waits for the disk.
 */
#include "store/dmarcstore.h"
#include "store/sqlwriter.h"

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

static sqlwriter dmarcstore_writer = SQLWRITER_INIT;

/* dmarcstore_start - see dmarcstore.h */
int dmarcstore_start(const char *db_path, char *err, size_t errlen)
{
    return sqlwriter_start(&dmarcstore_writer, db_path, dmarcstore_schema, dmarcstore_insert_sql, "dmarcstore",
                           DMARCSTORE_PENDING_MAX, err, errlen);
}

/* dmarcstore_stop - see dmarcstore.h */
void dmarcstore_stop(void)
{
    sqlwriter_stop(&dmarcstore_writer);
}

/* dmarcstore_add - see dmarcstore.h */
void dmarcstore_add(const dmarcstore_row *r)
{
    if (!sqlwriter_taking(&dmarcstore_writer))
        return;
    /* in the column order of dmarcstore_insert_sql */
    const char *texts[] = {r->id, r->source_ip, r->header_from, r->envelope_from, r->policy_domain, r->p, r->sp,
                           r->adkim, r->aspf, r->rua, r->result, r->disposition, r->override, r->spf_domain,
                           r->spf_scope, r->spf_result, r->dkim};
    size_t nt = sizeof texts / sizeof texts[0];
    sqlwriter_row *row = sqlwriter_row_new(nt + 4);
    for (size_t i = 0; i < nt; i++)
        sqlwriter_text(row, i, texts[i]);
    sqlwriter_int(row, nt, (long long)r->ts);
    sqlwriter_int(row, nt + 1, r->pct);
    sqlwriter_int(row, nt + 2, r->dkim_aligned);
    sqlwriter_int(row, nt + 3, r->spf_aligned);
    sqlwriter_push(&dmarcstore_writer, row);
}
