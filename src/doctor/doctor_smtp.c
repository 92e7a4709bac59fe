/*
 * doctor_smtp - the SMTP probes of `pochta doctor DOMAIN`: connect to each
 * MX host (the first DOCTOR_MAX_SMTP, first address each), or to one server
 * given with --connect, or (no MX host with an address) to our own
 * listener from -c, and check what a sending server would meet there
 * (RFC 5321): a 220 banner naming a fully qualified host, EHLO, STARTTLS
 * (RFC 3207) and the certificate (chain and name, RFC 6125 through
 * OpenSSL's host check), then whether it relays for outsiders.
 *
 * The relay probe sends MAIL FROM and RCPT TO with an outside address in
 * the classic relay tricks (plain, %-hack, quoted @, source route, bang
 * path) and stops before DATA: RSET and QUIT, so no message is ever sent.
 *
 * Blocking sockets with a deadline per read and write (SO_RCVTIMEO); every
 * line is bounded (DOCTOR_LINE_MAX) and so is every reply
 * (DOCTOR_REPLY_LINES lines). A certificate is rated: valid = ok;
 * self-signed or from an unknown CA = warn (opportunistic TLS still works,
 * MTA-STS and DANE-less checking senders do not care); wrong name, expired
 * or otherwise broken = fail.
 */
#include "doctor/doctor_int.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* DOCTOR_LINE_MAX - longest reply line read (RFC 5321 4.5.3.1.5 says 512; we allow slack) */
#define DOCTOR_LINE_MAX 2048
/* DOCTOR_REPLY_LINES - lines in one multi-line reply before we call it garbage */
#define DOCTOR_REPLY_LINES 100
/* DOCTOR_SMTP_TIMEOUT_MS - connect and per-read deadline when none is given */
#define DOCTOR_SMTP_TIMEOUT_MS 10000
/* DOCTOR_SESSION_MS - a whole probe session, so a server trickling bytes cannot hold us for long */
#define DOCTOR_SESSION_MS 60000
/* DOCTOR_VERIFY_ERRS - certificate errors remembered */
#define DOCTOR_VERIFY_ERRS 8

enum { SM_CONNECT, SM_BANNER, SM_EHLO, SM_STARTTLS, SM_CERT, SM_RELAY, SM_N };
static const char *doctor_smtp_ids[SM_N] = {"smtp.connect", "smtp.banner", "smtp.ehlo",
                                            "smtp.starttls", "smtp.cert", "smtp.relay"};

typedef struct doctor_conn {
    int fd;
    SSL *ssl;
    char in[DOCTOR_LINE_MAX];
    size_t inlen;
    char local[80];                  /* our address as an EHLO literal */
    long long deadline;              /* monotonic ms after which every read fails */
    int errs[DOCTOR_VERIFY_ERRS];    /* certificate verification errors seen */
    size_t nerrs;
} doctor_conn;

typedef struct doctor_acc {
    buf bad[SM_N], good[SM_N];
    doctor_status worst[SM_N];
    int seen[SM_N];
} doctor_acc;

