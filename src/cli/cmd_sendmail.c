/*
 * cmd_sendmail - `pochta sendmail`, the sendmail(1) interface local
 * programs use: a message on standard input goes into the queue.
 *
 *   pochta [-c CONF] sendmail [-t] [-i|-oi] [-f ADDR] [-F NAME] [-C CONF]
 *                             [-N DSN] [-R full|hdrs] [-V ENVID] [RCPT...]
 *   sendmail -t -i          (installed as a link named sendmail; `make install`)
 *
 *   -t        recipients also from To:, Cc: and Bcc: (Bcc: is then removed)
 *   -i, -oi   a line with a single "." does not end the message
 *   -f ADDR   envelope sender (also -r; "" or "<>" = null sender);
 *             default LOGIN@hostname of the user running the command
 *   -F NAME   full name for a From: header we add
 *   -C CONF   configuration file (else -c, else $POCHTA_CONFIG, else
 *             /etc/pochta/pochta.conf)
 *   -N DSN    delivery status notifications for every recipient: never, or
 *             a comma list of success, failure, delay (RFC 3461 NOTIFY)
 *   -R RET    full or hdrs: how much of the message a failure notice
 *             returns (RFC 3461 RET)
 *   -V ENVID  an envelope ID for the notices (RFC 3461 ENVID; printable
 *             ASCII without spaces, at most 100 characters as xtext)
 * Other -o... and -B/-L/-v options are accepted and ignored, as other
 * sendmail replacements do; -bs, -bp, -q and the like are refused.
 *
 * The message gets CRLF line ends, our Received: header, and Date:,
 * Message-ID: and From: when it has none; it is written by queue_inject()
 * (queue_pickup.h) with the queue's own record format and fsync'ed before
 * we exit 0, so the daemon (now or at its next start) delivers it.
 *
 * Exit codes are sendmail's (sysexits.h), since programs test them:
 * 0 queued, 64 usage, 65 bad message, 75 try again later, 78 config.
 * Limits: max_message_size and max_recipients of pochta.conf; lines of at
 * most 998 characters (RFC 5322 2.1.1).
 */
#include "bounce/bounce_store.h"
#include "cli/cli.h"
#include "cli/cli_common.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/addr.h"
#include "mail/hdr_addr.h"
#include "mail/smtp_cmd.h"
#include "queue/queue.h"
#include "queue/queue_file.h"
#include "queue/queue_pickup.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define SM_LINE_MAX 998     /* RFC 5322 2.1.1 */
#define SM_HDR_RCPTS 1000   /* addresses read from one To/Cc/Bcc kind with -t */
#define SM_DEFAULT_CONF "/etc/pochta/pochta.conf"

typedef struct sm_opts {
    int extract;            /* -t */
    int dot_ends;           /* no -i: a "." line ends the input */
    const char *from;       /* -f / -r, NULL = the login name */
    const char *fullname;   /* -F */
    const char *conf;       /* -C */
    int notify;             /* -N: SMTP_NOTIFY_* flags, 0 = not given */
    int ret;                /* -R: QUEUE_RET_*, 0 = not given */
    const char *envid;      /* -V */
    char **args;            /* recipient arguments */
    int nargs;
} sm_opts;

