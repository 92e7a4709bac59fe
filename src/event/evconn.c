/*
 * evconn - capped line reading and server-side TLS start for protocol
 * sessions on libevent (API and contract in evconn.h).
 */
#include "event/evconn.h"

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdint.h>

/* evconn_read_line - see evconn.h */
int evconn_read_line(struct evbuffer *in, char *line, size_t max, int *skipping, size_t *len)
{
    size_t eol_len;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
    if (eol.pos < 0) {
        size_t avail = evbuffer_get_length(in);
        if (avail >= max) { /* no end in sight: drop it now, bounded memory */
            evbuffer_drain(in, avail);
            *skipping = 1;
        }
        return 0;
    }
    size_t n = (size_t)eol.pos;
    if (*skipping || n + 1 > max) {
        evbuffer_drain(in, n + 1);
        *skipping = 0;
        *len = SIZE_MAX;
        return 1;
    }
    evbuffer_remove(in, line, n + 1);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    *len = n;
    return 1;
}

/* evconn_tls_accept - see evconn.h */
struct bufferevent *evconn_tls_accept(struct event_base *base, struct bufferevent *bev, SSL_CTX *ctx, int idle_s,
                                      size_t read_max)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    /* Take the session's callbacks before the filter replaces them on the
     * underlying connection with its own. */
    bufferevent_data_cb rd, wr;
    bufferevent_event_cb ev;
    void *arg;
    bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
    struct bufferevent *tls =
        bufferevent_openssl_filter_new(base, bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tls) /* libevent freed ssl (BEV_OPT_CLOSE_ON_FREE) */
        return NULL;
    bufferevent_setcb(tls, rd, wr, ev, arg);
    struct timeval idle = {idle_s, 0};
    bufferevent_set_timeouts(tls, &idle, &idle);
    bufferevent_setwatermark(tls, EV_READ, 0, read_max);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    return tls;
}

/* evconn_on_raw_drained - the socket below the TLS filter wrote some output */
static void evconn_on_raw_drained(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
    (void)info;
    evconn_flush *f = arg;
    if (evbuffer_get_length(out) == 0)
        f->done(f->arg);
}

/* evconn_flushed - see evconn.h */
int evconn_flushed(struct bufferevent *bev, evconn_flush *f)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return 0;
    struct bufferevent *raw = bufferevent_get_underlying(bev);
    if (!raw || evbuffer_get_length(bufferevent_get_output(raw)) == 0)
        return 1;
    if (!f->cb)
        f->cb = evbuffer_add_cb(bufferevent_get_output(raw), evconn_on_raw_drained, f);
    return 0;
}

/* evconn_flush_cancel - see evconn.h */
void evconn_flush_cancel(struct bufferevent *bev, evconn_flush *f)
{
    if (f->cb)
        evbuffer_remove_cb_entry(bufferevent_get_output(bufferevent_get_underlying(bev)), f->cb);
    f->cb = NULL;
}
