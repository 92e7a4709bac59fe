/*
 * queue_file - encode and decode queue message files and replay state
 * files (formats in queue_file.h and docs/internals/queue.md).
 *
 * The reader is written for hostile bytes: every length is bounded by
 * what is left, every field is checked for NUL bytes, and anything
 * unexpected makes the whole file invalid (a torn or corrupt file is
 * quarantined by the caller, never half-used).
 */
#include "queue/queue_file.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define QUEUE_LEN_DIGITS 12

/* queue_id_valid - 1 when s is exactly 16 upper-case hex digits */
int queue_id_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++) {
        if (i >= QUEUE_ID_SIZE - 1)
            return 0;
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    }
    return i == QUEUE_ID_SIZE - 1;
}

/* queue_put - append one record T<len>:<bytes>\n */
static buf_status queue_put(buf *out, char type, const char *s, size_t n)
{
    if (buf_printf(out, "%c%zu:", type, n) != BUF_OK || buf_append(out, s, n) != BUF_OK)
        return BUF_TOO_BIG;
    return buf_append_char(out, '\n');
}

/* queue_put_str - record holding a C string ("" for NULL) */
static buf_status queue_put_str(buf *out, char type, const char *s)
{
    s = s ? s : "";
    return queue_put(out, type, s, strlen(s));
}

/* queue_put_rcpt_dsn - the P record "NOTIFY[;ORCPT]" after a recipient that has DSN parameters */
static buf_status queue_put_rcpt_dsn(buf *out, const queue_rcpt_dsn *d)
{
    if (!d->notify && !d->orcpt)
        return BUF_OK;
    char v[QUEUE_ORCPT_MAX + 32];
    snprintf(v, sizeof v, "%d%s%.*s", d->notify, d->orcpt ? ";" : "", QUEUE_ORCPT_MAX, d->orcpt ? d->orcpt : "");
    return queue_put_str(out, 'P', v);
}

/* queue_file_header - every record before the body, and the body record's prefix */
buf_status queue_file_header(const queue_msg *m, buf *out)
{
    char num[32];
    int st = 0;
    st |= queue_put_str(out, 'V', QUEUE_FILE_VERSION);
    st |= queue_put_str(out, 'I', m->id);
    snprintf(num, sizeof num, "%lld", (long long)m->arrival);
    st |= queue_put_str(out, 'A', num);
    st |= queue_put_str(out, 'S', m->sender);
    if (m->dsn_ret)
        st |= queue_put_str(out, 'W', m->dsn_ret == QUEUE_RET_HDRS ? "HDRS" : "FULL");
    if (m->dsn_envid)
        st |= queue_put_str(out, 'X', m->dsn_envid);
    for (size_t i = 0; i < m->nrcpts; i++) {
        st |= queue_put_str(out, 'R', m->rcpts[i]);
        st |= queue_put_rcpt_dsn(out, &m->rcpt_dsn[i]);
    }
    st |= queue_put_str(out, 'C', m->client_ip);
    st |= queue_put_str(out, 'N', m->client_name);
    st |= queue_put_str(out, 'H', m->helo);
    if (m->auth_user)
        st |= queue_put_str(out, 'U', m->auth_user);
    snprintf(num, sizeof num, "%d", (m->body_8bit ? QUEUE_FLAG_8BIT : 0) | (m->smtputf8 ? QUEUE_FLAG_SMTPUTF8 : 0) |
             (m->junk ? QUEUE_FLAG_JUNK : 0));
    st |= queue_put_str(out, 'F', num);
    st |= buf_printf(out, "M%zu:", m->data.len);
    return st ? BUF_TOO_BIG : BUF_OK;
}

/* queue_file_trailer - newline closing the body record, then END */
const char *queue_file_trailer(size_t *len)
{
    static const char t[] = "\nE0:\n";
    *len = sizeof t - 1;
    return t;
}

/* queue_parse_len - decimal length at p (up to ':'); -1 when malformed */
static int queue_parse_len(const char *p, size_t avail, size_t *len, size_t *used)
{
    size_t i = 0, v = 0;
    while (i < avail && i <= QUEUE_LEN_DIGITS && p[i] >= '0' && p[i] <= '9') {
        v = v * 10 + (size_t)(p[i] - '0');
        i++;
    }
    if (i == 0 || i > QUEUE_LEN_DIGITS || i >= avail || p[i] != ':')
        return -1;
    if (i > 1 && p[0] == '0')
        return -1;
    *len = v;
    *used = i + 1;
    return 0;
}