/* doctor_note - one finding for check i of the SMTP group */
static void doctor_note(doctor_acc *a, int i, doctor_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void doctor_note(doctor_acc *a, int i, doctor_status st, const char *fmt, ...)
{
    buf *b = st == DOCTOR_OK ? &a->good[i] : &a->bad[i];
    if (b->len)
        buf_append_str(b, "; ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
    a->seen[i] = 1;
    if (st != DOCTOR_OK && (a->worst[i] == DOCTOR_OK || st == DOCTOR_FAIL))
        a->worst[i] = st;
}

/* doctor_connect - TCP connection to ip:port within timeout; fd or -1 with err */
static int doctor_connect(const char *ip, unsigned port, unsigned timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else {
        snprintf(err, errlen, "not an IP address");
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (struct sockaddr *)&ss, sl);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t el = sizeof soerr;
        rc = poll(&p, 1, (int)timeout_ms);
        if (rc == 0)
            errno = ETIMEDOUT;
        rc = rc <= 0 ? -1 : getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0 ? -1 : soerr ? (errno = soerr, -1) : 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* doctor_now_ms - monotonic clock in milliseconds */
static long long doctor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* doctor_io_read - some bytes from the socket or TLS; <= 0 on end, error, timeout or past the session deadline */
static int doctor_io_read(doctor_conn *k, char *p, size_t n)
{
    if (doctor_now_ms() > k->deadline)
        return -1;
    if (k->ssl)
        return SSL_read(k->ssl, p, (int)n);
    ssize_t r = recv(k->fd, p, n, 0);
    return (int)r;
}

/* doctor_send - one command line (CRLF added); 0 or -1 */
static int doctor_send(doctor_conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int doctor_send(doctor_conn *k, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 2)
        return -1;
    memcpy(line + n, "\r\n", 2);
    n += 2;
    if (k->ssl)
        return SSL_write(k->ssl, line, n) == n ? 0 : -1;
    for (int off = 0; off < n;) {
        ssize_t w = send(k->fd, line + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += (int)w;
    }
    return 0;
}

/* doctor_line - next line without CRLF into out; its length, or -1 (closed, timeout, too long) */
static int doctor_line(doctor_conn *k, char *out, size_t outlen)
{
    for (;;) {
        char *nl = memchr(k->in, '\n', k->inlen);
        if (nl) {
            size_t n = (size_t)(nl - k->in);
            size_t keep = n && k->in[n - 1] == '\r' ? n - 1 : n;
            if (keep >= outlen)
                return -1;
            memcpy(out, k->in, keep);
            out[keep] = '\0';
            memmove(k->in, nl + 1, k->inlen - n - 1);
            k->inlen -= n + 1;
            return (int)keep;
        }
        if (k->inlen == sizeof k->in)
            return -1;
        int r = doctor_io_read(k, k->in + k->inlen, sizeof k->in - k->inlen);
        if (r <= 0)
            return -1;
        k->inlen += (size_t)r;
    }
}

/* doctor_reply - a whole (multi-line) reply; its code, or -1. text gets the lines joined by '\n'. */
static int doctor_reply(doctor_conn *k, buf *text)
{
    char line[DOCTOR_LINE_MAX];
    buf_reset(text);
    for (int i = 0; i < DOCTOR_REPLY_LINES; i++) {
        int n = doctor_line(k, line, sizeof line);
        if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
            line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-'))
            return -1;
        buf_printf(text, "%s%s", text->len ? "\n" : "", line);
        if (n == 3 || line[3] == ' ')
            return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    }
    return -1;
}

/* doctor_cmd - send a command and read its reply code (-1 when the connection failed) */
static int doctor_cmd(doctor_conn *k, buf *text, const char *cmd)
{
    return doctor_send(k, "%s", cmd) < 0 ? -1 : doctor_reply(k, text);
}

/* doctor_first_line - the first line of a reply, for messages */
static const char *doctor_first_line(const buf *text, char *out, size_t outlen)
{
    const char *t = buf_cstr(text);
    snprintf(out, outlen, "%.*s", (int)strcspn(t, "\n"), t);
    return out;
}

/* doctor_verify_cb - remember every certificate error, let the handshake go on (we rate, not refuse) */
static int doctor_verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    doctor_conn *k = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!ok && k && k->nerrs < DOCTOR_VERIFY_ERRS)
        k->errs[k->nerrs++] = X509_STORE_CTX_get_error(x);
    return 1;
}

/* doctor_has_err - whether verification reported e */
static int doctor_has_err(const doctor_conn *k, int e)
{
    for (size_t i = 0; i < k->nerrs; i++)
        if (k->errs[i] == e)
            return 1;
    return 0;
}

/* doctor_rate_cert - smtp.cert for the certificate the server showed */
static void doctor_rate_cert(doctor_acc *a, doctor_conn *k, const char *host)
{
    X509 *cert = SSL_get1_peer_certificate(k->ssl);
    char subj[256] = "?", issuer[256] = "?";
    if (!cert) {
        doctor_note(a, SM_CERT, DOCTOR_FAIL, "%s: no certificate shown", host);
        return;
    }
    X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof subj);
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    X509_free(cert);
    if (doctor_has_err(k, X509_V_ERR_HOSTNAME_MISMATCH))
        doctor_note(a, SM_CERT, DOCTOR_FAIL, "%s: certificate %s is not for this name", host, subj);
    else if (doctor_has_err(k, X509_V_ERR_CERT_HAS_EXPIRED) || doctor_has_err(k, X509_V_ERR_CERT_NOT_YET_VALID))
        doctor_note(a, SM_CERT, DOCTOR_FAIL, "%s: certificate %s is expired or not yet valid", host, subj);
    else if (doctor_has_err(k, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) ||
             doctor_has_err(k, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN))
        doctor_note(a, SM_CERT, DOCTOR_WARN, "%s: self-signed certificate %s", host, subj);
    else if (doctor_has_err(k, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) ||
             doctor_has_err(k, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE))
        doctor_note(a, SM_CERT, DOCTOR_WARN, "%s: certificate %s from an unknown CA %s (or the chain is incomplete)",
                    host, subj, issuer);
    else if (k->nerrs)
        doctor_note(a, SM_CERT, DOCTOR_FAIL, "%s: certificate %s: %s", host, subj,
                    X509_verify_cert_error_string(k->errs[0]));
    else
        doctor_note(a, SM_CERT, DOCTOR_OK, "%s: valid, issued by %s", host, issuer);
}

/* doctor_starttls - STARTTLS and the handshake with the name checked; 0 when TLS is up */
static int doctor_starttls(doctor_ctx *c, doctor_acc *a, doctor_conn *k, const char *host, buf *text)
{
    char first[256], err[256];
    int code = doctor_cmd(k, text, "STARTTLS");
    if (code != 220) {
        doctor_note(a, SM_STARTTLS, DOCTOR_FAIL, "%s: STARTTLS offered but answered %s", host,
                    code < 0 ? "nothing" : doctor_first_line(text, first, sizeof first));
        return -1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_default_verify_paths(ctx);
    if (c->o->ca_file)
        SSL_CTX_load_verify_locations(ctx, c->o->ca_file, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, doctor_verify_cb);
    k->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    SSL_set_app_data(k->ssl, k);
    SSL_set_tlsext_host_name(k->ssl, host);
    SSL_set1_host(k->ssl, host);
    SSL_set_fd(k->ssl, k->fd);
    if (SSL_connect(k->ssl) != 1) {
        ERR_error_string_n(ERR_get_error(), err, sizeof err);
        doctor_note(a, SM_STARTTLS, DOCTOR_FAIL, "%s: TLS handshake failed: %s", host, err);
        SSL_free(k->ssl);
        k->ssl = NULL;
        return -1;
    }
    doctor_note(a, SM_STARTTLS, DOCTOR_OK, "%s: %s", host, SSL_get_version(k->ssl));
    doctor_rate_cert(a, k, host);
    return 0;
}

/* doctor_relay_try - one trick: 1 accepted (open relay), 0 refused (5xx), 2 deferred (4xx), -1 could not test */
static int doctor_relay_try(doctor_conn *k, buf *text, const char *from, const char *rcpt)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>", from);
    int code = doctor_cmd(k, text, cmd);
    if (code / 100 != 2) {
        doctor_cmd(k, text, "RSET");
        return -1;
    }
    snprintf(cmd, sizeof cmd, "RCPT TO:<%s>", rcpt);
    code = doctor_cmd(k, text, cmd);
    int rc = code < 0 ? -1 : code / 100 == 2 ? 1 : code / 100 == 4 ? 2 : 0;
    doctor_cmd(k, text, "RSET");
    return rc;
}

/* doctor_relay - the open-relay probe on an EHLO'd connection; stops before DATA */
static void doctor_relay(doctor_ctx *c, doctor_acc *a, doctor_conn *k, const char *host, buf *text)
{
    const char *to = c->o->relay_to ? c->o->relay_to : "doctor-relay-probe@example.net";
    const char *at = strrchr(to, '@');
    if (!at || at == to || strlen(to) > 200 || strpbrk(to, " <>\r\n\t")) {
        doctor_note(a, SM_RELAY, DOCTOR_WARN, "bad --relay-to address %s", to);
        return;
    }
    char tricks[5][512];
    int ll = (int)(at - to);
    const char *ext = at + 1, *d = c->o->domain;
    snprintf(tricks[0], sizeof tricks[0], "%s", to);
    snprintf(tricks[1], sizeof tricks[1], "%.*s%%%s@%s", ll, to, ext, d);
    snprintf(tricks[2], sizeof tricks[2], "\"%s\"@%s", to, d);
    snprintf(tricks[3], sizeof tricks[3], "@%s:%s", d, to);
    snprintf(tricks[4], sizeof tricks[4], "%s!%.*s@%s", ext, ll, to, d);
    int tested = 0, deferred = 0;
    for (size_t i = 0; i < 5; i++) {
        int rc = doctor_relay_try(k, text, to, tricks[i]);
        if (rc < 0)
            rc = doctor_relay_try(k, text, "", tricks[i]);
        if (rc == 1) {
            doctor_note(a, SM_RELAY, DOCTOR_FAIL, "%s accepted RCPT TO:<%s> from an outsider: open relay", host,
                        tricks[i]);
            return;
        }
        tested += rc == 0;
        deferred += rc == 2;
    }
    if (deferred)
        doctor_note(a, SM_RELAY, DOCTOR_WARN, "%s answered %d of the relay attempts with 4xx (greylisting or a rate "
                    "limit?): not refused; run the check again in a few minutes", host, deferred);
    else if (tested)
        doctor_note(a, SM_RELAY, DOCTOR_OK, "%s refused all %d relay attempts for %s", host, tested, to);
    else
        doctor_note(a, SM_RELAY, DOCTOR_WARN, "%s: could not test relaying (MAIL FROM refused)", host);
}

/* doctor_ehlo - EHLO (HELO as fallback); 1 with STARTTLS offered, 0 without, -1 when neither works */
static int doctor_ehlo(doctor_acc *a, doctor_conn *k, const char *host, buf *text, int note)
{
    char cmd[128], first[256];
    snprintf(cmd, sizeof cmd, "EHLO %s", k->local);
    int code = doctor_cmd(k, text, cmd);
    if (code == 250) {
        if (note)
            doctor_note(a, SM_EHLO, DOCTOR_OK, "%s: EHLO accepted", host);
        for (const char *p = buf_cstr(text); *p;) {
            size_t len = strcspn(p, "\n");
            if ((len == 12 || (len > 12 && p[12] == ' ')) && strncasecmp(p + 4, "STARTTLS", 8) == 0)
                return 1;
            p += len + (p[len] == '\n');
        }
        return 0;
    }
    doctor_note(a, SM_EHLO, code < 0 ? DOCTOR_FAIL : DOCTOR_WARN, "%s: EHLO answered %s", host,
                code < 0 ? "nothing" : doctor_first_line(text, first, sizeof first));
    snprintf(cmd, sizeof cmd, "HELO %s", k->local);
    return code >= 0 && doctor_cmd(k, text, cmd) == 250 ? 0 : -1;
}

/* doctor_banner - smtp.banner: 220 and a fully qualified name first; 0 when the session may go on */
static int doctor_banner(doctor_acc *a, doctor_conn *k, const char *host, buf *text)
{
    char first[256];
    int code = doctor_reply(k, text);
    if (code != 220) {
        doctor_note(a, SM_BANNER, DOCTOR_FAIL, "%s: greeting %s", host,
                    code < 0 ? "missing or malformed" : doctor_first_line(text, first, sizeof first));
        return -1;
    }
    const char *t = text->len > 4 ? buf_cstr(text) + 4 : "";
    size_t n = strcspn(t, " \n");
    unsigned char tmp[16];
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)n, t);
    if (!strchr(name, '.') || inet_pton(AF_INET, name, tmp) == 1)
        doctor_note(a, SM_BANNER, DOCTOR_WARN, "%s: greeting does not start with a fully qualified name: %s", host,
                    doctor_first_line(text, first, sizeof first));
    else
        doctor_note(a, SM_BANNER, DOCTOR_OK, "%s: %s", host, doctor_first_line(text, first, sizeof first));
    return 0;
}

