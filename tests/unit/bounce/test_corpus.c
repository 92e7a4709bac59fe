/*
 * test_corpus - run the bounce parser over the labelled corpus of real
 * bounces in ../shared/corpora/bounces (expected.tsv: file, index, status,
 * reply_code, reason, hard_bounce) and require at least 95% agreement on
 * the reason and on the status. Prints the confusion per reason (expected
 * -> got) so a regression shows where it is; BOUNCE_VERBOSE=1 lists every
 * miss with its diagnostic.
 *
 * Against overfitting, the agreement is also printed for the even- and the
 * odd-numbered files of expected.tsv (in file order, counting from 0);
 * BOUNCE_HALF=even or BOUNCE_HALF=odd limits the miss list and the
 * confusion to that half, so rules can be derived from the misses of one
 * half and checked on the other.
 */
#include "bounce/bounce.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CONFUSION 400

typedef struct { char want[32], got[32]; int n; } confusion;
/* half_score - agreement counts of one half of the files */
typedef struct { int total, reason, status, hard; } half_score;
static confusion conf[MAX_CONFUSION];
static int nconf;

/* note_miss - count one expected->got reason pair */
static void note_miss(const char *want, const char *got)
{
    for (int i = 0; i < nconf; i++)
        if (!strcmp(conf[i].want, want) && !strcmp(conf[i].got, got)) {
            conf[i].n++;
            return;
        }
    if (nconf < MAX_CONFUSION) {
        snprintf(conf[nconf].want, sizeof conf[nconf].want, "%s", want);
        snprintf(conf[nconf].got, sizeof conf[nconf].got, "%s", got);
        conf[nconf++].n = 1;
    }
}

/* read_file - whole file into a malloc'ed buffer */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *p = malloc(cap);
    while ((k = fread(p + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap)
            p = realloc(p, cap *= 2);
    }
    fclose(f);
    *len = n;
    return p;
}

int main(void)
{
    const char *shared = getenv("POCHTA_SHARED");
    char dir[512], path[1024], line[1024];
    snprintf(dir, sizeof dir, "%s/corpora/bounces", shared ? shared : "../shared");
    snprintf(path, sizeof path, "%s/expected.tsv", dir);
    FILE *tsv = fopen(path, "r");
    CHECK(tsv != NULL, "cannot open %s", path);
    if (!tsv)
        return check_summary();
    CHECK(bounce_init() == 0, "rules compile");
    int verbose = getenv("BOUNCE_VERBOSE") != NULL;
    const char *half = getenv("BOUNCE_HALF");
    int only = half && !strcmp(half, "even") ? 0 : half && !strcmp(half, "odd") ? 1 : -1;
    half_score hs[2] = {{0}};
    int fileno = -1;
    if (getenv("BOUNCE_DUMP")) {
        size_t len = 0;
        char *raw = read_file(getenv("BOUNCE_DUMP"), &len);
        bounce_report r;
        bounce_parse(raw ? raw : "", len, &r);
        bounce_report_json(stdout, &r);
        bounce_report_free(&r);
        free(raw);
        fclose(tsv);
        return 0;
    }
    int total = 0, ok_reason = 0, ok_status = 0, ok_hard = 0;
    char cur[256] = "";
    bounce_report rep = {0};
    while (fgets(line, sizeof line, tsv)) {
        char *f[7] = {0};
        int nf = 0;
        for (char *s = line, *t; nf < 7 && s; s = t) {
            t = strchr(s, '\t');
            if (t)
                *t++ = '\0';
            s[strcspn(s, "\r\n")] = '\0';
            f[nf++] = s;
        }
        if (nf < 6 || !strcmp(f[0], "file"))
            continue;
        if (strcmp(cur, f[0]) != 0) {
            bounce_report_free(&rep);
            snprintf(cur, sizeof cur, "%s", f[0]);
            fileno++;
            snprintf(path, sizeof path, "%s/%s", dir, f[0]);
            size_t len = 0;
            char *raw = read_file(path, &len);
            CHECK(raw != NULL, "cannot read %s", path);
            if (raw)
                bounce_parse(raw, len, &rep);
            free(raw);
        }
        long idx = strtol(f[1], NULL, 10);
        const bounce_rcpt *rc = idx >= 1 && (size_t)idx <= rep.nrcpt ? &rep.rcpt[idx - 1] : NULL;
        const char *got_reason = rc ? rc->reason : "(missing)";
        const char *got_status = rc ? rc->status : "(missing)";
        int r_ok = !strcmp(got_reason, f[4]), s_ok = !strcmp(got_status, f[2]);
        int h_ok = rc && (rc->hard ? "true" : "false")[0] == f[5][0];
        half_score *h = &hs[fileno % 2];
        total++;
        ok_reason += r_ok;
        ok_status += s_ok;
        ok_hard += h_ok;
        h->total++;
        h->reason += r_ok;
        h->status += s_ok;
        h->hard += h_ok;
        if (only >= 0 && fileno % 2 != only)
            continue;
        if (!r_ok)
            note_miss(f[4], got_reason);
        if (verbose && (!r_ok || !s_ok))
            printf("MISS %s #%ld want %s %s got %s %s | %.200s\n", f[0], idx, f[4], f[2], got_reason,
                   got_status, rc ? rc->diagnostic : "");
    }
    bounce_report_free(&rep);
    fclose(tsv);
    printf("corpus: %d recipients, reason %d (%.1f%%), status %d (%.1f%%), hard/soft %d (%.1f%%)\n", total,
           ok_reason, 100.0 * ok_reason / total, ok_status, 100.0 * ok_status / total, ok_hard,
           100.0 * ok_hard / total);
    for (int i = 0; i < 2; i++)
        printf("  %s files: %d recipients, reason %.1f%%, status %.1f%%, hard/soft %.1f%%\n", i ? "odd " : "even",
               hs[i].total, 100.0 * hs[i].reason / (hs[i].total ? hs[i].total : 1),
               100.0 * hs[i].status / (hs[i].total ? hs[i].total : 1),
               100.0 * hs[i].hard / (hs[i].total ? hs[i].total : 1));
    for (int i = 0; i < nconf; i++)
        printf("  reason miss: want %-16s got %-16s x%d\n", conf[i].want, conf[i].got, conf[i].n);
    CHECK(total > 400, "corpus has %d labelled recipients", total);
    CHECK(ok_reason * 100 >= total * 95, "reason agreement %d/%d below 95%%", ok_reason, total);
    CHECK(ok_status * 100 >= total * 95, "status agreement %d/%d below 95%%", ok_status, total);
    return check_summary();
}
