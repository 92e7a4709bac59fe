/*
 * queue_control - the daemon's side of queue_request() (queue_admin.h):
 * watch queue_dir/control/ with inotify, and for each file there (a queue
 * ID or "ALL") remove it and call run(arg, id) on the loop thread (id NULL
 * for "ALL"). Files that arrived while the daemon was down are handled at
 * start. Other names are removed and logged (event=control_ignored).
 */
#ifndef POCHTA_QUEUE_QUEUE_CONTROL_H
#define POCHTA_QUEUE_QUEUE_CONTROL_H

#include <stddef.h>

struct event_base;
typedef struct queue_control queue_control;

/* queue_control_fn - run message id now (NULL: every message) */
typedef void (*queue_control_fn)(void *arg, const char *id);

/* queue_control_start - create control/ if needed, handle what is there, watch it; NULL with err */
queue_control *queue_control_start(struct event_base *base, const char *queue_dir, queue_control_fn run, void *arg,
                                   char *err, size_t errlen);
/* queue_control_stop - stop watching and free */
void queue_control_stop(queue_control *c);

#endif