/* sm_err - "sendmail: ..." on stderr; returns code */
static int sm_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sm_err(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("sendmail: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* sm_optarg - value of -X VALUE or -XVALUE; NULL when missing */
static const char *sm_optarg(int argc, char **argv, int *i)
{
    if (argv[*i][2])
        return argv[*i] + 2;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* sm_parse_dsn - the value of -N, -R or -V (RFC 3461 NOTIFY, RET, ENVID) into o; 0 or an exit code */
static int sm_parse_dsn(const char *opt, const char *v, sm_opts *o)
{
    const char *why = NULL;
    if (!v)
        return sm_err(EX_USAGE, "option %s needs a value", opt);
    if (opt[1] == 'N') {
        char words[64];
        size_t k = 0;
        for (const char *p = v; *p; p++) {
            if (*p == ' ' || *p == '\t') { /* blanks only at the ends and around commas: "-N success, delay" */
                const char *q = p + strspn(p, " \t");
                if (k > 0 && words[k - 1] != ',' && *q != ',' && *q != '\0')
                    return sm_err(EX_USAGE, "-N %s: a blank inside a word", v);
                p = q - 1;
                continue;
            }
            if (k == sizeof words - 1)
                return sm_err(EX_USAGE, "-N %s: too long", v);
            words[k++] = *p;
        }
        words[k] = '\0';
        o->notify = smtp_notify_parse(words, &why);
        if (o->notify < 0)
            return sm_err(EX_USAGE, "-N %s: %s", v, why);
    } else if (opt[1] == 'R') {
        o->ret = !strcasecmp(v, "full") ? QUEUE_RET_FULL : !strcasecmp(v, "hdrs") ? QUEUE_RET_HDRS : 0;
        if (!o->ret)
            return sm_err(EX_USAGE, "-R %s: must be full or hdrs", v);
    } else {
        for (const char *p = v; *p && !why; p++)
            if (*p < 0x21 || *p > 0x7e)
                why = "only printable ASCII without spaces";
        char wire[SMTP_ENVID_MAX + 1]; /* the limit is on the xtext sent in MAIL ENVID= */
        if (!why && (!*v || smtp_xtext_encode(v, wire, sizeof wire) < 0))
            why = "1 to 100 characters once '+' and '=' are written as +2B and +3D";
        if (why)
            return sm_err(EX_USAGE, "-V %s: an envelope ID must be %s (RFC 3461)", v, why);
        o->envid = v;
    }
    return 0;
}

/* sm_parse - command line into o; 0 or an exit code */
static int sm_parse(int argc, char **argv, sm_opts *o)
{
    o->dot_ends = 1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-t") == 0)
            o->extract = 1;
        else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
            o->dot_ends = 0;
        else if (a[1] == 'f' || a[1] == 'r' || a[1] == 'F' || a[1] == 'C') {
            const char *v = sm_optarg(argc, argv, &i);
            if (!v)
                return sm_err(EX_USAGE, "option %s needs a value", a);
            *(a[1] == 'F' ? &o->fullname : a[1] == 'C' ? &o->conf : &o->from) = v;
        } else if (a[1] == 'N' || a[1] == 'R' || a[1] == 'V') {
            int rc = sm_parse_dsn(a, sm_optarg(argc, argv, &i), o);
            if (rc)
                return rc;
        } else if (a[1] == 'B' || a[1] == 'L') {
            if (!a[2])
                i++; /* ignored option with a value */
        } else if (a[1] == 'o' || a[1] == 'v' || strcmp(a, "-bm") == 0 || a[1] == 'U') {
            /* delivery-mode and verbosity options: ignored */
        } else {
            return sm_err(EX_USAGE, "unsupported option %s (only message submission is supported)", a);
        }
    }
    o->args = argv + i;
    o->nargs = argc - i;
    return 0;
}

/* sm_read - standard input as CRLF lines into body (stops at "." unless -i); 0 or exit code */
static int sm_read(const sm_opts *o, size_t max, buf *body)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        size_t len = (size_t)n;
        if (line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (o->dot_ends && len == 1 && line[0] == '.')
            break;
        if (len > SM_LINE_MAX) {
            rc = sm_err(EX_DATAERR, "message has a line longer than %d characters (RFC 5322 2.1.1); "
                        "wrap lines or use quoted-printable", SM_LINE_MAX);
            break;
        }
        if (body->len + len + 2 > max || buf_append(body, line, len) != BUF_OK ||
            buf_append(body, "\r\n", 2) != BUF_OK) {
            rc = sm_err(EX_DATAERR, "message larger than max_message_size (%zu bytes)", max);
            break;
        }
    }
    free(line);
    if (rc == 0 && ferror(stdin))
        rc = sm_err(EX_IOERR, "cannot read the message from standard input");
    return rc;
}

/* sm_header_len - bytes of the header block at the start of msg (through the empty line), 0 if none */
static size_t sm_header_len(const char *msg, size_t len)
{
    const char *colon = memchr(msg, ':', len), *eol = memchr(msg, '\n', len);
    if (!colon || (eol && colon > eol) || colon == msg || memchr(msg, ' ', (size_t)(colon - msg)))
        return 0; /* the first line is not a header: it is all body */
    for (const char *p = msg; p < msg + len;) {
        const char *nl = memchr(p, '\n', (size_t)(msg + len - p));
        if (!nl)
            return len;
        if (nl == p + 1 && p[0] == '\r')
            return (size_t)(nl + 1 - msg);
        p = nl + 1;
    }
    return len;
}

/* sm_has_field - the header block has a field called name */
static int sm_has_field(const char *h, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = h; p < h + len;) {
        if ((size_t)(h + len - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return 1;
        const char *e = memchr(p, '\n', (size_t)(h + len - p));
        p = e ? e + 1 : h + len;
    }
    return 0;
}

/* sm_copy_headers - header block without Bcc: fields (and their folded lines) into out */
static void sm_copy_headers(const char *h, size_t len, buf *out)
{
    int skip = 0;
    for (const char *p = h; p < h + len;) {
        const char *e = memchr(p, '\n', (size_t)(h + len - p));
        size_t n = e ? (size_t)(e + 1 - p) : (size_t)(h + len - p);
        if (*p != ' ' && *p != '\t')
            skip = n > 4 && strncasecmp(p, "bcc:", 4) == 0;
        if (!skip)
            buf_append(out, p, n);
        p += n;
    }
}

/* sm_add_rcpt - normalise one address (domain-less gets @hostname) and add it once, with -N's
 * NOTIFY; 0 or exit code */
static int sm_add_rcpt(queue_msg *m, const pochta_config *cfg, int notify, const char *raw, size_t len)
{
    char tmp[MAIL_PATH_MAX * 2], out[MAIL_PATH_MAX * 4];
    while (len && (*raw == ' ' || *raw == '\t' || *raw == '<'))
        raw++, len--;
    while (len && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '>'))
        len--;
    if (len == 0)
        return 0;
    int n = snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)len, raw, memchr(raw, '@', len) ? "" : "@",
                     memchr(raw, '@', len) ? "" : cfg->hostname);
    mail_addr a;
    const char *why = NULL;
    if (n < 0 || (size_t)n >= sizeof tmp || mail_addr_parse(tmp, (size_t)n, MAIL_ADDR_ALLOW_UTF8, &a, &why) != MAIL_ADDR_OK ||
        mail_addr_format(&a, out, sizeof out) < 0)
        return sm_err(EX_DATAERR, "bad recipient address '%.*s': %s", (int)len, raw, why ? why : "too long");
    for (size_t i = 0; i < m->nrcpts; i++)
        if (strcasecmp(m->rcpts[i], out) == 0)
            return 0;
    if (m->nrcpts >= cfg->max_recipients)
        return sm_err(EX_DATAERR, "more than %u recipients (max_recipients)", cfg->max_recipients);
    m->smtputf8 |= a.local_utf8;
    queue_msg_add_rcpt_dsn(m, out, notify, NULL);
    return 0;
}

