/*
 * queue - the durable queue writer (API in queue.h, formats in
 * queue_file.h, design in docs/internals/queue.md).
 *
 * queue_submit() hands the message to a worker thread that writes
 * tmp/ID, fsyncs it, renames it to active/ID and then joins the group
 * commit: the first worker to arrive fsyncs active/ once for every rename
 * made so far, the others wait for that fsync to cover them. Only after
 * that does done(arg, QUEUE_OK) run on the loop, followed by committed().
 *
 * On any failure the message is not left behind (tmp or active file
 * removed), done() gets QUEUE_TEMPFAIL and one error line is logged.
 */
#include "queue/queue.h"
#include "config/config.h"
#include "event/workq.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue_file.h"
#include "queue/queue_stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>


struct queue_job {
    queue *q;
    queue_msg *m;
    queue_done_fn done;
    void *arg;
    queue_status st;
    int synced;                 /* set under q->lock when a dir fsync covered this job */
    struct queue_job *sync_next;
};

struct queue {
    char *dir;
    char path_tmp[4096], path_active[4096];
    int active_fd;              /* open for the directory fsyncs */
    workq *wq;
    queue_committed_fn committed;
    void *arg;
    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t synced;
    queue_job *sync_list;       /* renamed, waiting for a directory fsync */
    int syncing;
    int group_commit;
    queue_stats stats;
};

/* queue_msg_new - empty message whose data may grow to max_size bytes */
queue_msg *queue_msg_new(size_t max_size)
{
    queue_msg *m = xcalloc(1, sizeof *m);
    buf_init(&m->data, max_size);
    return m;
}

/* queue_msg_free - release a message and everything it owns */
void queue_msg_free(queue_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrcpts; i++) {
        free(m->rcpts[i]);
        free(m->rcpt_dsn[i].orcpt);
    }
    free(m->rcpts);
    free(m->rcpt_dsn);
    free(m->dsn_envid);
    free(m->sender);
    free(m->client_ip);
    free(m->client_name);
    free(m->helo);
    free(m->auth_user);
    buf_free(&m->data);
    free(m);
}

/* queue_msg_add_rcpt - append a copy of rcpt */
void queue_msg_add_rcpt(queue_msg *m, const char *rcpt)
{
    queue_msg_add_rcpt_dsn(m, rcpt, 0, NULL);
}

/* queue_msg_add_rcpt_dsn - append a copy of rcpt with its DSN parameters */
void queue_msg_add_rcpt_dsn(queue_msg *m, const char *rcpt, int notify, const char *orcpt)
{
    m->rcpts = xrealloc(m->rcpts, (m->nrcpts + 1) * sizeof *m->rcpts);
    m->rcpt_dsn = xrealloc(m->rcpt_dsn, (m->nrcpts + 1) * sizeof *m->rcpt_dsn);
    m->rcpt_dsn[m->nrcpts].notify = notify;
    m->rcpt_dsn[m->nrcpts].orcpt = orcpt ? xstrdup(orcpt) : NULL;
    m->rcpts[m->nrcpts++] = xstrdup(rcpt);
}

