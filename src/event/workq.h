/*
 * workq - run blocking work (fsync, password hashing, SQLite writes) on a
 * small pool of worker threads and get the result back on the event loop.
 *
 *   workq *wq = workq_new(base, "queue", 4);
 *   workq_submit(wq, work_fn, done_fn, arg);
 *
 * work(arg) runs on a worker thread; then done(arg) runs on the libevent
 * loop thread that owns `base`, in completion order. The caller owns arg
 * and must keep it alive until done() ran. workq_free() waits for queued
 * work to finish and runs the pending done() callbacks.
 *
 * Jobs from one workq are independent; a worker takes the next job as soon
 * as it is free, so N workers give N-way concurrency for fsync (ext4 merges
 * concurrent fsyncs into one journal commit: a natural group commit).
 */
#ifndef POCHTA_EVENT_WORKQ_H
#define POCHTA_EVENT_WORKQ_H

#include <stddef.h>

struct event_base;
typedef struct workq workq;

typedef void (*workq_fn)(void *arg);

workq *workq_new(struct event_base *base, const char *name, unsigned nthreads);
void workq_submit(workq *wq, workq_fn work, workq_fn done, void *arg);
/* workq_pending - jobs submitted whose done() has not run yet */
size_t workq_pending(const workq *wq);
void workq_free(workq *wq);

#endif
