/*
 * test_maildir_quota - Maildir++ maildirsize: got/want table of file
 * contents (kept, summed, or recalculated from the messages), appended
 * deltas, and the rewrite in Dovecot's format.
 */
#include "check.h"
#include "deliver/maildir_quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* put - write text to path (truncating) */
static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* get - first 4 KB of path as a string (static buffer) */
static const char *get(const char *path)
{
    static char b[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;
    if (f)
        fclose(f);
    b[n] = '\0';
    return b;
}

int main(void)
{
    char root[] = "/tmp/pochta-quota-XXXXXX", p[600], ms[600];
    if (!mkdtemp(root))
        return 1;
    static const char *const subs[] = {"new", "cur", "tmp", ".Junk", ".Junk/cur"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, subs[i]);
        mkdir(p, 0700);
    }
    /* two messages with S= (100 + 50), one without (its file size, 7), one in a folder (S=20) */
    snprintf(p, sizeof p, "%s/new/1.M1P1Q1.host,S=100", root);
    put(p, "x");
    snprintf(p, sizeof p, "%s/cur/2.M1P1Q2.host,S=50:2,S", root);
    put(p, "x");
    snprintf(p, sizeof p, "%s/cur/3.M1P1Q3.host", root);
    put(p, "1234567");
    snprintf(p, sizeof p, "%s/.Junk/cur/4.M1P1Q4.host,S=20:2,", root);
    put(p, "x");
    snprintf(ms, sizeof ms, "%s/maildirsize", root);

    static const struct {
        const char *file;     /* maildirsize before, NULL = none */
        long long qb, qm;     /* limits asked for */
        long long bytes, msgs;
        const char *after;    /* maildirsize after, NULL = unchanged */
    } cases[] = {
        {NULL, 1000, 10, 177, 4, "1000S,10C\n177 4\n"},             /* missing: recalculated */
        {"1000S,10C\n177 4\n500 1\n-100 -1\n", 1000, 10, 577, 4, NULL}, /* deltas summed */
        {"2000S\n5 1\n", 1000, 10, 177, 4, "1000S,10C\n177 4\n"},   /* other limits: recalculated */
        {"1000S,10C\n5 x\n", 1000, 10, 177, 4, "1000S,10C\n177 4\n"}, /* malformed: recalculated */
        {"1000S,10C\n-500 -1\n", 1000, 10, 177, 4, "1000S,10C\n177 4\n"}, /* negative: recalculated */
        {NULL, 0, 5, 177, 4, "5C\n177 4\n"},                         /* messages only */
        {NULL, 4096, 0, 177, 4, "4096S\n177 4\n"},                   /* bytes only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unlink(ms);
        if (cases[i].file)
            put(ms, cases[i].file);
        maildir_usage u = {-1, -1};
        CHECK(maildir_quota_usage(root, cases[i].qb, cases[i].qm, &u) == 0, "case %zu", i);
        CHECK(u.bytes == cases[i].bytes && u.messages == cases[i].msgs, "case %zu: got %lld %lld", i, u.bytes,
              u.messages);
        CHECK_STR(get(ms), cases[i].after ? cases[i].after : cases[i].file, "maildirsize after");
    }
    /* deltas are appended only where a maildirsize exists */
    CHECK(maildir_quota_update(root, 30, 1) == 0 && maildir_quota_update(root, -7, -1) == 0, "update");
    CHECK_STR(get(ms), "4096S\n177 4\n30 1\n-7 -1\n", "appended deltas");
    unlink(ms);
    CHECK(maildir_quota_update(root, 30, 1) == 0 && access(ms, F_OK) != 0, "no file, no update");
    /* a file past 5120 bytes is recalculated (Maildir++ keeps it small) */
    char big[8000];
    size_t len = (size_t)snprintf(big, sizeof big, "4096S\n");
    for (int i = 0; i < 1500; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "1 0\n");
    put(ms, big);
    maildir_usage u;
    CHECK(maildir_quota_usage(root, 4096, 0, &u) == 0 && u.bytes == 177, "big file recalculated: %lld", u.bytes);
    CHECK_STR(get(ms), "4096S\n177 4\n", "big file rewritten");
    /* no limits: a plain count, no file written */
    unlink(ms);
    CHECK(maildir_quota_usage(root, 0, 0, &u) == 0 && u.bytes == 177 && u.messages == 4, "no limits");
    CHECK(access(ms, F_OK) != 0, "no limits, no maildirsize");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
