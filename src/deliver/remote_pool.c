/*
 * remote_pool - per-destination session slots and the idle outbound SMTP
 * connection cache (API and rules in remote_pool.h).
 *
 * One mutex guards everything; connections are closed (QUIT) only after it
 * is released, because that is network I/O. Destinations with open
 * connections are a small array (at most queue_workers + POOL_MAX entries
 * are ever non-zero; zero counts are removed), searched linearly.
 * Waiting uses CLOCK_MONOTONIC condition variables: `freed` wakes workers
 * waiting for a slot, `tick` wakes the reaper early at stop.
 */
#include "deliver/remote_pool.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POOL_MAX 32        /* idle connections in all: each holds a socket at a remote server */
#define POOL_DEST_MAX 256  /* a domain name (RFC 1035: 253 characters) */
#define POOL_IP_MAX 64

typedef struct pool_idle {
    struct remote_conn *c;
    char dest[POOL_DEST_MAX];
    char ip[POOL_IP_MAX];
    unsigned port;
    int tls;
    struct timespec expires; /* CLOCK_MONOTONIC */
} pool_idle;

typedef struct pool_dest {
    char name[POOL_DEST_MAX];
    unsigned n; /* open connections: in use plus idle */
} pool_dest;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t freed, tick;
    pthread_t reaper;
    int started, stopping;
    unsigned limit, reuse;
    remote_pool_close_fn close_fn;
    pool_idle idle[POOL_MAX];
    size_t nidle;
    pool_dest *dests;
    size_t ndests, capdests;
    unsigned long kept, reused, expired, evicted, busy;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* pool_now - CLOCK_MONOTONIC now plus ms */