/* queue_new_id - 8 hex digits of time, 8 of a random start plus a counter */
void queue_new_id(char out[QUEUE_ID_SIZE])
{
    static unsigned int counter;
    static unsigned int seed; /* random start, so IDs differ across restarts within a second */
    if (__atomic_load_n(&seed, __ATOMIC_ACQUIRE) == 0) {
        unsigned int s = 0;
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
            s = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
        s |= 1; /* never 0, so it is set once */
        unsigned int expect = 0;
        __atomic_compare_exchange_n(&seed, &expect, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    unsigned int c = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(out, QUEUE_ID_SIZE, "%08X%08X", (unsigned int)time(NULL), seed + c);
}

/* queue_group_commit - wait until a directory fsync covers job's rename; 0 or -1 */
static int queue_group_commit(queue *q, queue_job *job)
{
    pthread_mutex_lock(&q->lock);
    job->sync_next = q->sync_list;
    q->sync_list = job;
    while (!job->synced) {
        if (q->syncing) {
            pthread_cond_wait(&q->synced, &q->lock);
            continue;
        }
        /* Become the committer for everything renamed so far. */
        q->syncing = 1;
        queue_job *list = q->sync_list;
        q->sync_list = NULL;
        if (!q->group_commit) {
            /* measuring mode: cover only ourselves, put the others back */
            queue_job **pp = &list;
            while (*pp != job)
                pp = &(*pp)->sync_next;
            *pp = job->sync_next;
            q->sync_list = list;
            list = job;
            job->sync_next = NULL;
        }
        pthread_mutex_unlock(&q->lock);
        int rc = fsync(q->active_fd);
        int e = errno;
        pthread_mutex_lock(&q->lock);
        q->stats.dir_fsyncs++;
        for (queue_job *j = list; j; j = j->sync_next) {
            j->synced = 1;
            j->st = rc == 0 ? QUEUE_OK : QUEUE_TEMPFAIL;
        }
        q->syncing = 0;
        pthread_cond_broadcast(&q->synced);
        errno = e;
    }
    int ok = job->st == QUEUE_OK;
    pthread_mutex_unlock(&q->lock);
    return ok ? 0 : -1;
}

/* queue_job_work - worker thread: tmp file, fsync, rename, group-committed dir fsync */
static void queue_job_work(void *arg)
{
    queue_job *job = arg;
    queue *q = job->q;
    const char *id = job->m->id, *op = "id";
    char tmp[4200], act[4200];
    job->st = QUEUE_TEMPFAIL;
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        goto fail;
    }
    snprintf(tmp, sizeof tmp, "%s/%s", q->path_tmp, id);
    snprintf(act, sizeof act, "%s/%s", q->path_active, id);
    if (queue_file_write(tmp, job->m, 0600, &op) < 0)
        goto fail_unlink;
    op = "rename";
    if (rename(tmp, act) < 0)
        goto fail_unlink;
    op = "fsync_dir";
    if (queue_group_commit(q, job) < 0) {
        int e = errno;
        unlink(act); /* we answer 451: the client will send it again */
        errno = e;
        goto fail;
    }
    job->st = QUEUE_OK;
    return;
fail_unlink:;
    int e = errno;
    unlink(tmp);
    errno = e;
fail:
    log_error(id, "event=queue_error op=%s error=\"%s\"", op, strerror(errno));
}

/* queue_job_done - loop thread: answer the session, then tell the scheduler */
static void queue_job_done(void *arg)
{
    queue_job *job = arg;
    queue *q = job->q;
    pthread_mutex_lock(&q->lock);
    if (job->st == QUEUE_OK)
        q->stats.committed++;
    else
        q->stats.failed++;
    pthread_mutex_unlock(&q->lock);
    if (job->done)
        job->done(job->arg, job->st);
    if (job->st == QUEUE_OK && q->committed)
        q->committed(q->arg, job->m->id);
    queue_msg_free(job->m);
    free(job);
}

/* queue_submit - make m durable on a worker; done() follows on the loop */
queue_job *queue_submit(queue *q, queue_msg *m, queue_done_fn done, void *arg)
{
    queue_job *job = xcalloc(1, sizeof *job);
    job->q = q;
    job->m = m;
    job->done = done;
    job->arg = arg;
    workq_submit(q->wq, queue_job_work, queue_job_done, job);
    return job;
}

/* queue_job_abandon - the submitter went away: the write finishes, nobody is told */
void queue_job_abandon(queue_job *job)
{
    if (job)
        job->done = NULL;
}

/* queue_mkdirs - create queue_dir and its subdirectories (0700) */
static int queue_mkdirs(const char *dir, char *err, size_t errlen)
{
    static const char *const subs[] = {"", "/tmp", "/active", "/state", "/corrupt"};
    char path[4200];
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        snprintf(path, sizeof path, "%s%s", dir, subs[i]);
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return fileio_fsync_dir(dir) < 0 ? (snprintf(err, errlen, "cannot fsync %s: %s", dir, strerror(errno)), -1) : 0;
}

/* queue_sweep_tmp - files in tmp/ were never acknowledged: delete them */
static void queue_sweep_tmp(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tmp", dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/tmp/%s", dir, de->d_name);
            if (unlink(path) == 0)
                log_info(NULL, "event=queue_discard_tmp path=%s", path);
        }
    closedir(d);
}

