/*
 * maildir - Maildir delivery (API and naming in maildir.h).
 *
 * Durability order: file data fsync'ed in tmp/, renamed into new/ with
 * RENAME_NOREPLACE (never replacing an existing file, as the classic
 * link-then-unlink does, in one call), new/ fsync'ed. The Maildir is
 * created on the first delivery that finds it missing; directories we
 * create are fsync'ed into their parents, so a fresh mailbox survives a
 * crash as well as the message in it.
 */
#include "deliver/maildir.h"
#include "deliver/maildir_quota.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MAILDIR_NAME_TRIES 5
#define MAILDIR_PART_MAX 255

/* maildir_safe_part - copy a lower-cased address part that is safe as one path component */
static int maildir_safe_part(const char *p, size_t n, char *out)
{
    if (n == 0 || n > MAILDIR_PART_MAX || p[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '/' || c < 0x20 || c == 0x7f)
            return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

/* maildir_path - mail_dir/DOMAIN/LOCAL for address */
int maildir_path(const char *mail_dir, const char *address, char *out, size_t outlen)
{
    char local[MAILDIR_PART_MAX + 1], domain[MAILDIR_PART_MAX + 1];
    const char *at = strrchr(address, '@');
    if (!at || maildir_safe_part(address, (size_t)(at - address), local) < 0 ||
        maildir_safe_part(at + 1, strlen(at + 1), domain) < 0)
        return -1;
    int n = snprintf(out, outlen, "%s/%s/%s", mail_dir, domain, local);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* maildir_mkdir - create dir if missing and make its entry durable in parent */
static int maildir_mkdir(const char *dir, const char *parent)
{
    if (mkdir(dir, 0700) < 0)
        return errno == EEXIST ? 0 : -1;
    return fileio_fsync_dir(parent);
}

/* maildir_prepare - create mail_dir, DOMAIN, LOCAL and cur/new/tmp as needed */
static int maildir_prepare(const char *mail_dir, const char *root)
{
    char dir[4200], parent[4200], top[4200];
    const char *slash = strrchr(root, '/'); /* root = mail_dir/DOMAIN/LOCAL */
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - root), root);
    slash = strrchr(mail_dir, '/');
    if (slash && slash != mail_dir)
        snprintf(top, sizeof top, "%.*s", (int)(slash - mail_dir), mail_dir);
    else
        snprintf(top, sizeof top, "%s", slash ? "/" : ".");
    if (maildir_mkdir(mail_dir, top) < 0 || maildir_mkdir(parent, mail_dir) < 0 ||
        maildir_mkdir(root, parent) < 0)
        return -1;
    static const char *const subs[] = {"cur", "new", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", root, subs[i]);
        if (maildir_mkdir(dir, root) < 0)
            return -1;
    }
    return 0;
}

/* maildir_host - hostname with '/' and ':' escaped as Dovecot does */
static void maildir_host(const char *h, char *out, size_t outlen)
{
    buf b;
    buf_init(&b, outlen - 1);
    for (; *h; h++) {
        buf_status st = *h == '/' ? buf_append_str(&b, "\\057")
                      : *h == ':' ? buf_append_str(&b, "\\072")
                                  : buf_append_char(&b, *h);
        if (st != BUF_OK)
            break;
    }
    snprintf(out, outlen, "%s", b.len ? buf_cstr(&b) : "localhost");
    buf_free(&b);
}

/* maildir_write - tmp file with the headers and data, fsync'ed; 0 or -1 with errno */
static int maildir_write(const char *tmp, const char *hdr, size_t hlen, const char *data, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (fileio_write_all(fd, hdr, hlen) < 0 || fileio_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* maildir_link - tmp -> new/ under a fresh unique name (never replacing a file); 0, or -1 with
 * errno (ENOENT: the Maildir is not there yet) */
static int maildir_link(const char *root, const char *host, size_t size, const char *hdr, size_t hlen,
                        const char *data, size_t len, char *path, size_t pathlen)
{
    static unsigned int counter;
    char name[512], tmp[4800];
    for (int tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        unsigned int q = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(name, sizeof name, "%lld.M%ldP%ldQ%u.%s,S=%zu", (long long)tv.tv_sec, (long)tv.tv_usec,
                 (long)getpid(), q, host, size);
        snprintf(tmp, sizeof tmp, "%s/tmp/%s", root, name);
        snprintf(path, pathlen, "%s/new/%s", root, name);
        if (maildir_write(tmp, hdr, hlen, data, len) < 0) {
            if (errno == EEXIST)
                continue;
            return -1;
        }
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
            return 0;
        int e = errno;
        unlink(tmp);
        if (e != EEXIST) {
            errno = e;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* maildir_folder - create the Maildir++ folder root/.NAME (cur/new/tmp and the
 * "maildirfolder" marker Dovecot and Courier expect); its path into out */
static int maildir_folder(const char *root, const char *name, char *out, size_t outlen)
{
    char dir[4300], marker[4400];
    int n = snprintf(out, outlen, "%s/.%s", root, name);
    if (n < 0 || (size_t)n >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (maildir_mkdir(out, root) < 0)
        return -1;
    static const char *const subs[] = {"cur", "new", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        n = snprintf(dir, sizeof dir, "%s/%s", out, subs[i]);
        if (n < 0 || (size_t)n >= sizeof dir || maildir_mkdir(dir, out) < 0)
            return -1;
    }
    n = snprintf(marker, sizeof marker, "%s/maildirfolder", out);
    if (n < 0 || (size_t)n >= sizeof marker)
        return -1;
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    return close(fd);
}

/* maildir_deliver - one message into address's Maildir (INBOX) */
deliver_status maildir_deliver(const char *mail_dir, const char *address, const char *sender,
                               const char *hostname, const char *data, size_t len, char *path,
                               size_t pathlen, char *err, size_t errlen)
{
    return maildir_deliver_folder(mail_dir, address, NULL, sender, hostname, data, len, path, pathlen, err,
                                  errlen);
}

/* maildir_deliver_folder - one message into address's Maildir, or into its folder .FOLDER */
deliver_status maildir_deliver_folder(const char *mail_dir, const char *address, const char *folder,
                                      const char *sender, const char *hostname, const char *data, size_t len,
                                      char *path, size_t pathlen, char *err, size_t errlen)
{
    char root[4096], host[256], newdir[4200];
    if (maildir_path(mail_dir, address, root, sizeof root) < 0) {
        snprintf(err, errlen, "address cannot name a mailbox");
        return DELIVER_PERMFAIL;
    }
    char top[4096]; /* the mailbox root, where maildirsize lives even for a folder */
    snprintf(top, sizeof top, "%s", root);
    if (folder) {
        int n = snprintf(root, sizeof root, "%s/.%s", top, folder);
        if (n < 0 || (size_t)n >= sizeof root) {
            snprintf(err, errlen, "folder name too long");
            return DELIVER_PERMFAIL;
        }
    }
    maildir_host(hostname ? hostname : "localhost", host, sizeof host);
    buf hdr;
    buf_init(&hdr, 4096 + 2 * MAILDIR_PART_MAX);
    if (buf_printf(&hdr, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender ? sender : "", address) != BUF_OK) {
        buf_free(&hdr);
        snprintf(err, errlen, "sender address too long");
        return DELIVER_PERMFAIL;
    }
    size_t hdr_len = hdr.len;
    int rc = maildir_link(root, host, hdr.len + len, hdr.data, hdr.len, data, len, path, pathlen);
    if (rc < 0 && errno == ENOENT) {
        /* first delivery: create the Maildir (and folder), then once more; trying first
         * spares every later delivery six mkdir calls */
        if (maildir_prepare(mail_dir, top) < 0 || (folder && maildir_folder(top, folder, root, sizeof root) < 0)) {
            snprintf(err, errlen, "cannot create %s: %s", root, strerror(errno));
            buf_free(&hdr);
            return DELIVER_TEMPFAIL;
        }
        rc = maildir_link(root, host, hdr.len + len, hdr.data, hdr.len, data, len, path, pathlen);
    }
    buf_free(&hdr);
    if (rc < 0) {
        snprintf(err, errlen, "cannot write into %s: %s", root, strerror(errno));
        return DELIVER_TEMPFAIL;
    }
    snprintf(newdir, sizeof newdir, "%s/new", root);
    if (fileio_fsync_dir(newdir) < 0) {
        /* the file is linked but maybe not durable: retry; a duplicate beats a loss */
        snprintf(err, errlen, "cannot fsync %s: %s", newdir, strerror(errno));
        return DELIVER_TEMPFAIL;
    }
    /* Maildir++ quota: count the new file where a maildirsize is kept (maildir_quota.h) */
    if (maildir_quota_update(top, (long long)(hdr_len + len), 1) < 0)
        log_warn(NULL, "event=quota_update_failed maildir=%s error=\"%s\"", top, strerror(errno));
    return DELIVER_OK;
}