static struct timespec pool_now(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* pool_before - a earlier than b */
static int pool_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* pool_dest_find - the entry of dest, made (count 0) when add is set; NULL when absent */
static pool_dest *pool_dest_find(const char *dest, int add)
{
    for (size_t i = 0; i < P.ndests; i++)
        if (!strcasecmp(P.dests[i].name, dest))
            return &P.dests[i];
    if (!add)
        return NULL;
    if (P.ndests == P.capdests) {
        P.capdests = P.capdests ? P.capdests * 2 : 16;
        P.dests = xrealloc(P.dests, P.capdests * sizeof *P.dests);
    }
    pool_dest *d = &P.dests[P.ndests++];
    snprintf(d->name, sizeof d->name, "%s", dest);
    d->n = 0;
    return d;
}

/* pool_count - open connections of dest */
static unsigned pool_count(const char *dest)
{
    const pool_dest *d = pool_dest_find(dest, 0);
    return d ? d->n : 0;
}

/* pool_dec - one connection of dest less; wakes the waiting workers */
static void pool_dec(const char *dest)
{
    pool_dest *d = pool_dest_find(dest, 0);
    if (!d || d->n == 0)
        return; /* not counted (the pool started after it was opened) */
    if (--d->n == 0)
        *d = P.dests[--P.ndests];
    pthread_cond_broadcast(&P.freed);
}

/* pool_take - remove idle entry i; the caller owns its connection */
static struct remote_conn *pool_take(size_t i)
{
    struct remote_conn *c = P.idle[i].c;
    P.idle[i] = P.idle[--P.nidle];
    return c;
}

/* pool_find_ip - a live idle entry for ip:port usable for dest (TLS first); -1 when none */
static long pool_find_ip(const char *dest, const char *ip, unsigned port, const struct timespec *now)
{
    long best = -1;
    for (size_t i = 0; i < P.nidle; i++) {
        const pool_idle *e = &P.idle[i];
        if (e->port != port || strcmp(e->ip, ip) != 0 || pool_before(&e->expires, now))
            continue;
        /* another destination's connection moves its slot to dest: only below dest's limit */
        if (strcasecmp(e->dest, dest) != 0 && P.limit && pool_count(dest) >= P.limit)
            continue;
        if (best < 0 || (e->tls && !P.idle[best].tls))
            best = (long)i;
    }
    return best;
}

/* pool_find_dest - the oldest idle entry of dest (any address); -1 when none */
static long pool_find_dest(const char *dest)
{
    long best = -1;
    for (size_t i = 0; i < P.nidle; i++)
        if (!strcasecmp(P.idle[i].dest, dest) &&
            (best < 0 || pool_before(&P.idle[i].expires, &P.idle[best].expires)))
            best = (long)i;
    return best;
}

/* remote_pool_get - a slot for dest, with an idle connection to ip:port when there is one */
pool_result remote_pool_get(const char *dest, const char *ip, unsigned port, unsigned wait_ms,
                            struct remote_conn **out)
{
    *out = NULL;
    struct remote_conn *evict = NULL;
    pool_result r = POOL_SLOT;
    pthread_mutex_lock(&P.mu);
    const struct timespec deadline = pool_now(wait_ms);
    while (P.started) {
        struct timespec now = pool_now(0);
        long i = pool_find_ip(dest, ip, port, &now);
        if (i >= 0) {
            int same = !strcasecmp(P.idle[i].dest, dest);
            if (!same)
                pool_dec(P.idle[i].dest);
            *out = pool_take((size_t)i);
            if (!same)
                pool_dest_find(dest, 1)->n++;
            r = POOL_CACHED;
            break;
        }
        if (!P.limit || pool_count(dest) < P.limit) {
            pool_dest_find(dest, 1)->n++;
            break;
        }
        if ((i = pool_find_dest(dest)) >= 0) { /* an idle one to another address of dest: its slot is ours */
            evict = pool_take((size_t)i);
            P.evicted++;
            break;
        }
        if (!pool_before(&now, &deadline)) {
            P.busy++;
            r = POOL_BUSY;
            break;
        }
        pthread_cond_timedwait(&P.freed, &P.mu, &deadline);
    }
    pthread_mutex_unlock(&P.mu);
    if (evict)
        P.close_fn(evict);
    return r;
}

/* remote_pool_put - park c with its slot; 1 kept, 0 refused */
int remote_pool_put(const char *dest, const char *ip, unsigned port, int tls, struct remote_conn *c)
{
    int kept = 0;
    pthread_mutex_lock(&P.mu);
    if (P.started && !P.stopping && P.reuse && P.nidle < POOL_MAX && pool_count(dest) > 0) {
        pool_idle *e = &P.idle[P.nidle++];
        e->c = c;
        snprintf(e->dest, sizeof e->dest, "%s", dest);
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        e->port = port;
        e->tls = tls;
        e->expires = pool_now(P.reuse * 1000);
        P.kept++;
        kept = 1;
        pthread_cond_broadcast(&P.freed); /* a worker waiting for dest may take it */
    }
    pthread_mutex_unlock(&P.mu);
    return kept;
}

/* remote_pool_release - free the slot of a closed connection */
void remote_pool_release(const char *dest)
{
    pthread_mutex_lock(&P.mu);
    if (P.started)
        pool_dec(dest);
    pthread_mutex_unlock(&P.mu);
}

/* remote_pool_reused - count one reuse */
void remote_pool_reused(void)
{
    pthread_mutex_lock(&P.mu);
    P.reused++;
    pthread_mutex_unlock(&P.mu);
}

/* pool_collect - remove the expired idle entries (all when every is set) into out; how many */
static size_t pool_collect(struct remote_conn **out, int every)
{
    struct timespec now = pool_now(0);
    size_t n = 0;
    for (size_t i = 0; i < P.nidle;) {
        if (every || pool_before(&P.idle[i].expires, &now)) {
            pool_dec(P.idle[i].dest);
            out[n++] = pool_take(i);
        } else {
            i++;
        }
    }
    return n;
}

/* pool_reaper - every second, close the idle connections past their time */
static void *pool_reaper(void *arg)
{
    (void)arg;
    struct remote_conn *gone[POOL_MAX];
    pthread_mutex_lock(&P.mu);
    while (!P.stopping) {
        struct timespec t = pool_now(1000);
        pthread_cond_timedwait(&P.tick, &P.mu, &t);
        size_t n = pool_collect(gone, 0);
        P.expired += n;
        pthread_mutex_unlock(&P.mu);
        for (size_t i = 0; i < n; i++)
            P.close_fn(gone[i]);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

/* remote_pool_start - limits, condition variables on the monotonic clock, the reaper */
void remote_pool_start(unsigned limit, unsigned reuse_secs, remote_pool_close_fn close_fn)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&P.freed, &ca);
    pthread_cond_init(&P.tick, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&P.mu);
    P.limit = limit;
    P.reuse = reuse_secs;
    P.close_fn = close_fn;
    P.stopping = 0;
    P.kept = P.reused = P.expired = P.evicted = P.busy = 0;
    P.started = 1;
    pthread_mutex_unlock(&P.mu);
    if (P.reuse && pthread_create(&P.reaper, NULL, pool_reaper, NULL) != 0) {
        log_error(NULL, "event=remote_pool_error what=reaper_thread action=connection_reuse_off");
        pthread_mutex_lock(&P.mu);
        P.reuse = 0; /* nothing would close expired connections: do without the cache */
        pthread_mutex_unlock(&P.mu);
    }
}

/* remote_pool_stop - stop the reaper, QUIT every idle connection, log the totals */
void remote_pool_stop(void)
{
    struct remote_conn *gone[POOL_MAX];
    pthread_mutex_lock(&P.mu);
    if (!P.started) {
        pthread_mutex_unlock(&P.mu);
        return;
    }
    P.stopping = 1;
    pthread_cond_broadcast(&P.tick);
    unsigned reaper = P.reuse;
    pthread_mutex_unlock(&P.mu);
    if (reaper)
        pthread_join(P.reaper, NULL);
    pthread_mutex_lock(&P.mu);
    size_t n = pool_collect(gone, 1);
    P.started = 0;
    pthread_mutex_unlock(&P.mu);
    for (size_t i = 0; i < n; i++)
        P.close_fn(gone[i]);
    log_info(NULL, "event=remote_pool_stop kept=%lu reused=%lu expired=%lu evicted=%lu busy=%lu closed=%zu",
             P.kept, P.reused, P.expired, P.evicted, P.busy, n);
    free(P.dests);
    P.dests = NULL;
    P.ndests = P.capdests = 0;
    pthread_cond_destroy(&P.freed);
    pthread_cond_destroy(&P.tick);
}
