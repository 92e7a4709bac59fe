/*
 * remote_pool - outbound SMTP session slots per destination and the idle
 * connection cache, shared by the delivery worker threads (used by remote.c).
 *
 * Slots: at most `limit` connections per destination (the recipient domain,
 * lower-case A-label) are open at once, counting the ones in use and the idle
 * cached ones; a worker past the limit waits up to wait_ms for a slot, then
 * gets POOL_BUSY (the caller defers with 4.4.5). Each worker holds at most
 * one slot at a time, so waiting can never deadlock.
 *
 * Cache: after a successful transaction (RFC 5321 4.1.1.4: the session is
 * back to its initial state) remote.c may park its connection here, keyed
 * by IP + port + TLS state, for `reuse_secs` at most; at most POOL_MAX idle
 * connections in all. A parked connection keeps its slot. A reaper thread
 * closes expired ones (QUIT) every second; remote_pool_stop closes all.
 *
 * Before remote_pool_start (or after stop) there is no limit and no cache:
 * get always answers POOL_SLOT and put refuses.
 */
#ifndef POCHTA_DELIVER_REMOTE_POOL_H
#define POCHTA_DELIVER_REMOTE_POOL_H

struct remote_conn;

/* closes (QUIT, free) a connection the pool gives up: expired, evicted, at stop */
typedef void (*remote_pool_close_fn)(struct remote_conn *c);

typedef enum {
    POOL_CACHED = 1, /* *out is an idle connection to ip:port; the caller holds its slot */
    POOL_SLOT = 0,   /* no idle connection: the caller holds a slot and connects */
    POOL_BUSY = -1,  /* the destination stayed at its limit for wait_ms: defer */
} pool_result;

/* remote_pool_start - set the limits (limit 0 = none, reuse_secs 0 = no cache) and start the reaper */
void remote_pool_start(unsigned limit, unsigned reuse_secs, remote_pool_close_fn close_fn);

/* remote_pool_stop - stop the reaper and close every idle connection; call when no worker runs */
void remote_pool_stop(void);

/*
 * remote_pool_get - a slot for dest, with the idle connection to ip:port
 * when there is one (the TLS one first); *out is set only for POOL_CACHED
 * and the caller then owns that connection
 */
pool_result remote_pool_get(const char *dest, const char *ip, unsigned port, unsigned wait_ms,
                            struct remote_conn **out);

/*
 * remote_pool_put - park c (idle, after a completed transaction) with its
 * slot; 1 kept (the pool owns c now), 0 refused (cache off or full: the
 * caller closes c and calls remote_pool_release)
 */
int remote_pool_put(const char *dest, const char *ip, unsigned port, int tls, struct remote_conn *c);

/* remote_pool_release - the caller's connection for dest is closed (or was never made): free its slot */
void remote_pool_release(const char *dest);

/* remote_pool_reused - count one successful reuse (logged in the totals at stop) */
void remote_pool_reused(void);

#endif
