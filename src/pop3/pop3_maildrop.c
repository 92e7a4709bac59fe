/*
 * pop3_maildrop - list, read and expunge one Maildir for a POP3 session
 * (API, UID and size rules in pop3_maildrop.h).
 *
 * A file can move or vanish under us while the session runs (Dovecot moves
 * new/ to cur/ and renames for flags; an IMAP client may delete): reads and
 * deletions find a message again by its base name in cur/ and new/.
 */
#include "pop3/pop3_maildrop.h"

#include "deliver/maildir_quota.h"
#include "lib/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POP3_PATH_MAX 4600
/* Largest message file we send; bigger files are refused rather than held in memory twice. */
#define POP3_FILE_MAX (64ULL * 1024 * 1024)

/* pop3_maildrop_uid - UID of a base name: itself when it is a valid unique-id, else its SHA-256 */
static void pop3_maildrop_uid(const char *base, size_t len, char *uid)
{
    int ok = len > 0 && len <= POP3_UID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)base[i] >= 0x21 && (unsigned char)base[i] <= 0x7e;
    if (ok) {
        memcpy(uid, base, len);
        uid[len] = '\0';
        return;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(base, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(uid + 2 * i, 3, "%02x", md[i]);
}

/* pop3_maildrop_base_len - length of a file name's base (up to the ':' of the flags) */
static size_t pop3_maildrop_base_len(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? (size_t)(colon - name) : strlen(name);
}

/* pop3_maildrop_add_dir - list one of new/ or cur/ into d; 0 or -1 */
static int pop3_maildrop_add_dir(pop3_maildrop *d, const char *sub, size_t *alloc)
{
    char dir[POP3_PATH_MAX], path[POP3_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", d->root, sub);
    DIR *dh = opendir(dir);
    if (!dh)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL && d->n < POP3_MAILDROP_MAX) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        int pn = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (pn < 0 || (size_t)pn >= sizeof path || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (d->n == *alloc) {
            *alloc = *alloc ? *alloc * 2 : 64;
            d->msg = xrealloc(d->msg, *alloc * sizeof *d->msg);
        }
        pop3_msg *m = &d->msg[d->n++];
        memset(m, 0, sizeof *m);
        m->name = xasprintf("%s/%s", sub, e->d_name);
        pop3_maildrop_uid(e->d_name, pop3_maildrop_base_len(e->d_name), m->uid);
        m->size = (size_t)st.st_size;
        d->total += m->size;
    }
    closedir(dh);
    return 0;
}

/* pop3_maildrop_stamp - "SECONDS.M<usec>..." of a Maildir name as microseconds (0 when absent) */
static unsigned long long pop3_maildrop_stamp(const char *name)
{
    char *end;
    unsigned long long secs = strtoull(name, &end, 10), usec = 0;
    if (end[0] == '.' && end[1] == 'M')
        usec = strtoull(end + 2, NULL, 10);
    return secs * 1000000ULL + (usec < 1000000 ? usec : 0);
}

/* pop3_maildrop_cmp - delivery order: time in the name (seconds, then microseconds), then the name */
static int pop3_maildrop_cmp(const void *x, const void *y)
{
    const char *a = strchr(((const pop3_msg *)x)->name, '/') + 1;
    const char *b = strchr(((const pop3_msg *)y)->name, '/') + 1;
    unsigned long long ta = pop3_maildrop_stamp(a), tb = pop3_maildrop_stamp(b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a, b);
}

/* pop3_maildrop_open - snapshot of root's messages */
int pop3_maildrop_open(const char *root, pop3_maildrop **out, char *err, size_t errlen)
{
    pop3_maildrop *d = xcalloc(1, sizeof *d);
    size_t alloc = 0;
    d->root = xstrdup(root);
    if (pop3_maildrop_add_dir(d, "new", &alloc) < 0 || pop3_maildrop_add_dir(d, "cur", &alloc) < 0) {
        snprintf(err, errlen, "cannot list %s: %s", root, strerror(errno));
        pop3_maildrop_free(d);
        return -1;
    }
    if (d->n)
        qsort(d->msg, d->n, sizeof *d->msg, pop3_maildrop_cmp);
    *out = d;
    return 0;
}

void pop3_maildrop_free(pop3_maildrop *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msg[i].name);
    free(d->msg);
    free(d->root);
    free(d);
}

