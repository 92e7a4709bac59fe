/*
 * test_maildir - Maildir delivery into a temp dir: directories created,
 * headers prepended, Dovecot-compatible unique name with S=<file size>,
 * unsafe addresses refused; the retry backoff table.
 */
#include "check.h"
#include "config/config.h"
#include "deliver/deliver.h"
#include "deliver/maildir.h"

#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* read_all - file contents (caller frees), size in *n */
static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = calloc(1, 65536);
    *n = fread(p, 1, 65535, f);
    fclose(f);
    return p;
}

/* test_junk_folder - DMARC quarantine: the Maildir++ folder .Junk with its marker */
static void test_junk_folder(const char *dir)
{
    char mail[512], path[4800], err[256], want[1200], marker[1200];
    struct stat st;
    snprintf(mail, sizeof mail, "%s/mail", dir);
    const char *msg = "Subject: spam?\r\n\r\nhello\r\n";
    CHECK(maildir_deliver_folder(mail, "junky@example.test", "Junk", "", "mx", msg, strlen(msg), path,
                                 sizeof path, err, sizeof err) == DELIVER_OK, "junk deliver: %s", err);
    snprintf(want, sizeof want, "%s/example.test/junky/.Junk/new/", mail);
    CHECK(strncmp(path, want, strlen(want)) == 0, "junk path %s", path);
    snprintf(marker, sizeof marker, "%s/example.test/junky/.Junk/maildirfolder", mail);
    CHECK(stat(marker, &st) == 0 && S_ISREG(st.st_mode), "maildirfolder marker");
    snprintf(marker, sizeof marker, "%s/example.test/junky/new", mail);
    CHECK(stat(marker, &st) == 0 && S_ISDIR(st.st_mode), "INBOX exists beside the folder");
}

static void test_deliver(const char *dir)
{
    char mail[512], path[4800], err[256];
    snprintf(mail, sizeof mail, "%s/mail", dir);
    const char *msg = "Subject: hi\r\n\r\nhello\r\n";
    deliver_status st = maildir_deliver(mail, "Alice@Example.Test", "carol@good.sender.test", "mx/a:b",
                                        msg, strlen(msg), path, sizeof path, err, sizeof err);
    CHECK(st == DELIVER_OK, "deliver: %s", err);
    char sub[600];
    static const char *const subs[] = {"cur", "new", "tmp"};
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        snprintf(sub, sizeof sub, "%s/example.test/alice/%s", mail, subs[i]);
        CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700, "%s", sub);
    }
    snprintf(sub, sizeof sub, "%s/example.test/alice/new/", mail);
    CHECK(strncmp(path, sub, strlen(sub)) == 0, "path %s", path);
    const char *name = path + strlen(sub);
    regex_t re;
    regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\.mx\\\\057a\\\\072b,S=([0-9]+)$", REG_EXTENDED);
    regmatch_t mt[2];
    int rc = regexec(&re, name, 2, mt, 0);
    CHECK(rc == 0, "name %s", name);
    size_t n = 0;
    char *body = read_all(path, &n);
    CHECK(body != NULL, "read %s", path);
    if (rc == 0 && body) {
        CHECK((size_t)strtoul(name + mt[1].rm_so, NULL, 10) == n, "S= %s vs size %zu", name, n);
        const char *want = "Return-Path: <carol@good.sender.test>\r\nDelivered-To: Alice@Example.Test\r\n"
                           "Subject: hi\r\n\r\nhello\r\n";
        CHECK_STR(body, want, "contents");
    }
    regfree(&re);
    free(body);
    snprintf(sub, sizeof sub, "%s/example.test/alice/tmp", mail);
    DIR *d = opendir(sub);
    int left = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        left += de->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK(left == 0, "tmp/ left %d files", left);

    /* a second delivery gets a different name; null sender gives <> */
    char path2[4800];
    st = maildir_deliver(mail, "alice@example.test", "", "mx", msg, strlen(msg), path2, sizeof path2, err,
                         sizeof err);
    CHECK(st == DELIVER_OK && strcmp(path, path2) != 0, "second delivery");
    body = read_all(path2, &n);
    CHECK(body && strncmp(body, "Return-Path: <>\r\n", 17) == 0, "null sender");
    free(body);
}

static void test_unsafe(const char *dir)
{
    static const char *const bad[] = {"../x@example.test", "a/b@example.test", "a@..", "a@ex/ample",
                                      "@example.test", "noat", "a@"};
    char path[4800], err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(maildir_deliver(dir, bad[i], "", "h", "x", 1, path, sizeof path, err, sizeof err) ==
                  DELIVER_PERMFAIL, "%s accepted", bad[i]);
}

static void test_readonly(const char *dir)
{
    if (geteuid() == 0)
        return; /* root ignores permissions */
    char mail[512], path[4800], err[256];
    snprintf(mail, sizeof mail, "%s/ro", dir);
    mkdir(mail, 0500);
    CHECK(maildir_deliver(mail, "a@example.test", "", "h", "x", 1, path, sizeof path, err, sizeof err) ==
              DELIVER_TEMPFAIL, "unwritable dir is not temporary");
}

static void test_backoff(void)
{
    pochta_config cfg = {.retry_min = 300, .retry_max = 4 * 3600};
    static const struct { unsigned attempts, want; } cases[] = {
        {1, 300}, {2, 600}, {3, 1200}, {6, 9600}, {7, 14400}, {50, 14400}, {100000, 14400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(deliver_backoff(&cfg, cases[i].attempts) == cases[i].want, "attempt %u: %u", cases[i].attempts,
              deliver_backoff(&cfg, cases[i].attempts));
}

int main(void)
{
    char dir[] = "/tmp/pochta-maildir-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_deliver(dir);
    test_junk_folder(dir);
    test_unsafe(dir);
    test_readonly(dir);
    test_backoff();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return check_summary();
}
