/*
 * maildir_quota - Maildir++ `maildirsize` quota (API and format in
 * maildir_quota.h), and the mailbox state check shared by RCPT (SMTP),
 * local delivery and POP3.
 *
 * Concurrency: deltas are appended with one write() on an O_APPEND file,
 * so concurrent deliveries and POP3 deletions do not tear each other's
 * lines; a recalculation is written to tmp/ and renamed over the old file
 * (Dovecot does the same). A delta lost in a race with a recalculation is
 * corrected by the next recalculation, as in every Maildir++ implementation.
 */
#include "deliver/maildir_quota.h"

#include "deliver/maildir.h"
#include "lib/log.h"
#include "store/accounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Maildir++: a maildirsize over 5120 bytes is recalculated (and so kept small). */
#define MAILDIR_QUOTA_FILE_MAX 5120
#define MAILDIR_QUOTA_PATH_MAX 4600
/* Dovecot's default quota_grace = 10%%: the message that crosses the limit is still taken */
#define MAILDIR_QUOTA_GRACE_PCT 10

/* maildir_quota_name_size - S= of a Maildir file name, or -1 */
static long long maildir_quota_name_size(const char *name)
{
    const char *p = strstr(name, ",S=");
    if (!p)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(p + 3, &end, 10);
    if (errno || end == p + 3 || v < 0 || (*end && *end != ',' && *end != ':'))
        return -1;
    return v;
}

/* maildir_quota_scan_dir - add the messages of one new/ or cur/ directory; 0 or -1 */
static int maildir_quota_scan_dir(const char *dir, maildir_usage *u)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    char path[MAILDIR_QUOTA_PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        long long size = maildir_quota_name_size(e->d_name);
        if (size < 0) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                continue; /* gone meanwhile (POP3 or IMAP deleted it) */
            size = (long long)st.st_size;
        }
        u->bytes += size;
        u->messages++;
    }
    closedir(d);
    return 0;
}

/* maildir_quota_scan - usage of root's new/ and cur/ and of each .Folder/; 0 or -1 */
static int maildir_quota_scan(const char *root, maildir_usage *u)
{
    char dir[MAILDIR_QUOTA_PATH_MAX];
    u->bytes = u->messages = 0;
    snprintf(dir, sizeof dir, "%s/new", root);
    if (maildir_quota_scan_dir(dir, u) < 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/cur", root);
    if (maildir_quota_scan_dir(dir, u) < 0)
        return -1;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(dir, sizeof dir, "%s/%s/new", root, e->d_name);
        rc = maildir_quota_scan_dir(dir, u);
        snprintf(dir, sizeof dir, "%s/%s/cur", root, e->d_name);
        if (rc == 0)
            rc = maildir_quota_scan_dir(dir, u);
    }
    closedir(d);
    return rc;
}

/* maildir_quota_definition - "NS,MC" for the limits (parts without a limit left out) */
static void maildir_quota_definition(long long max_bytes, long long max_messages, char *out, size_t outlen)
{
    if (max_bytes > 0 && max_messages > 0)
        snprintf(out, outlen, "%lldS,%lldC", max_bytes, max_messages);
    else if (max_bytes > 0)
        snprintf(out, outlen, "%lldS", max_bytes);
    else
        snprintf(out, outlen, "%lldC", max_messages);
}

/* maildir_quota_write - replace maildirsize with the definition and one total line; 0 or -1 */
static int maildir_quota_write(const char *root, const char *def, const maildir_usage *u)
{
    char tmp[MAILDIR_QUOTA_PATH_MAX], path[MAILDIR_QUOTA_PATH_MAX], text[160];
    static unsigned counter;
    unsigned q = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, sizeof tmp, "%s/tmp/maildirsize.%ld.%u", root, (long)getpid(), q);
    snprintf(path, sizeof path, "%s/maildirsize", root);
    int n = snprintf(text, sizeof text, "%s\n%lld %lld\n", def, u->bytes, u->messages);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* maildir_quota_parse - sum of the deltas in text if its definition is def; 0, or -1 when unusable */
static int maildir_quota_parse(char *text, const char *def, maildir_usage *u)
{
    char *nl = strchr(text, '\n');
    if (!nl)
        return -1;
    *nl = '\0';
    if (strcmp(text, def) != 0)
        return -1;
    u->bytes = u->messages = 0;
    for (char *p = nl + 1; *p;) {
        char *end;
        long long b = strtoll(p, &end, 10);
        if (end == p || *end != ' ')
            return -1;
        p = end;
        long long c = strtoll(p, &end, 10);
        if (end == p || (*end != '\n' && *end != '\0'))
            return -1;
        u->bytes += b;
        u->messages += c;
        p = *end ? end + 1 : end;
    }
    return u->bytes >= 0 && u->messages >= 0 ? 0 : -1;
}

/* maildir_quota_cached - usage from a usable maildirsize: 0, 1 when it must be recalculated, -1 on error */
static int maildir_quota_cached(const char *root, const char *def, maildir_usage *u)
{
    char path[MAILDIR_QUOTA_PATH_MAX], text[MAILDIR_QUOTA_FILE_MAX + 1];
    snprintf(path, sizeof path, "%s/maildirsize", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof text - 1)
        return 1;
    text[n] = '\0';
    return maildir_quota_parse(text, def, u) == 0 ? 0 : 1;
}