/* sm_recipients - from the arguments (comma lists allowed) and, with -t, the headers; 0 or exit code */
static int sm_recipients(const sm_opts *o, const pochta_config *cfg, const char *hdr, size_t hlen, queue_msg *m)
{
    static char found[SM_HDR_RCPTS][MAIL_PATH_MAX];
    static const char *const fields[] = {"to", "cc", "bcc"};
    int rc = 0;
    for (int i = 0; rc == 0 && i < o->nargs; i++)
        for (const char *p = o->args[i]; rc == 0 && *p;) {
            size_t n = strcspn(p, ",");
            rc = sm_add_rcpt(m, cfg, o->notify, p, n);
            p += n + (p[n] == ',');
        }
    for (int f = 0; rc == 0 && o->extract && f < 3; f++) {
        size_t n = 0;
        hdr_from_status st = hdr_addrs(hdr, hlen, fields[f], found, SM_HDR_RCPTS, &n);
        if (st != HDR_FROM_OK && st != HDR_FROM_NONE)
            return sm_err(EX_DATAERR, "cannot read the %s: header: %s", fields[f], hdr_from_error(st));
        for (size_t k = 0; rc == 0 && k < n; k++)
            rc = sm_add_rcpt(m, cfg, o->notify, found[k], strlen(found[k]));
    }
    if (rc == 0 && m->nrcpts == 0)
        rc = sm_err(EX_USAGE, "no recipients: name them as arguments or use -t with To:/Cc:/Bcc:");
    return rc;
}

/* sm_sender - envelope sender into m->sender; 0 or exit code */
static int sm_sender(const sm_opts *o, const pochta_config *cfg, queue_msg *m)
{
    const char *f = o->from;
    char tmp[MAIL_PATH_MAX * 2];
    if (!f) {
        struct passwd *pw = getpwuid(getuid());
        snprintf(tmp, sizeof tmp, "%s@%s", pw ? pw->pw_name : "nobody", cfg->hostname);
        f = tmp;
    }
    if (strcmp(f, "<>") == 0 || f[0] == '\0') {
        m->sender = xstrdup("");
        return 0;
    }
    mail_addr a;
    const char *why = NULL;
    char out[MAIL_PATH_MAX * 4];
    size_t len = strlen(f);
    if (f[0] == '<' && len > 1 && f[len - 1] == '>')
        f++, len -= 2;
    if (mail_addr_parse(f, len, MAIL_ADDR_ALLOW_UTF8, &a, &why) != MAIL_ADDR_OK ||
        mail_addr_format(&a, out, sizeof out) < 0)
        return sm_err(EX_USAGE, "bad sender address '%s': %s", o->from ? o->from : f, why ? why : "too long");
    m->smtputf8 |= a.local_utf8;
    m->sender = xstrdup(out);
    return 0;
}

