/*
 * queue_stats - counters of the queue writer, for tests and the group
 * commit measurement (docs/internals/queue.md). Not needed by the daemon.
 */
#ifndef POCHTA_QUEUE_QUEUE_STATS_H
#define POCHTA_QUEUE_QUEUE_STATS_H

#include "queue/queue.h"

typedef struct queue_stats {
    unsigned long committed;   /* messages made durable */
    unsigned long failed;      /* submissions answered QUEUE_TEMPFAIL */
    unsigned long dir_fsyncs;  /* fsyncs of active/ (fewer than committed = group commit at work) */
} queue_stats;

/* queue_get_stats - copy the counters (any thread) */
void queue_get_stats(queue *q, queue_stats *out);
/* queue_set_group_commit - 0 = one directory fsync per message (for measuring only) */
void queue_set_group_commit(queue *q, int on);

#endif