/* queue_field - copy a record's bytes as a string; NULL when it holds a NUL */
static char *queue_field(const char *p, size_t n)
{
    if (memchr(p, '\0', n))
        return NULL;
    return xstrndup(p, n);
}

/* queue_set_once - store a string field that may appear only once; -1 on repeat or NUL */
static int queue_set_once(char **slot, const char *p, size_t n)
{
    if (*slot)
        return -1;
    *slot = queue_field(p, n);
    return *slot ? 0 : -1;
}

/* queue_parse_num - strict decimal of a record; -1 when not one */
static int queue_parse_num(const char *p, size_t n, long long *v)
{
    char tmp[24];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    *v = strtoll(tmp, &end, 10);
    return (errno || *end || tmp[0] == '-' || tmp[0] == '+') ? -1 : 0;
}

typedef struct queue_seen {
    int v, i, a, m, f, e;
    size_t p; /* number of the recipient (1-based) that had the last P record */
} queue_seen;

/* queue_rcpt_dsn_read - P record "NOTIFY[;addr-type;xtext]" for the recipient just read; NULL or a problem */
static const char *queue_rcpt_dsn_read(queue_msg *m, queue_seen *seen, const char *p, size_t n)
{
    if (!m->nrcpts || seen->p == m->nrcpts || memchr(p, '\0', n))
        return "bad recipient dsn";
    seen->p = m->nrcpts;
    const char *semi = memchr(p, ';', n);
    long long v;
    if (queue_parse_num(p, semi ? (size_t)(semi - p) : n, &v) < 0 || v < 0 || v > QUEUE_NOTIFY_ALL)
        return "bad recipient dsn";
    if ((v & QUEUE_NOTIFY_NEVER) && v != QUEUE_NOTIFY_NEVER)
        return "bad recipient dsn";
    queue_rcpt_dsn *d = &m->rcpt_dsn[m->nrcpts - 1];
    d->notify = (int)v;
    if (semi) {
        size_t k = n - (size_t)(semi + 1 - p);
        if (k == 0 || k > QUEUE_ORCPT_MAX || !memchr(semi + 1, ';', k))
            return "bad recipient dsn";
        for (size_t i = 0; i < k; i++) /* xtext only: it goes into RCPT lines as it is (pickup/ is hostile) */
            if ((unsigned char)semi[1 + i] < 33 || (unsigned char)semi[1 + i] > 126)
                return "bad recipient dsn";
        d->orcpt = xstrndup(semi + 1, k);
    }
    return NULL;
}

/* queue_ret_read - W record: RET, "FULL" or "HDRS" (RFC 3461 4.3), at most once */
static const char *queue_ret_read(queue_msg *m, const char *p, size_t n)
{
    if (m->dsn_ret || n != 4 || (memcmp(p, "FULL", 4) != 0 && memcmp(p, "HDRS", 4) != 0))
        return "bad ret";
    m->dsn_ret = p[0] == 'H' ? QUEUE_RET_HDRS : QUEUE_RET_FULL;
    return NULL;
}

/* queue_envid_read - X record: ENVID, printable ASCII, at most 100 characters (RFC 3461 4.4) */
static const char *queue_envid_read(queue_msg *m, const char *p, size_t n)
{
    if (m->dsn_envid || n == 0 || n > QUEUE_ENVID_MAX)
        return "bad envid";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 32 || (unsigned char)p[i] > 126)
            return "bad envid";
    m->dsn_envid = xstrndup(p, n);
    return NULL;
}

