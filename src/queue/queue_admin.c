/*
 * queue_admin - hold markers, the per-message delivery lock and requests
 * to the running daemon (API and design in queue_admin.h). Plain file
 * operations, blocking: call from the CLI or from delivery workers.
 */
#include "queue/queue_admin.h"
#include "lib/fileio.h"
#include "queue/queue_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* admin_path - queue_dir/sub[/name] into out */
static void admin_path(const char *queue_dir, const char *sub, const char *name, char *out, size_t outlen)
{
    if (name)
        snprintf(out, outlen, "%s/%s/%s", queue_dir, sub, name);
    else
        snprintf(out, outlen, "%s/%s", queue_dir, sub);
}

/* admin_mkdir - create queue_dir/sub (0700) when missing and make its entry durable; 0 or -1 */
static int admin_mkdir(const char *queue_dir, const char *sub)
{
    char dir[4200];
    admin_path(queue_dir, sub, NULL, dir, sizeof dir);
    if (mkdir(dir, 0700) == 0)
        return fileio_fsync_dir(queue_dir);
    return errno == EEXIST ? 0 : -1;
}

/* queue_held - does hold/ID exist? */
int queue_held(const char *queue_dir, const char *id)
{
    char path[4200];
    struct stat sb;
    admin_path(queue_dir, "hold", id, path, sizeof path);
    return stat(path, &sb) == 0;
}

/* queue_hold - create the marker, fsync it and its directory */
queue_status queue_hold(const char *queue_dir, const char *id)
{
    char path[4200], dir[4200];
    if (!queue_id_valid(id) || admin_mkdir(queue_dir, "hold") < 0)
        return QUEUE_TEMPFAIL;
    admin_path(queue_dir, "hold", id, path, sizeof path);
    admin_path(queue_dir, "hold", NULL, dir, sizeof dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return QUEUE_TEMPFAIL;
    if (fsync(fd) < 0) {
        close(fd);
        return QUEUE_TEMPFAIL;
    }
    if (close(fd) < 0 || fileio_fsync_dir(dir) < 0)
        return QUEUE_TEMPFAIL;
    return QUEUE_OK;
}

/* queue_release - remove the marker and fsync the directory */
queue_status queue_release(const char *queue_dir, const char *id)
{
    char path[4200], dir[4200];
    if (!queue_id_valid(id))
        return QUEUE_TEMPFAIL;
    admin_path(queue_dir, "hold", id, path, sizeof path);
    admin_path(queue_dir, "hold", NULL, dir, sizeof dir);
    if (unlink(path) < 0)
        return errno == ENOENT ? QUEUE_OK : QUEUE_TEMPFAIL;
    return fileio_fsync_dir(dir) < 0 ? QUEUE_TEMPFAIL : QUEUE_OK;
}

/* queue_lock_once - open active/ID and try the lock once */
static queue_lock_status queue_lock_once(const char *path, int *fd)
{
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOENT ? QUEUE_LOCK_GONE : QUEUE_LOCK_ERROR;
    if (flock(f, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(f);
        errno = e;
        return e == EWOULDBLOCK ? QUEUE_LOCK_BUSY : QUEUE_LOCK_ERROR;
    }
    struct stat sb;
    if (fstat(f, &sb) < 0 || sb.st_nlink == 0) {
        close(f); /* removed between our open and our lock: the message is gone */
        return QUEUE_LOCK_GONE;
    }
    *fd = f;
    return QUEUE_LOCK_OK;
}

/* queue_lock - lock active/ID, retrying every 100 ms for up to wait_ms */
queue_lock_status queue_lock(const char *queue_dir, const char *id, unsigned wait_ms, int *fd)
{
    char path[4200];
    *fd = -1;
    if (!queue_id_valid(id))
        return QUEUE_LOCK_GONE;
    admin_path(queue_dir, "active", id, path, sizeof path);
    for (unsigned waited = 0;; waited += 100) {
        queue_lock_status st = queue_lock_once(path, fd);
        if (st != QUEUE_LOCK_BUSY || waited >= wait_ms)
            return st;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* queue_unlock - close the locked descriptor (that releases the flock) */
void queue_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* queue_request - create control/NAME for the daemon's watcher */
queue_status queue_request(const char *queue_dir, const char *name)
{
    char path[4200];
    if (admin_mkdir(queue_dir, "control") < 0)
        return QUEUE_TEMPFAIL;
    admin_path(queue_dir, "control", name, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return QUEUE_TEMPFAIL;
    return close(fd) < 0 ? QUEUE_TEMPFAIL : QUEUE_OK; /* IN_CLOSE_WRITE wakes the daemon */
}