/* doctor_local_literal - our end of the connection as an EHLO address literal */
static void doctor_local_literal(doctor_conn *k)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[64] = "127.0.0.1";
    if (getsockname(k->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    }
    snprintf(k->local, sizeof k->local, ss.ss_family == AF_INET6 ? "[IPv6:%s]" : "[%s]", ip);
}

/* doctor_probe - one server: connect, banner, EHLO, STARTTLS, certificate, relay (when relay is set) */
static void doctor_probe(doctor_ctx *c, doctor_acc *a, const char *host, const char *ip, unsigned port, int relay)
{
    char err[256];
    unsigned tmo = c->o->timeout_ms ? c->o->timeout_ms : DOCTOR_SMTP_TIMEOUT_MS;
    doctor_conn k;
    memset(&k, 0, sizeof k);
    k.fd = doctor_connect(ip, port, tmo, err, sizeof err);
    if (k.fd < 0) {
        doctor_note(a, SM_CONNECT, DOCTOR_FAIL, "%s (%s port %u): %s", host, ip, port, err);
        return;
    }
    doctor_note(a, SM_CONNECT, DOCTOR_OK, "%s (%s port %u)", host, ip, port);
    k.deadline = doctor_now_ms() + DOCTOR_SESSION_MS;
    doctor_local_literal(&k);
    buf text;
    buf_init(&text, DOCTOR_LINE_MAX * DOCTOR_REPLY_LINES);
    int tls = doctor_banner(a, &k, host, &text) < 0 ? -1 : doctor_ehlo(a, &k, host, &text, 1);
    if (tls == 0)
        doctor_note(a, SM_STARTTLS, DOCTOR_FAIL, "%s: STARTTLS not offered", host);
    if (tls == 1 && doctor_starttls(c, a, &k, host, &text) == 0)
        tls = doctor_ehlo(a, &k, host, &text, 0) < 0 ? -1 : 1;
    if (tls >= 0 && relay)
        doctor_relay(c, a, &k, host, &text);
    if (tls >= 0)
        doctor_cmd(&k, &text, "QUIT");
    if (k.ssl) {
        SSL_shutdown(k.ssl);
        SSL_free(k.ssl);
    }
    close(k.fd);
    buf_free(&text);
}

