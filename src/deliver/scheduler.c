/*
 * scheduler - per-message timers on the loop, delivery runs on workers
 * (API in scheduler.h, design in docs/internals/delivery.md).
 *
 * Each known message has one entry in a hash table keyed by queue ID. An
 * entry is idle (timer armed for its next retry), or running (a worker is
 * delivering it). A kick for a running entry sets `rerun`, so a message is
 * never delivered by two workers at once and no kick is lost. Entries are
 * dropped when the run reports the message finished or gone.
 *
 * Every worker thread opens its own accounts handle on first use (SQLite
 * connections are per thread); a thread-specific key closes it when the
 * thread ends in workq_free().
 */
#include "deliver/scheduler.h"
#include "config/config.h"
#include "deliver/deliver.h"
#include "deliver/remote.h"
#include "event/workq.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue_file.h"
#include "store/accounts.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_BUCKETS 4096

typedef struct sched_msg {
    struct scheduler *s;
    char id[QUEUE_ID_SIZE];
    struct event *timer;
    int running, rerun;
    int force, force_next;    /* this run / the rerun ignores retry times (queue flush) */
    deliver_result res;       /* written by the worker, read in the done callback */
    struct sched_msg *hnext;
} sched_msg;

struct scheduler {
    struct event_base *base;
    const pochta_config *cfg;
    workq *wq;
    sched_msg *buckets[SCHED_BUCKETS];
    size_t running;
    int stopping;             /* read by workers: atomic access */
};

static pthread_key_t sched_acct_key;
static pthread_once_t sched_acct_once = PTHREAD_ONCE_INIT;

/* sched_acct_close - thread exit: close that worker's accounts handle */
static void sched_acct_close(void *a)
{
    accounts_close(a);
}

/* sched_acct_key_init - create the per-thread key once per process */
static void sched_acct_key_init(void)
{
    pthread_key_create(&sched_acct_key, sched_acct_close);
}

/* sched_thread_accounts - this worker's accounts handle, opened on first use; NULL when it cannot open */
static accounts *sched_thread_accounts(const pochta_config *cfg)
{
    pthread_once(&sched_acct_once, sched_acct_key_init);
    accounts *a = pthread_getspecific(sched_acct_key);
    if (a)
        return a;
    char err[512];
    a = accounts_open(cfg->db_path, err, sizeof err);
    if (!a) {
        log_error(NULL, "event=deliver_error error=\"%s\"", err);
        return NULL;
    }
    pthread_setspecific(sched_acct_key, a);
    return a;
}

/* sched_hash - bucket of an ID */
static size_t sched_hash(const char *id)
{
    size_t h = 5381;
    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    return h % SCHED_BUCKETS;
}