/* pop3_maildrop_find - current path of message m (it may have moved); 0, or -1 when gone */
static int pop3_maildrop_find(const pop3_maildrop *d, const pop3_msg *m, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", d->root, m->name);
    if (access(path, F_OK) == 0)
        return 0;
    const char *base = strchr(m->name, '/') + 1;
    size_t blen = pop3_maildrop_base_len(base);
    static const char *const subs[] = {"cur", "new"};
    for (int k = 0; k < 2; k++) {
        char dir[POP3_PATH_MAX];
        int dn = snprintf(dir, sizeof dir, "%s/%s", d->root, subs[k]);
        DIR *dh = dn < 0 || (size_t)dn >= sizeof dir ? NULL : opendir(dir);
        if (!dh)
            continue;
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            if (pop3_maildrop_base_len(e->d_name) == blen && strncmp(e->d_name, base, blen) == 0) {
                int n = snprintf(path, pathlen, "%s/%s", dir, e->d_name);
                closedir(dh);
                return n < 0 || (size_t)n >= pathlen ? -1 : 0;
            }
        }
        closedir(dh);
    }
    return -1;
}

/* pop3_maildrop_line - append one line (without its end) dot-stuffed with CRLF; BUF_OK or BUF_TOO_BIG */
static buf_status pop3_maildrop_line(buf *out, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > 0 && p[0] == '.' && buf_append_char(out, '.') != BUF_OK)
        return BUF_TOO_BIG;
    if (buf_append(out, p, n) != BUF_OK)
        return BUF_TOO_BIG;
    return buf_append(out, "\r\n", 2);
}

/* pop3_maildrop_format - data as POP3 multi-line content: whole (lines < 0) or headers + lines body lines */
int pop3_maildrop_format(const char *data, size_t len, long lines, buf *out)
{
    int in_body = 0;
    long body = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (in_body && lines >= 0 && body++ >= lines)
            break;
        if (pop3_maildrop_line(out, data + pos, n) != BUF_OK)
            return -1;
        if (!in_body && (n == 0 || (n == 1 && data[pos] == '\r')))
            in_body = 1;
        pos += n + (nl ? 1 : 0);
    }
    return 0;
}

/* pop3_maildrop_read - message i for RETR/TOP */
int pop3_maildrop_read(const pop3_maildrop *d, size_t i, long lines, buf *out, char *err, size_t errlen)
{
    char path[POP3_PATH_MAX];
    if (pop3_maildrop_find(d, &d->msg[i], path, sizeof path) < 0)
        return 1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 1 : (snprintf(err, errlen, "cannot open: %s", strerror(errno)), -1);
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || (unsigned long long)st.st_size > POP3_FILE_MAX) {
        fclose(f);
        snprintf(err, errlen, "message file is larger than %llu bytes", POP3_FILE_MAX);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *data = xmalloc(size + 1);
    size_t got = fread(data, 1, size, f);
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err || got != size) {
        free(data);
        snprintf(err, errlen, "cannot read the message file");
        return -1;
    }
    buf_init(out, 2 * size + 64);
    int rc = pop3_maildrop_format(data, size, lines, out);
    free(data);
    if (rc < 0) {
        snprintf(err, errlen, "message too large to send");
        return -1;
    }
    return 0;
}

/* pop3_maildrop_expunge - apply the session's deletions */
int pop3_maildrop_expunge(pop3_maildrop *d, size_t *removed, char *err, size_t errlen)
{
    char path[POP3_PATH_MAX];
    long long bytes = 0, count = 0;
    int failed = 0;
    *removed = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!d->msg[i].deleted)
            continue;
        if (pop3_maildrop_find(d, &d->msg[i], path, sizeof path) < 0) {
            (*removed)++; /* already gone: another client deleted it */
            continue;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            if (!failed)
                snprintf(err, errlen, "cannot delete %s: %s", path, strerror(errno));
            failed = 1;
            continue;
        }
        (*removed)++;
        bytes += (long long)d->msg[i].size;
        count++;
    }
    if (count > 0 && maildir_quota_update(d->root, -bytes, -count) < 0 && !failed) {
        snprintf(err, errlen, "messages deleted but maildirsize not updated: %s", strerror(errno));
        return 0; /* the next recalculation corrects the file; the deletions stand */
    }
    return failed ? -1 : 0;
}