/* doctor_smtp_fix - what to do about a failing or warning SMTP check */
static const char *doctor_smtp_fix(int i)
{
    static const char *fix[SM_N] = {
        "open TCP port 25 in the firewall (and ask the provider: many block port 25) and check that pochtad "
        "runs with smtp_listen on a public address",
        "set hostname in pochta.conf to the server's fully qualified name (the PTR name)",
        "make the server answer EHLO with 250 (RFC 5321 4.1.1.1)",
        "set tls_cert and tls_key in pochta.conf (pochta init makes a self-signed pair; a public CA such as "
        "Let's Encrypt is better)",
        "get a certificate for the MX host name from a public CA (e.g. Let's Encrypt) and set tls_cert/tls_key",
        "accept mail for other domains only from authenticated users or trusted_networks; never from everyone",
    };
    return fix[i];
}

/* doctor_split_hostport - "A.B.C.D:PORT" or "[V6]:PORT" (port 25 when none); 0 or -1 */
static int doctor_split_hostport(const char *s, char *ip, size_t iplen, unsigned *port)
{
    const char *end, *rest;
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (!end)
            return -1;
        s++;
        rest = end + 1;
    } else {
        end = strchr(s, ':');
        if (end && strchr(end + 1, ':'))
            return -1; /* a bare IPv6 address: brackets are required */
        rest = end ? end : s + strlen(s);
        end = rest;
    }
    if ((size_t)(end - s) >= iplen || end == s)
        return -1;
    snprintf(ip, iplen, "%.*s", (int)(end - s), s);
    *port = 25;
    if (*rest == ':') {
        char *stop;
        unsigned long p = strtoul(rest + 1, &stop, 10);
        if (!rest[1] || *stop || p == 0 || p > 65535)
            return -1;
        *port = (unsigned)p;
    } else if (*rest) {
        return -1;
    }
    return 0;
}

