/*
 * evconn - connection helpers the line-based protocol servers (SMTP, POP3)
 * share: reading one capped command line from a libevent buffer, and
 * putting a server-side TLS filter over a live connection.
 *
 * Both are protocol-neutral: the caller keeps its own state machine, its
 * own limits and its own replies.
 */
#ifndef POCHTA_EVENT_EVCONN_H
#define POCHTA_EVENT_EVCONN_H

#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <openssl/ssl.h>
#include <stddef.h>

/*
 * evconn_read_line - take one LF-terminated line of at most max octets
 * counting its end (the protocols' limits count CR LF) into line, which
 * has room for max octets; stored without its CR LF, NUL-terminated.
 * Returns 1 with *len set when a line was taken; *len is SIZE_MAX when the
 * line was too long (it was drained, nothing is in line). Returns 0 when
 * more input is needed. *skipping is the caller's "inside an overlong
 * line" flag: set while the rest of such a line is being discarded.
 */
int evconn_read_line(struct evbuffer *in, char *line, size_t max, int *skipping, size_t *len);

/*
 * evconn_tls_accept - a TLS (server side) filter over bev, which it then
 * owns; the session's callbacks move to it, with an idle timeout of
 * idle_s seconds and a read high-water mark of read_max. NULL on failure
 * (out of memory): the caller ends the session.
 */
struct bufferevent *evconn_tls_accept(struct event_base *base, struct bufferevent *bev, SSL_CTX *ctx, int idle_s,
                                      size_t read_max);

/*
 * Ending a session once its last reply is on the wire. Under TLS the
 * session's output drains into the filter at once, so it is the socket
 * below whose buffer must empty; evconn_flushed arranges (once) for
 * done(arg) to run then. The session embeds an evconn_flush, sets done
 * and arg, and calls evconn_flush_cancel before it frees the connection.
 */
typedef struct evconn_flush {
    struct evbuffer_cb_entry *cb;  /* set while waiting for the socket below */
    void (*done)(void *arg);
    void *arg;
} evconn_flush;

/* evconn_flushed - 1 when every byte written to bev is out; 0 to wait: either bev still holds
 * output (its write callback should ask again) or done(arg) runs when the socket below drains */
int evconn_flushed(struct bufferevent *bev, evconn_flush *f);
/* evconn_flush_cancel - stop waiting (the session is being freed) */
void evconn_flush_cancel(struct bufferevent *bev, evconn_flush *f);

#endif