/* sched_find - the entry of id, or NULL */
static sched_msg *sched_find(scheduler *s, const char *id)
{
    for (sched_msg *e = s->buckets[sched_hash(id)]; e; e = e->hnext)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

/* sched_drop - unlink and free an entry */
static void sched_drop(scheduler *s, sched_msg *e)
{
    sched_msg **pp = &s->buckets[sched_hash(e->id)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    event_free(e->timer);
    free(e);
}

/* sched_work - worker thread: one delivery run */
static void sched_work(void *arg)
{
    sched_msg *e = arg;
    memset(&e->res, 0, sizeof e->res);
    if (__atomic_load_n(&e->s->stopping, __ATOMIC_ACQUIRE)) {
        e->res.next = time(NULL); /* skipped: the next start will pick it up */
        return;
    }
    deliver_message(e->s->cfg, sched_thread_accounts(e->s->cfg), e->id, time(NULL), e->force, &e->res);
}

static void sched_dispatch(sched_msg *e);

/* sched_done - loop thread: drop the entry, run again, or sleep until the next retry */
static void sched_done(void *arg)
{
    sched_msg *e = arg;
    scheduler *s = e->s;
    e->running = 0;
    s->running--;
    if (s->stopping)
        return; /* scheduler_stop frees the entries */
    if (e->res.gone || e->res.finished) {
        sched_drop(s, e);
        return;
    }
    if (e->rerun) {
        e->rerun = 0;
        sched_dispatch(e);
        return;
    }
    if (e->res.held)
        return; /* on hold: no timer; queue release sends a request that kicks it */
    time_t now = time(NULL);
    struct timeval tv = {.tv_sec = e->res.next > now ? e->res.next - now : 1};
    evtimer_add(e->timer, &tv);
}

/* sched_dispatch - hand the message to a worker unless one has it already */
static void sched_dispatch(sched_msg *e)
{
    if (e->running) {
        e->rerun = 1;
        return;
    }
    evtimer_del(e->timer);
    e->force = e->force_next;
    e->force_next = 0;
    e->running = 1;
    e->s->running++;
    workq_submit(e->s->wq, sched_work, sched_done, e);
}

/* sched_on_timer - a retry is due */
static void sched_on_timer(evutil_socket_t fd, short what, void *arg)
{
    sched_dispatch(arg);
}

/* sched_get - the entry of id, made when missing */
static sched_msg *sched_get(scheduler *s, const char *id)
{
    sched_msg *e = sched_find(s, id);
    if (!e) {
        e = xcalloc(1, sizeof *e);
        e->s = s;
        snprintf(e->id, sizeof e->id, "%s", id);
        e->timer = evtimer_new(s->base, sched_on_timer, e);
        size_t h = sched_hash(id);
        e->hnext = s->buckets[h];
        s->buckets[h] = e;
    }
    return e;
}

/* scheduler_kick - deliver id now */
void scheduler_kick(void *sched, const char *id)
{
    scheduler *s = sched;
    if (s->stopping || !queue_id_valid(id))
        return;
    sched_dispatch(sched_get(s, id));
}

/* scheduler_flush - run id (NULL: every known message) now, ignoring retry times (pochta queue flush) */
void scheduler_flush(void *sched, const char *id)
{
    scheduler *s = sched;
    if (s->stopping || (id && !queue_id_valid(id)))
        return;
    if (id) {
        sched_msg *e = sched_get(s, id);
        e->force_next = 1; /* used by this dispatch, or by the rerun when a run is under way */
        sched_dispatch(e);
        return;
    }
    for (size_t b = 0; b < SCHED_BUCKETS; b++)
        for (sched_msg *e = s->buckets[b]; e; e = e->hnext) {
            e->force_next = 1;
            sched_dispatch(e);
        }
}

/* sched_scan - schedule every message left in active/ */
static int sched_scan(scheduler *s, char *err, size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/active", s->cfg->queue_dir);
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return 0; /* queue not created yet: nothing was ever accepted */
    if (!d) {
        snprintf(err, errlen, "cannot read %s: %m", dir);
        return -1;
    }
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)))
        if (queue_id_valid(de->d_name)) {
            scheduler_kick(s, de->d_name);
            n++;
        }
    closedir(d);
    log_info(NULL, "event=scheduler_start queued=%zu workers=%u", n, s->cfg->queue_workers);
    return 0;
}

/* scheduler_start - workers plus a run for every queued message */
scheduler *scheduler_start(struct event_base *base, const pochta_config *cfg, char *err, size_t errlen)
{
    scheduler *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->cfg = cfg;
    remote_start(cfg); /* before the first worker delivers */
    s->wq = workq_new(base, "deliver", cfg->queue_workers ? cfg->queue_workers : 4);
    if (sched_scan(s, err, errlen) < 0) {
        scheduler_stop(s);
        return NULL;
    }
    return s;
}

/* scheduler_idle - nothing running or waiting for a worker */
int scheduler_idle(const scheduler *s)
{
    return s->running == 0;
}

/* scheduler_stop - let running deliveries finish, skip the rest, free everything */
void scheduler_stop(scheduler *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    workq_free(s->wq);
    remote_stop(); /* no worker delivers any more: QUIT the cached connections */
    for (size_t b = 0; b < SCHED_BUCKETS; b++)
        while (s->buckets[b])
            sched_drop(s, s->buckets[b]);
    free(s);
}
