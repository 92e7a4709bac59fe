/*
 * queue_pickup - local injection (`pochta sendmail`): a message written by
 * another process enters the queue through queue_dir/pickup/.
 *
 * Writer side (any local process, no daemon connection needed):
 * queue_inject() encodes the message with the queue's own record format
 * (queue_file.h), writes pickup/ID.tmp, fsyncs it, renames it to
 * pickup/ID and fsyncs pickup/. When it returns QUEUE_OK the message is
 * durable, whether or not the daemon runs.
 *
 * Daemon side: queue_pickup_start() watches pickup/ (inotify) and scans it
 * at start. Each complete file is validated like a queue file on start-up
 * (hostile-safe reader, regular file, not a link) and moved into active/
 * with a rename that never replaces an existing message, then active/ is
 * fsync'ed and committed(arg, id) hands it to the scheduler. A file that
 * fails validation goes to corrupt/.
 *
 * pickup/ is mode 1733 (like /tmp but not listable), so programs running
 * as any local user can drop mail, as with Postfix's maildrop; they cannot
 * read or remove each other's files.
 */
#ifndef POCHTA_QUEUE_QUEUE_PICKUP_H
#define POCHTA_QUEUE_QUEUE_PICKUP_H

#include <stddef.h>

#include "queue/queue.h"

struct event_base;
struct pochta_config;
typedef struct queue_pickup queue_pickup;

/* queue_inject - write m durably into pickup/ (m->id must be set); QUEUE_OK or QUEUE_TEMPFAIL with err */
queue_status queue_inject(const struct pochta_config *cfg, const queue_msg *m, char *err, size_t errlen);

/* queue_pickup_start - create pickup/ if needed, move what is there, watch for more; NULL with err */
queue_pickup *queue_pickup_start(struct event_base *base, const struct pochta_config *cfg,
                                 queue_committed_fn committed, void *arg, char *err, size_t errlen);
void queue_pickup_stop(queue_pickup *p);

#endif