/* maildir_quota_usage_mode - usage; recalculate (scan the Maildir) only when allowed, else *stale = 1 */
static int maildir_quota_usage_mode(const char *root, long long max_bytes, long long max_messages,
                                    maildir_usage *u, int may_scan, int *stale)
{
    char path[MAILDIR_QUOTA_PATH_MAX], def[80];
    *stale = 0;
    if (max_bytes <= 0 && max_messages <= 0)
        return maildir_quota_scan(root, u);
    maildir_quota_definition(max_bytes, max_messages, def, sizeof def);
    int rc = maildir_quota_cached(root, def, u);
    if (rc <= 0)
        return rc;
    if (!may_scan) {
        *stale = 1;
        return 0;
    }
    if (maildir_quota_scan(root, u) < 0)
        return -1;
    struct stat st;
    snprintf(path, sizeof path, "%s/tmp", root);
    if (stat(path, &st) == 0 && maildir_quota_write(root, def, u) < 0)
        log_warn(NULL, "event=quota_write_failed maildir=%s error=\"%s\"", root, strerror(errno));
    return 0;
}

/* maildir_quota_usage - usage from maildirsize, recalculated when needed */
int maildir_quota_usage(const char *root, long long max_bytes, long long max_messages, maildir_usage *u)
{
    int stale;
    return maildir_quota_usage_mode(root, max_bytes, max_messages, u, 1, &stale);
}

/* maildir_quota_update - append a delta line to an existing maildirsize */
int maildir_quota_update(const char *root, long long bytes, long long messages)
{
    char path[MAILDIR_QUOTA_PATH_MAX], line[64];
    snprintf(path, sizeof path, "%s/maildirsize", root);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int n = snprintf(line, sizeof line, "%lld %lld\n", bytes, messages);
    int ok = write(fd, line, (size_t)n) == n;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* maildir_quota_check - state and quota of one recipient mailbox */
maildir_quota_verdict maildir_quota_check(accounts *a, const char *mail_dir, const char *address, size_t size, char *why,
                              size_t whylen)
{
    acct_user info;
    char root[4096];
    maildir_usage u;
    snprintf(why, whylen, "ok");
    acct_status st = accounts_user_get(a, address, &info);
    if (st == ACCT_TEMPFAIL) {
        snprintf(why, whylen, "account database unavailable");
        return MAILBOX_TEMPFAIL;
    }
    if (st != ACCT_OK)
        return MAILBOX_NOT_MAILBOX;
    if (info.disabled) {
        snprintf(why, whylen, "mailbox disabled");
        return MAILBOX_DISABLED;
    }
    if (info.quota_bytes <= 0 && info.quota_messages <= 0)
        return MAILBOX_OK;
    if (maildir_path(mail_dir, address, root, sizeof root) < 0)
        return MAILBOX_OK; /* delivery refuses the name itself */
    /* At RCPT (size 0, on the event loop) a missing or stale maildirsize is not
     * recalculated (that scans the whole Maildir): the mailbox counts as not
     * full and delivery, on a worker, recalculates and decides. */
    int stale;
    if (maildir_quota_usage_mode(root, info.quota_bytes, info.quota_messages, &u, size > 0, &stale) < 0) {
        snprintf(why, whylen, "cannot read the quota of %s: %s", root, strerror(errno));
        return MAILBOX_TEMPFAIL;
    }
    if (stale)
        return MAILBOX_OK;
    /* size known (delivery): would it fit, with Dovecot's default quota_grace (a mailbox under
     * its limit may go MAILDIR_QUOTA_GRACE_PCT percent over it with one message)? size
     * unknown (RCPT): is the mailbox already at its limit? */
    long long want = (long long)size;
    long long grace = info.quota_bytes / 100 * MAILDIR_QUOTA_GRACE_PCT;
    int full = info.quota_bytes > 0 &&
               (size ? u.bytes >= info.quota_bytes || u.bytes + want > info.quota_bytes + grace
                     : u.bytes >= info.quota_bytes);
    full |= info.quota_messages > 0 && (size ? u.messages + 1 > info.quota_messages
                                             : u.messages >= info.quota_messages);
    if (!full)
        return MAILBOX_OK;
    if (info.quota_bytes > 0 && info.quota_messages > 0)
        snprintf(why, whylen, "Mailbox full: %lld of %lld bytes and %lld of %lld messages used", u.bytes,
                 info.quota_bytes, u.messages, info.quota_messages);
    else if (info.quota_bytes > 0)
        snprintf(why, whylen, "Mailbox full: %lld of %lld bytes used", u.bytes, info.quota_bytes);
    else
        snprintf(why, whylen, "Mailbox full: %lld of %lld messages used", u.messages, info.quota_messages);
    return MAILBOX_FULL;
}

/* maildir_quota_refresh - after a delivery: create a missing maildirsize of a mailbox with a quota */
void maildir_quota_refresh(accounts *a, const char *mail_dir, const char *address)
{
    acct_user info;
    char root[4096];
    maildir_usage u;
    if (accounts_user_get(a, address, &info) != ACCT_OK || (info.quota_bytes <= 0 && info.quota_messages <= 0) ||
        maildir_path(mail_dir, address, root, sizeof root) < 0)
        return;
    if (maildir_quota_usage(root, info.quota_bytes, info.quota_messages, &u) < 0)
        log_warn(NULL, "event=quota_read_failed maildir=%s error=\"%s\"", root, strerror(errno));
}