/* queue_check_active - validate every message file; torn or foreign -> corrupt/ */
static void queue_check_active(const char *dir)
{
    char path[4200], err[256];
    snprintf(path, sizeof path, "%s/active", dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    unsigned long ok = 0, bad = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        buf b;
        queue_msg *m = NULL;
        snprintf(path, sizeof path, "%s/active/%s", dir, de->d_name);
        if (queue_read_file(path, &b, (size_t)1 << 40) != QUEUE_OK) {
            log_error(NULL, "event=queue_error op=read path=%s error=\"%s\"", path, strerror(errno));
            continue;
        }
        if (queue_file_read(b.data ? b.data : "", b.len, &m, err, sizeof err) != QUEUE_OK)
            ;
        else if (!queue_id_valid(de->d_name) || strcmp(m->id, de->d_name) != 0)
            snprintf(err, sizeof err, "file name does not match id");
        else
            err[0] = '\0', ok++;
        if (!m || err[0]) {
            queue_quarantine(dir, de->d_name, err);
            bad++;
        }
        queue_msg_free(m);
        buf_free(&b);
    }
    closedir(d);
    log_info(NULL, "event=queue_open messages=%lu corrupt=%lu", ok, bad);
}

/* queue_sweep_state - state files whose message is gone (crash during removal) */
static void queue_sweep_state(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/state", dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    struct stat sb;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/active/%s", dir, de->d_name);
        if (stat(path, &sb) == 0 || errno != ENOENT)
            continue;
        snprintf(path, sizeof path, "%s/state/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* queue_open - prepare the directories, recover after a crash, start the writers */
queue *queue_open(struct event_base *base, const struct pochta_config *cfg, queue_committed_fn committed,
                  void *arg, char *err, size_t errlen)
{
    if (!cfg->queue_dir) {
        snprintf(err, errlen, "queue_dir is not set");
        return NULL;
    }
    if (queue_mkdirs(cfg->queue_dir, err, errlen) < 0)
        return NULL;
    queue_sweep_tmp(cfg->queue_dir);
    queue_check_active(cfg->queue_dir);
    queue_sweep_state(cfg->queue_dir);
    queue *q = xcalloc(1, sizeof *q);
    q->dir = xstrdup(cfg->queue_dir);
    snprintf(q->path_tmp, sizeof q->path_tmp, "%s/tmp", q->dir);
    snprintf(q->path_active, sizeof q->path_active, "%s/active", q->dir);
    q->active_fd = open(q->path_active, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->active_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", q->path_active, strerror(errno));
        free(q->dir);
        free(q);
        return NULL;
    }
    q->committed = committed;
    q->arg = arg;
    q->group_commit = 1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->synced, NULL);
    q->wq = workq_new(base, "queue", cfg->queue_workers ? cfg->queue_workers : 4);
    return q;
}

/* queue_close - finish the writes in flight (their done() runs), then free */
void queue_close(queue *q)
{
    if (!q)
        return;
    workq_free(q->wq);
    close(q->active_fd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->synced);
    free(q->dir);
    free(q);
}

/* queue_get_stats - copy the counters */
void queue_get_stats(queue *q, queue_stats *out)
{
    pthread_mutex_lock(&q->lock);
    *out = q->stats;
    pthread_mutex_unlock(&q->lock);
}

/* queue_set_group_commit - switch group commit off for measurements */
void queue_set_group_commit(queue *q, int on)
{
    pthread_mutex_lock(&q->lock);
    q->group_commit = on;
    pthread_mutex_unlock(&q->lock);
}