/* doctor_check_smtp - probe the targets and turn the findings into the smtp.* checks */
void doctor_check_smtp(doctor_ctx *c)
{
    doctor_acc a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < SM_N; i++) {
        buf_init(&a.bad[i], 8192);
        buf_init(&a.good[i], 8192);
    }
    unsigned port = c->o->smtp_port ? c->o->smtp_port : 25;
    size_t probed = 0;
    const char *connect = c->o->connect;
    int any_addr = 0;
    for (size_t i = 0; i < c->nmx; i++)
        any_addr |= c->mx[i].naddr > 0;
    if (!connect && !any_addr)
        connect = c->o->own_listener;
    if (connect) {
        char ip[64];
        unsigned cport;
        const char *host = c->nmx ? c->mx[0].host : c->helo[0] ? c->helo : c->o->domain;
        if (doctor_split_hostport(connect, ip, sizeof ip, &cport) == 0)
            doctor_probe(c, &a, host, ip, cport, 1);
        else
            doctor_note(&a, SM_CONNECT, DOCTOR_FAIL, "%s is not ADDR:PORT", connect);
        probed = 1;
    }
    for (size_t i = 0; !connect && i < c->nmx && probed < DOCTOR_MAX_SMTP; i++)
        if (c->mx[i].naddr)
            doctor_probe(c, &a, c->mx[i].host, c->mx[i].addr[0], port, probed++ == 0);
    if (!probed)
        doctor_add(c->rep, "smtp.connect", DOCTOR_SKIP, "no MX host with an address to probe");
    for (int i = 0; probed && i < SM_N; i++) {
        if (!a.seen[i]) {
            doctor_add(c->rep, doctor_smtp_ids[i], DOCTOR_SKIP, "not reached");
            continue;
        }
        doctor_check *k = doctor_add(c->rep, doctor_smtp_ids[i], a.worst[i], "%s",
                                     buf_cstr(a.worst[i] == DOCTOR_OK ? &a.good[i] : &a.bad[i]));
        if (a.worst[i] != DOCTOR_OK)
            doctor_fix(k, "%s", doctor_smtp_fix(i));
    }
    for (int i = 0; i < SM_N; i++) {
        buf_free(&a.bad[i]);
        buf_free(&a.good[i]);
    }
}
