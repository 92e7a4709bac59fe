/*
 * queue_admin - what `pochta queue hold|release|delete|flush` needs from
 * the queue directory, shared by the CLI and the delivery worker, safe
 * while the daemon runs.
 *
 * Hold: an empty marker file queue_dir/hold/ID (created and fsync'ed, so a
 * hold survives a restart). A delivery run checks it before each recipient
 * and stops; release removes it.
 *
 * Lock: a delivery run holds flock(LOCK_EX) on active/ID for its whole
 * length; `queue delete` takes the same lock, so it never removes a
 * message in the middle of an attempt. A run that finds the lock taken
 * tries again a second later; one that locked a file already unlinked
 * treats the message as gone.
 *
 * Requests to the running daemon: an empty file queue_dir/control/NAME
 * (NAME = a queue ID, or "ALL"); the daemon watches control/ with inotify
 * (queue_control.h), removes the file and runs that message now, ignoring
 * its retry time. Without a daemon the file waits for the next start.
 */
#ifndef POCHTA_QUEUE_QUEUE_ADMIN_H
#define POCHTA_QUEUE_QUEUE_ADMIN_H

#include "queue/queue.h"

#define QUEUE_CONTROL_ALL "ALL"

/* queue_held - 1 when hold/ID exists, 0 otherwise */
int queue_held(const char *queue_dir, const char *id);
/* queue_hold - create hold/ID durably; QUEUE_OK (also when already held) or TEMPFAIL with errno */
queue_status queue_hold(const char *queue_dir, const char *id);
/* queue_release - remove hold/ID durably; QUEUE_OK (also when not held) or TEMPFAIL with errno */
queue_status queue_release(const char *queue_dir, const char *id);

typedef enum {
    QUEUE_LOCK_OK = 0,     /* *fd holds the lock: release with queue_unlock */
    QUEUE_LOCK_BUSY = -1,  /* someone else holds it (a delivery run, or the CLI) */
    QUEUE_LOCK_GONE = -2,  /* no such message */
    QUEUE_LOCK_ERROR = -3, /* cannot open or lock: errno says why */
} queue_lock_status;

/* queue_lock - lock active/ID; wait_ms 0 = try once, else retry every 100 ms that long */
queue_lock_status queue_lock(const char *queue_dir, const char *id, unsigned wait_ms, int *fd);
/* queue_unlock - drop the lock taken by queue_lock */
void queue_unlock(int fd);

/* queue_request - ask the daemon to run ID (or QUEUE_CONTROL_ALL) now: create control/NAME; QUEUE_OK or TEMPFAIL */
queue_status queue_request(const char *queue_dir, const char *name);

#endif
