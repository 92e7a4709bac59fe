/*
 * remote_conn - one outbound SMTP client connection, for remote.c.
 *
 * Commands are gathered in wbuf and written when it fills or when a reply is
 * awaited, so pipelined commands (RFC 2920) share a segment and a message
 * body goes out in a few large writes. Every wait has the deadline wait_ms,
 * or cfg->remote_timeout when that is 0. The caller allocates the struct, sets
 * cfg, host, ip and fd = -1, and frees it after remote_conn_close.
 */
#ifndef POCHTA_DELIVER_REMOTE_CONN_H
#define POCHTA_DELIVER_REMOTE_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>

struct pochta_config;

#define REMOTE_LINE_MAX 1000
#define REMOTE_REPLY_MAX 4096
#define REMOTE_WBUF 16384 /* output gathered per write: few segments, no Nagle stall on the last */

typedef struct remote_conn {
    const struct pochta_config *cfg;
    int fd;
    SSL_CTX *sslctx;
    SSL *ssl;
    char host[256], ip[64];
    char rbuf[4096];
    size_t rlen;
    char wbuf[REMOTE_WBUF];        /* commands and body gathered until a reply is awaited */
    size_t wlen;
    int code;                      /* last reply code */
    char reply[REMOTE_REPLY_MAX];  /* last reply, lines joined with " / " */
    int ext_tls, ext_size, ext_8bit, ext_utf8, ext_dsn, ext_pipelining;
    int tls_failed;                /* the STARTTLS handshake failed: the connection is unusable */
    int skip_tls;                  /* a fresh connection after tls_failed: no STARTTLS on it */
    unsigned wait_ms;              /* deadline of one wait; 0 = remote_timeout */
} remote_conn;

/* TCP connect to c->ip:port within the timeout, TCP_NODELAY; 0 or -1 (c->reply says why) */
int remote_conn_connect(remote_conn *c, unsigned port);
/* STARTTLS (opportunistic: TLS >= 1.2, no certificate check, SNI = c->host); 0 done, 1 refused
 * (go on in clear), -1 failed (c->tls_failed set when the handshake broke: the connection is unusable) */
int remote_conn_starttls(remote_conn *c);
/* after a failed handshake: close c and connect again to c->ip, never to ask for STARTTLS; 0 or -1 */
int remote_conn_reopen_plain(remote_conn *c);
/* QUIT (when quit and the connection is usable), then close; c may be connected again or freed */
void remote_conn_close(remote_conn *c, int quit);

/* queue n bytes for writing; 0 or -1 */
int remote_conn_send(remote_conn *c, const char *s, size_t n);
/* queue a command line (CRLF added) without awaiting its reply (PIPELINING); 0 or -1 */
int remote_conn_queue(remote_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* queue a command line and read its reply: the code, or -1 when the connection broke */
int remote_conn_cmd(remote_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* write what is queued, read a whole (multi-line) reply into c->reply (EHLO keywords noted): its code or -1 */
int remote_conn_reply(remote_conn *c);
/* queue the message dot-stuffed (RFC 5321 4.5.2) and the final dot; 0 or -1 */
int remote_conn_body(remote_conn *c, const char *p, size_t n);
/* may a cached idle connection carry the next message? nothing unread or arrived, then RSET 250; 1 or 0 */
int remote_conn_alive(remote_conn *c);

#endif