/* queue_record - apply one record to m; NULL or a problem description */
static const char *queue_record(queue_msg *m, queue_seen *seen, char type, const char *p, size_t n)
{
    long long v;
    switch (type) {
    case 'V':
        if (seen->v++ || n != strlen(QUEUE_FILE_VERSION) || memcmp(p, QUEUE_FILE_VERSION, n) != 0)
            return "bad version";
        return NULL;
    case 'I':
        if (seen->i++ || n != QUEUE_ID_SIZE - 1 || memchr(p, '\0', n))
            return "bad id";
        memcpy(m->id, p, n);
        m->id[n] = '\0';
        return queue_id_valid(m->id) ? NULL : "bad id";
    case 'A':
        if (seen->a++ || queue_parse_num(p, n, &v) < 0)
            return "bad arrival";
        m->arrival = (time_t)v;
        return NULL;
    case 'F':
        if (seen->f++ || queue_parse_num(p, n, &v) < 0)
            return "bad flags";
        m->body_8bit = (v & QUEUE_FLAG_8BIT) != 0;
        m->smtputf8 = (v & QUEUE_FLAG_SMTPUTF8) != 0;
        m->junk = (v & QUEUE_FLAG_JUNK) != 0;
        return NULL;
    case 'S': return queue_set_once(&m->sender, p, n) ? "bad sender" : NULL;
    case 'C': return queue_set_once(&m->client_ip, p, n) ? "bad client ip" : NULL;
    case 'N': return queue_set_once(&m->client_name, p, n) ? "bad client name" : NULL;
    case 'H': return queue_set_once(&m->helo, p, n) ? "bad helo" : NULL;
    case 'U': return queue_set_once(&m->auth_user, p, n) ? "bad auth user" : NULL;
    case 'R':
        if (m->nrcpts >= QUEUE_MAX_RCPTS || n == 0 || memchr(p, '\0', n))
            return "bad recipient";
        char *r = xstrndup(p, n);
        queue_msg_add_rcpt(m, r);
        free(r);
        return NULL;
    case 'W': return queue_ret_read(m, p, n);
    case 'X': return queue_envid_read(m, p, n);
    case 'P': return queue_rcpt_dsn_read(m, seen, p, n);
    case 'M':
        if (seen->m++)
            return "two bodies";
        m->data.cap = n;
        return buf_append(&m->data, p, n) == BUF_OK ? NULL : "bad body";
    case 'E':
        seen->e++;
        return n == 0 ? NULL : "bad end";
    default:
        return "unknown record";
    }
}

/* queue_file_read - parse a whole message file (see queue_file.h) */
queue_status queue_file_read(const char *data, size_t len, queue_msg **out, char *err, size_t errlen)
{
    queue_msg *m = queue_msg_new(0);
    queue_seen seen = {0};
    const char *why = NULL;
    size_t pos = 0;
    *out = NULL;
    while (pos < len && !why) {
        if (seen.e) {
            why = "bytes after end";
            break;
        }
        char type = data[pos++];
        size_t n, used;
        if (queue_parse_len(data + pos, len - pos, &n, &used) < 0) {
            why = "bad length";
            break;
        }
        pos += used;
        if (n > len - pos || len - pos - n < 1 || data[pos + n] != '\n') {
            why = "torn record";
            break;
        }
        if (type != 'V' && !seen.v)
            why = "no version";
        else
            why = queue_record(m, &seen, type, data + pos, n);
        pos += n + 1;
    }
    if (!why && !seen.e)
        why = "torn: no end record";
    if (!why && (!seen.i || !seen.a || !seen.m || !seen.f || !m->sender || !m->nrcpts))
        why = "missing record";
    if (why) {
        snprintf(err, errlen, "%s at byte %zu", why, pos);
        queue_msg_free(m);
        return QUEUE_TEMPFAIL;
    }
    if (!m->client_ip)
        m->client_ip = xstrdup("");
    if (!m->client_name)
        m->client_name = xstrdup("");
    if (!m->helo)
        m->helo = xstrdup("");
    *out = m;
    return QUEUE_OK;
}

/* queue_state_add_part - remember a finished final address of one recipient */
static void queue_state_add_part(queue_rcpt_state *s, const char *addr, size_t n)
{
    if (s->nparts >= QUEUE_MAX_RCPTS)
        return;
    s->parts = xrealloc(s->parts, (s->nparts + 1) * sizeof *s->parts);
    s->parts[s->nparts++] = xstrndup(addr, n);
}