/* sm_compose - Received:, missing Date/Message-ID/From, the headers without Bcc:, the body */
static void sm_compose(const sm_opts *o, const pochta_config *cfg, const buf *in, size_t hlen, queue_msg *m)
{
    char date[64];
    struct tm tm;
    time_t now = time(NULL);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
    const char *h = in->data ? in->data : "";
    buf_printf(&m->data, "Received: by %s (pochta sendmail, from userid %u)\r\n\tid %s; %s\r\n", cfg->hostname,
               (unsigned)getuid(), m->id, date);
    if (!sm_has_field(h, hlen, "date"))
        buf_printf(&m->data, "Date: %s\r\n", date);
    if (!sm_has_field(h, hlen, "message-id"))
        buf_printf(&m->data, "Message-ID: <%s@%s>\r\n", m->id, cfg->hostname);
    if (!sm_has_field(h, hlen, "from"))
        buf_printf(&m->data, "From: %s%s<%s>\r\n", o->fullname ? o->fullname : "", o->fullname ? " " : "",
                   m->sender[0] ? m->sender : "MAILER-DAEMON");
    sm_copy_headers(h, hlen, &m->data);
    if (hlen == 0)
        buf_append(&m->data, "\r\n", 2); /* no header block in the input: end ours */
    buf_append(&m->data, h + hlen, in->len - hlen);
    for (size_t i = 0; i < m->data.len && !m->body_8bit; i++)
        m->body_8bit = (unsigned char)m->data.data[i] >= 0x80;
}

/*
 * sm_suppressed - refuse the message when a remote recipient is on the
 * bounce suppression list (bounce_store.h), as submission does at RCPT;
 * exit code. Skipped when this user cannot open the database (the check
 * needs read and write access to pochta.db).
 */
static int sm_suppressed(const pochta_config *cfg, const queue_msg *m)
{
    if (access(cfg->db_path, R_OK | W_OK) != 0)
        return 0;
    bounce_store *bs = bounce_store_open(cfg->db_path);
    int rc = bs ? 0 : EX_TEMPFAIL;
    for (size_t i = 0; bs && rc == 0 && i < m->nrcpts; i++) {
        char why[300];
        bounce_suppress_result b = bounce_store_suppressed(bs, m->rcpts[i], why, sizeof why);
        if (b == BOUNCE_SUPPRESS_TEMPFAIL)
            rc = sm_err(EX_TEMPFAIL, "cannot read the bounce suppression list; try again later");
        else if (b == BOUNCE_SUPPRESSED)
            rc = sm_err(EX_NOUSER, "<%s>: recipient suppressed: mail to this address bounced as undeliverable "
                        "(%s); nothing was sent. Remove it from your lists; an administrator can lift this with: "
                        "pochta bounces clear %s", m->rcpts[i], why, m->rcpts[i]);
    }
    bounce_store_close(bs);
    return rc;
}

/* sm_queue - build the queue message from the input and inject it; exit code */
static int sm_queue(const sm_opts *o, const pochta_config *cfg, const buf *in)
{
    queue_msg *m = queue_msg_new(cfg->max_message_size + 64 * 1024);
    queue_new_id(m->id);
    m->client_ip = xstrdup("127.0.0.1");
    m->client_name = xstrdup("localhost");
    m->helo = xstrdup("localhost");
    m->arrival = time(NULL);
    m->dsn_ret = o->ret;
    m->dsn_envid = o->envid ? xstrdup(o->envid) : NULL;
    size_t hlen = sm_header_len(in->data ? in->data : "", in->len);
    int rc = sm_sender(o, cfg, m);
    if (rc == 0)
        rc = sm_recipients(o, cfg, in->data ? in->data : "", hlen, m);
    if (rc == 0)
        rc = sm_suppressed(cfg, m);
    if (rc == 0) {
        char err[600];
        sm_compose(o, cfg, in, hlen, m);
        if (queue_inject(cfg, m, err, sizeof err) != QUEUE_OK)
            rc = sm_err(EX_TEMPFAIL, "could not queue the message: %s", err);
    }
    queue_msg_free(m);
    return rc;
}

int cli_sendmail(int argc, char **argv, const char *conf_path)
{
    sm_opts o = {0};
    int rc = sm_parse(argc, argv, &o);
    if (rc)
        return rc;
    const char *conf = o.conf ? o.conf : conf_path ? conf_path : getenv("POCHTA_CONFIG");
    pochta_config cfg;
    char err[512];
    log_init("sendmail", 0, LOG_LEVEL_WARN);
    /* the client variant: a web server's user may not read the TLS key, and needs not */
    if (config_load_client(conf ? conf : SM_DEFAULT_CONF, &cfg, err, sizeof err) < 0)
        return sm_err(EX_CONFIG, "%s", err);
    buf in;
    buf_init(&in, cfg.max_message_size);
    rc = sm_read(&o, cfg.max_message_size, &in);
    if (rc == 0)
        rc = sm_queue(&o, &cfg, &in);
    buf_free(&in);
    config_free(&cfg);
    return rc;
}
