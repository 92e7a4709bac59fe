/*
 * workq - worker threads with completion on the event loop (see workq.h).
 *
 * Completions are handed back through a mutex-protected list and an
 * eventfd-like pipe watched by the loop, so the loop thread never blocks on
 * a worker and workers never touch libevent state.
 */
#include "event/workq.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct workq_job {
    workq_fn work;
    workq_fn done;
    void *arg;
    struct workq_job *next;
} workq_job;

typedef struct workq_list {
    workq_job *head;
    workq_job *tail;
} workq_list;

struct workq {
    char *name;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    workq_list todo;
    workq_list finished;
    int stopping;
    unsigned nthreads;
    pthread_t *threads;
    int notify_fd[2];
    struct event *notify_ev;
    size_t pending;
};

/* workq_list_push - append a job */
static void workq_list_push(workq_list *l, workq_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

/* workq_list_pop - remove the first job, or NULL */
static workq_job *workq_list_pop(workq_list *l)
{
    workq_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
    }
    return j;
}

/* workq_thread - take jobs until told to stop and nothing is left */
static void *workq_thread(void *p)
{
    workq *wq = p;
    pthread_mutex_lock(&wq->lock);
    for (;;) {
        workq_job *j = workq_list_pop(&wq->todo);
        if (!j) {
            if (wq->stopping)
                break;
            pthread_cond_wait(&wq->wake, &wq->lock);
            continue;
        }
        pthread_mutex_unlock(&wq->lock);
        j->work(j->arg);
        pthread_mutex_lock(&wq->lock);
        int was_empty = wq->finished.head == NULL;
        workq_list_push(&wq->finished, j);
        if (was_empty) {
            char c = 1;
            while (write(wq->notify_fd[1], &c, 1) < 0 && errno == EINTR)
                ;
        }
    }
    pthread_mutex_unlock(&wq->lock);
    return NULL;
}

/* workq_run_finished - run done() for every finished job, on the loop thread */
static void workq_run_finished(workq *wq)
{
    char drain[64];
    while (read(wq->notify_fd[0], drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&wq->lock);
    workq_job *list = wq->finished.head;
    wq->finished.head = wq->finished.tail = NULL;
    pthread_mutex_unlock(&wq->lock);
    while (list) {
        workq_job *j = list;
        list = j->next;
        wq->pending--;
        if (j->done)
            j->done(j->arg);
        free(j);
    }
}

/* workq_on_notify - libevent callback when workers finished something */
static void workq_on_notify(evutil_socket_t fd, short what, void *arg)
{
    workq_run_finished(arg);
}

/* workq_new - start nthreads workers whose completions run on base */
workq *workq_new(struct event_base *base, const char *name, unsigned nthreads)
{
    workq *wq = xcalloc(1, sizeof *wq);
    wq->name = xstrdup(name);
    pthread_mutex_init(&wq->lock, NULL);
    pthread_cond_init(&wq->wake, NULL);
    if (pipe2(wq->notify_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        log_error(NULL, "event=workq_start name=%s error=pipe", name);
        abort();
    }
    wq->notify_ev = event_new(base, wq->notify_fd[0], EV_READ | EV_PERSIST, workq_on_notify, wq);
    event_add(wq->notify_ev, NULL);
    wq->nthreads = nthreads ? nthreads : 1;
    wq->threads = xcalloc(wq->nthreads, sizeof *wq->threads);
    for (unsigned i = 0; i < wq->nthreads; i++)
        if (pthread_create(&wq->threads[i], NULL, workq_thread, wq) != 0) {
            log_error(NULL, "event=workq_start name=%s error=pthread_create", name);
            abort();
        }
    return wq;
}

/* workq_submit - queue work(arg) for a worker; done(arg) follows on the loop */
void workq_submit(workq *wq, workq_fn work, workq_fn done, void *arg)
{
    workq_job *j = xmalloc(sizeof *j);
    j->work = work;
    j->done = done;
    j->arg = arg;
    wq->pending++;
    pthread_mutex_lock(&wq->lock);
    workq_list_push(&wq->todo, j);
    pthread_cond_signal(&wq->wake);
    pthread_mutex_unlock(&wq->lock);
}

/* workq_pending - jobs not yet completed on the loop */
size_t workq_pending(const workq *wq)
{
    return wq->pending;
}

/* workq_free - finish all work, run completions, release everything */
void workq_free(workq *wq)
{
    if (!wq)
        return;
    pthread_mutex_lock(&wq->lock);
    wq->stopping = 1;
    pthread_cond_broadcast(&wq->wake);
    pthread_mutex_unlock(&wq->lock);
    for (unsigned i = 0; i < wq->nthreads; i++)
        pthread_join(wq->threads[i], NULL);
    workq_run_finished(wq);
    event_free(wq->notify_ev);
    close(wq->notify_fd[0]);
    close(wq->notify_fd[1]);
    pthread_mutex_destroy(&wq->lock);
    pthread_cond_destroy(&wq->wake);
    free(wq->threads);
    free(wq->name);
    free(wq);
}
