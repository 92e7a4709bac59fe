/*
 * bounce_dsn - read the fields of a message/delivery-status part (RFC 3464
 * section 2): one per-message group (Reporting-MTA) then one group per
 * recipient (Final-Recipient, Original-Recipient, Action, Status,
 * Remote-MTA, Diagnostic-Code), groups separated by blank lines. Folded
 * lines are unfolded. Broken reports without blank lines are split where a
 * second Final-Recipient appears. RFC 6533 (global) fields read the same.
 */
#include "bounce/bounce_internal.h"
#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct dsn_group {
    char *final, *orig, *diag, *mta;
    char action[16], status[16];
} dsn_group;

/* dsn_value - the field's value after an optional "type;" prefix, trimmed; caller frees */
static char *dsn_value(const char *v, bool typed)
{
    if (typed) {
        const char *semi = strchr(v, ';');
        if (semi)
            v = semi + 1;
    }
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    return xstrndup(v, n);
}

/* dsn_commit - turn a finished recipient group into a bounce_rcpt, then clear it */
static size_t dsn_commit(dsn_group *g, bounce_report *r)
{
    size_t added = 0;
    const char *addr = g->final && g->final[0] ? g->final : g->orig;
    if (addr && addr[0]) {
        bounce_rcpt *rc = bounce_rcpt_add(r, addr, strlen(addr));
        if (rc) {
            added = 1;
            memcpy(rc->action, g->action, sizeof rc->action);
            memcpy(rc->status, g->status, sizeof rc->status);
            if (g->diag) {
                free(rc->diagnostic);
                rc->diagnostic = bounce_one_line(g->diag, strlen(g->diag));
            }
            if (g->mta) {
                free(rc->remote_mta);
                rc->remote_mta = xstrdup(g->mta);
            }
        }
    }
    free(g->final);
    free(g->orig);
    free(g->diag);
    free(g->mta);
    memset(g, 0, sizeof *g);
    return added;
}

/* dsn_field - apply one unfolded "Name: value" line to the current group */
static size_t dsn_field(const char *line, dsn_group *g, bounce_report *r)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return 0;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t added = 0;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(line, name, nlen) == 0)
    if (IS("Final-Recipient") || IS("X-Actual-Recipient")) {
        if (IS("Final-Recipient") && g->final)
            added = dsn_commit(g, r);
        if (!g->final)
            g->final = dsn_value(v, true);
    } else if (IS("Original-Recipient")) {
        if (g->final && g->orig)
            added = dsn_commit(g, r);
        if (!g->orig)
            g->orig = dsn_value(v, true);
    } else if (IS("Action")) {
        char *a = dsn_value(v, false);
        snprintf(g->action, sizeof g->action, "%s", a);
        free(a);
    } else if (IS("Status")) {
        char st[16], rp[4];
        bounce_find_codes(v, st, rp);
        memcpy(g->status, st, sizeof g->status);
        /* "Status: 4.0.0 (host name lookup failure)": the comment is the only diagnostic some reporters give */
        const char *open = strchr(v, '('), *close = open ? strrchr(open, ')') : NULL;
        if (close && close - open > 1 && !g->diag)
            g->diag = xstrndup(open + 1, (size_t)(close - open - 1));
    } else if (IS("Remote-MTA")) {
        free(g->mta);
        g->mta = dsn_value(v, true);
    } else if (IS("Diagnostic-Code")) {
        /* keep a non-SMTP type ("X-Unix; 255" is a local program's exit code) */
        const char *t = v + strspn(v, " \t");
        bool unix_type = strncasecmp(t, "x-unix", 6) == 0;
        free(g->diag);
        g->diag = dsn_value(v, !unix_type);
    } else if (IS("Reporting-MTA") && !r->reporting_mta) {
        r->reporting_mta = dsn_value(v, true);
    }
#undef IS
    return added;
}

size_t bounce_dsn_read(const char *dsn, size_t len, bounce_report *r)
{
    dsn_group g = {0};
    buf line;
    size_t added = 0;
    buf_init(&line, 64 * 1024);
    const char *p = dsn, *end = dsn + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        bool cont = n && (p[0] == ' ' || p[0] == '\t');
        if (cont && line.len) {
            (void)buf_append_char(&line, ' ');
            (void)buf_append(&line, p, n);
        } else {
            if (line.len)
                added += dsn_field(buf_cstr(&line), &g, r);
            buf_reset(&line);
            if (n == 0 && (g.final || g.orig))
                added += dsn_commit(&g, r);
            else
                (void)buf_append(&line, p, n);
        }
        p = nl ? nl + 1 : end;
    }
    if (line.len)
        added += dsn_field(buf_cstr(&line), &g, r);
    added += dsn_commit(&g, r);
    buf_free(&line);
    return added;
}
