/*
 * remote_conn - one outbound SMTP client connection (API in remote_conn.h):
 * connect, gathered writes, reading replies, STARTTLS, RSET check and close.
 *
 * Blocking I/O with a deadline per wait (poll): it runs on a delivery worker
 * thread, never on the event loop. Limits: replies are read in lines of at
 * most REMOTE_LINE_MAX bytes and REMOTE_REPLY_MAX bytes in all (RFC 5321
 * 4.5.3.1.5 allows 512 per line), at most 100 lines per reply.
 */
#include "deliver/remote_conn.h"
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REMOTE_RSET_WAIT_MS 20000 /* liveness check of a cached connection (capped by remote_timeout) */

/* remote_conn_wait - poll fd for events within the timeout; 0 ready, -1 timeout/error */
static int remote_conn_wait(const remote_conn *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int ms = c->wait_ms ? (int)c->wait_ms : (int)(c->cfg->remote_timeout ? c->cfg->remote_timeout : 300) * 1000;
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

/* remote_conn_io - one read or write through TLS or plain; bytes, 0 EOF, -1 error */
static ssize_t remote_conn_io(remote_conn *c, int wr, void *p, size_t n)
{
    for (;;) {
        if (remote_conn_wait(c, wr ? POLLOUT : POLLIN) < 0)
            return -1;
        if (!c->ssl) {
            ssize_t r = wr ? send(c->fd, p, n, MSG_NOSIGNAL) : recv(c->fd, p, n, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            return r;
        }
        int r = wr ? SSL_write(c->ssl, p, (int)n) : SSL_read(c->ssl, p, (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            continue;
        return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
}

/* remote_conn_write - write all of s now; 0 or -1 */
static int remote_conn_write(remote_conn *c, const char *s, size_t n)
{
    while (n) {
        ssize_t w = remote_conn_io(c, 1, (void *)s, n);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* remote_conn_flush - write what remote_conn_send gathered; 0 or -1 */
static int remote_conn_flush(remote_conn *c)
{
    int r = remote_conn_write(c, c->wbuf, c->wlen);
    c->wlen = 0;
    return r;
}

/*
 * remote_conn_send - queue s for writing; 0 or -1. Output goes out in
 * REMOTE_WBUF pieces and when a reply is awaited (remote_conn_reply), so a
 * message body is a few large writes rather than one per line, and
 * pipelined commands share a segment (RFC 2920).
 */
int remote_conn_send(remote_conn *c, const char *s, size_t n)
{
    if (c->wlen + n > sizeof c->wbuf && remote_conn_flush(c) < 0)
        return -1;
    if (n > sizeof c->wbuf)
        return remote_conn_write(c, s, n);
    memcpy(c->wbuf + c->wlen, s, n);
    c->wlen += n;
    return 0;
}

/* remote_conn_line - read one line (without CRLF) into out; 0 or -1 */
static int remote_conn_line(remote_conn *c, char *out, size_t outlen)
{
    for (;;) {
        char *nl = memchr(c->rbuf, '\n', c->rlen);
        if (nl) {
            size_t n = (size_t)(nl - c->rbuf);
            size_t k = n > 0 && c->rbuf[n - 1] == '\r' ? n - 1 : n;
            if (k >= outlen)
                k = outlen - 1;
            memcpy(out, c->rbuf, k);
            out[k] = '\0';
            memmove(c->rbuf, nl + 1, c->rlen - n - 1);
            c->rlen -= n + 1;
            return 0;
        }
        if (c->rlen >= REMOTE_LINE_MAX)
            return -1; /* a reply line longer than any server should send */
        ssize_t r = remote_conn_io(c, 0, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
        if (r <= 0)
            return -1;
        c->rlen += (size_t)r;
    }
}

/* remote_conn_ext - note an EHLO extension keyword we use */
static void remote_conn_ext(remote_conn *c, const char *kw)
{
    if (!strcasecmp(kw, "STARTTLS"))
        c->ext_tls = 1;
    else if (!strncasecmp(kw, "SIZE", 4) && (kw[4] == '\0' || kw[4] == ' '))
        c->ext_size = 1;
    else if (!strcasecmp(kw, "8BITMIME"))
        c->ext_8bit = 1;
    else if (!strcasecmp(kw, "SMTPUTF8"))
        c->ext_utf8 = 1;
    else if (!strcasecmp(kw, "DSN"))
        c->ext_dsn = 1;
    else if (!strcasecmp(kw, "PIPELINING"))
        c->ext_pipelining = 1;
}

/* remote_conn_reply - read a whole (multi-line) reply; its code, or -1 on a broken connection */
int remote_conn_reply(remote_conn *c)
{
    char line[REMOTE_LINE_MAX + 1];
    size_t used = 0;
    c->reply[0] = '\0';
    c->code = -1;
    if (c->wlen && remote_conn_flush(c) < 0) {
        snprintf(c->reply, sizeof c->reply, "connection lost while sending");
        return -1;
    }
    for (int n = 0; n < 100; n++) {
        if (remote_conn_line(c, line, sizeof line) < 0)
            break;
        size_t ll = strlen(line);
        if (ll < 3 || line[0] < '2' || line[0] > '5')
            break;
        if (used + ll + 4 < sizeof c->reply) {
            used += (size_t)snprintf(c->reply + used, sizeof c->reply - used, "%s%s", used ? " / " : "", line);
        }
        if (ll > 4 && n > 0)
            remote_conn_ext(c, line + 4); /* EHLO keywords follow the first line */
        if (ll == 3 || line[3] == ' ') {
            c->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
            return c->code;
        }
    }
    snprintf(c->reply, sizeof c->reply, "connection lost or unreadable reply");
    return -1;
}

/* remote_conn_vqueue - format a command line (CRLF added) into the output; 0 or -1 */
static int remote_conn_vqueue(remote_conn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static int remote_conn_vqueue(remote_conn *c, const char *fmt, va_list ap)
{
    char line[2200];
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof line - 2)
        return -1;
    memcpy(line + n, "\r\n", 2);
    return remote_conn_send(c, line, (size_t)n + 2);
}

/* remote_conn_queue - send a command without awaiting its reply (PIPELINING, RFC 2920); 0 or -1 */
int remote_conn_queue(remote_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = remote_conn_vqueue(c, fmt, ap);
    va_end(ap);
    return r;
}

/* remote_conn_cmd - send a command line and read the reply code; -1 when the connection broke */
int remote_conn_cmd(remote_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = remote_conn_vqueue(c, fmt, ap);
    va_end(ap);
    if (r < 0) {
        snprintf(c->reply, sizeof c->reply, "connection lost while sending");
        return -1;
    }
    return remote_conn_reply(c);
}

/* remote_conn_connect - TCP connect to ip:port within the timeout; 0 or -1 (c->reply says why) */
int remote_conn_connect(remote_conn *c, unsigned port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, c->ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else {
        return -1;
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int e = 0;
    socklen_t el = sizeof e;
    if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0 &&
        (errno != EINPROGRESS || remote_conn_wait(c, POLLOUT) < 0 ||
         getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0)) {
        snprintf(c->reply, sizeof c->reply, "connect to %s port %u failed: %s", c->ip, port,
                 e ? strerror(e) : "timed out");
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    /* output is gathered in wbuf and written only when a reply is awaited, so Nagle could only delay */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

/* remote_conn_starttls - upgrade the connection; 0 done, 1 refused (go on in clear), -1 failed (connection unusable) */
int remote_conn_starttls(remote_conn *c)
{
    if (remote_conn_cmd(c, "STARTTLS") != 220)
        return 1; /* refused: go on in clear text (opportunistic) */
    if (!(c->sslctx = SSL_CTX_new(TLS_client_method())))
        return -1;
    SSL_CTX_set_min_proto_version(c->sslctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->sslctx, SSL_VERIFY_NONE, NULL); /* opportunistic: RFC 7435 */
    if (!(c->ssl = SSL_new(c->sslctx)) || !SSL_set_fd(c->ssl, c->fd))
        return -1;
    SSL_set_tlsext_host_name(c->ssl, c->host);
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(c->ssl, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
            remote_conn_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) < 0) {
            snprintf(c->reply, sizeof c->reply, "TLS handshake failed");
            c->tls_failed = 1;
            return -1;
        }
    }
    c->rlen = 0; /* RFC 3207: discard anything received before TLS */
    c->ext_tls = c->ext_size = c->ext_8bit = c->ext_utf8 = c->ext_dsn = c->ext_pipelining = 0;
    return 0;
}

/* remote_conn_close - QUIT politely when possible and free the connection */
void remote_conn_close(remote_conn *c, int quit)
{
    if (quit && c->fd >= 0 && !c->tls_failed)
        remote_conn_cmd(c, "QUIT");
    if (c->ssl) {
        if (!c->tls_failed) /* not after a fatal TLS error (SSL_shutdown(3)) */
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    SSL_CTX_free(c->sslctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->sslctx = NULL;
    c->fd = -1;
}

/* remote_conn_reopen_plain - close c and connect again to its address, never to ask for STARTTLS (see remote_conn.h) */
int remote_conn_reopen_plain(remote_conn *c)
{
    remote_conn_close(c, 0);
    c->rlen = c->wlen = 0;
    c->code = -1;
    c->tls_failed = 0;
    c->skip_tls = 1;
    return remote_conn_connect(c, c->cfg->remote_smtp_port);
}

/* remote_conn_body - send the message dot-stuffed (RFC 5321 4.5.2) and the final dot; 0 or -1 */
int remote_conn_body(remote_conn *c, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) + 1 : n;
        if (p[i] == '.' && remote_conn_send(c, ".", 1) < 0)
            return -1;
        if (remote_conn_send(c, p + i, end - i) < 0)
            return -1;
        i = end;
    }
    if (n && p[n - 1] != '\n' && remote_conn_send(c, "\r\n", 2) < 0)
        return -1;
    return remote_conn_send(c, ".\r\n", 3);
}

/*
 * remote_conn_alive - may a cached connection carry the next message? Nothing
 * unread and nothing arrived while idle (a close or a 421 shows as readable),
 * then RSET answered 250 (RFC 5321 4.1.1.5); 1 yes, 0 no
 */
int remote_conn_alive(remote_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->rlen || (c->ssl && SSL_pending(c->ssl)) || poll(&p, 1, 0) != 0)
        return 0;
    unsigned cap = c->cfg->remote_timeout * 1000u;
    c->wait_ms = cap && cap < REMOTE_RSET_WAIT_MS ? cap : REMOTE_RSET_WAIT_MS;
    int code = remote_conn_cmd(c, "RSET");
    c->wait_ms = 0;
    return code == 250;
}