/* queue_state_apply - apply one payload "INDEX WORD ..." ; 0 or -1 when malformed */
static int queue_state_apply(const char *p, size_t n, queue_rcpt_state *st, size_t nst)
{
    char line[QUEUE_STATE_REASON_MAX + 1024];
    if (n >= sizeof line || memchr(p, '\0', n))
        return -1;
    memcpy(line, p, n);
    line[n] = '\0';
    char *end;
    errno = 0;
    unsigned long idx = strtoul(line, &end, 10);
    if (errno || end == line || *end != ' ' || line[0] == '-' || idx >= nst)
        return -1;
    queue_rcpt_state *s = &st[idx];
    const char *w = end + 1;
    if (strcmp(w, "done") == 0) {
        s->status = QRCPT_DONE;
    } else if (strcmp(w, "bounced") == 0 || strncmp(w, "bounced ", 8) == 0) {
        s->status = QRCPT_BOUNCED;
        snprintf(s->reason, sizeof s->reason, "%s", w[7] ? w + 8 : "");
    } else if (strncmp(w, "part ", 5) == 0 && w[5]) {
        queue_state_add_part(s, w + 5, strlen(w + 5));
    } else if (strncmp(w, "deferred ", 9) == 0) {
        unsigned long att = strtoul(w + 9, &end, 10);
        if (*end != ' ' || att > 1000000)
            return -1;
        long long next = strtoll(end + 1, &end, 10);
        if (*end != ' ' && *end != '\0')
            return -1;
        s->status = QRCPT_DEFERRED;
        s->attempts = (unsigned)att;
        s->next = (time_t)next;
        snprintf(s->reason, sizeof s->reason, "%s", *end ? end + 1 : "");
    } else {
        return -1;
    }
    return 0;
}

/* queue_state_parse - replay the state lines; torn or malformed lines are skipped */
size_t queue_state_parse(const char *data, size_t len, queue_rcpt_state *st, size_t n)
{
    size_t pos = 0, used = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl)
            break; /* torn last line: never acknowledged, ignore */
        size_t linelen = (size_t)(nl - (data + pos));
        const char *line = data + pos;
        pos += linelen + 1;
        size_t plen, hdr;
        if (linelen < 3 || line[0] != 'D' || queue_parse_len(line + 1, linelen - 1, &plen, &hdr) < 0)
            continue;
        if (1 + hdr + plen != linelen)
            continue;
        if (queue_state_apply(line + 1 + hdr, plen, st, n) == 0)
            used++;
    }
    return used;
}

/* queue_state_free - release the parts lists */
void queue_state_free(queue_rcpt_state *st, size_t n)
{
    if (!st)
        return;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < st[i].nparts; k++)
            free(st[i].parts[k]);
        free(st[i].parts);
        st[i].parts = NULL;
        st[i].nparts = 0;
    }
}

/* queue_state_has_part - 1 when addr was finished before */
int queue_state_has_part(const queue_rcpt_state *st, const char *addr)
{
    for (size_t k = 0; k < st->nparts; k++)
        if (strcasecmp(st->parts[k], addr) == 0)
            return 1;
    return 0;
}

/* queue_state_format - one record line; newlines in the payload become spaces */
buf_status queue_state_format(buf *out, const char *payload)
{
    size_t n = strlen(payload);
    if (buf_printf(out, "D%zu:", n) != BUF_OK)
        return BUF_TOO_BIG;
    for (size_t i = 0; i < n; i++)
        if (buf_append_char(out, payload[i] == '\n' || payload[i] == '\r' ? ' ' : payload[i]) != BUF_OK)
            return BUF_TOO_BIG;
    return buf_append_char(out, '\n');
}

/* QUEUE_FILE_HEADER_MAX - envelope records; recipients are capped far lower */
#define QUEUE_FILE_HEADER_MAX (64u * 1024 * 1024)

/* queue_file_write - see queue_file.h */
int queue_file_write(const char *path, const queue_msg *m, mode_t mode, const char **op)
{
    buf hdr;
    size_t tlen;
    const char *trailer = queue_file_trailer(&tlen);
    int rc = -1, fd = -1;
    buf_init(&hdr, QUEUE_FILE_HEADER_MAX);
    *op = "header";
    if (queue_file_header(m, &hdr) != BUF_OK) {
        errno = EFBIG;
        goto out;
    }
    *op = "open";
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)) < 0)
        goto out;
    *op = "write";
    if (fileio_write_all(fd, hdr.data, hdr.len) < 0 || fileio_write_all(fd, m->data.data, m->data.len) < 0 ||
        fileio_write_all(fd, trailer, tlen) < 0)
        goto out;
    *op = "fsync";
    if (fsync(fd) < 0)
        goto out;
    *op = "close";
    rc = close(fd);
    fd = -1;
out:
    if (fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    buf_free(&hdr);
    return rc;
}
