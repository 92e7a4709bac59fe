/*
 * scheduler - decide when each queued message is delivered, and run the
 * deliveries on worker threads (the loop never waits for the disk).
 *
 * At start it schedules every message in queue_dir/active/ (mail accepted
 * before a crash is delivered on restart). New messages arrive through
 * scheduler_kick(), which the daemon hands to queue_open() as the
 * committed callback. A message still waiting for a retry sleeps on a
 * libevent timer until its earliest deferred recipient is due.
 * Delivery itself is deliver_message() (deliver.h).
 */
#ifndef POCHTA_DELIVER_SCHEDULER_H
#define POCHTA_DELIVER_SCHEDULER_H

#include <stddef.h>

struct event_base;
struct pochta_config;

typedef struct scheduler scheduler;

/* scheduler_start - start workers (cfg->queue_workers) and schedule active/; NULL with err. cfg must outlive it. */
scheduler *scheduler_start(struct event_base *base, const struct pochta_config *cfg, char *err, size_t errlen);
/* scheduler_kick - deliver id now (same signature as queue_committed_fn); loop thread only */
void scheduler_kick(void *sched, const char *id);
/* scheduler_flush - run id now even if its retry time has not come (NULL: every message); loop thread only */
void scheduler_flush(void *sched, const char *id);
/* scheduler_stop - finish in-flight deliveries, drop the timers, free; queued runs not started are skipped */
void scheduler_stop(scheduler *s);
/* scheduler_idle - 1 when no delivery is running or waiting for a worker (tests) */
int scheduler_idle(const scheduler *s);

#endif
