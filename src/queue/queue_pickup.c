/*
 * queue_pickup - local injection through queue_dir/pickup/ (see
 * queue_pickup.h for the protocol).
 *
 * The daemon side moves files on a one-thread workq (reading, validating,
 * rename and directory fsync are disk work, never done on the loop); the
 * loop only wakes it on inotify events and hands the moved IDs to the
 * scheduler. An event that arrives while a scan runs makes the scan run
 * again, so no file is left behind.
 *
 * Limits: a pickup file may be at most max_message_size + PICKUP_ENVELOPE_MAX
 * bytes; at most PICKUP_BATCH files are moved per scan (the next event or
 * the rescan takes the rest).
 */
#include "queue/queue_pickup.h"
#include "queue/queue_file.h"

#include "config/config.h"
#include "event/workq.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/msglog.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PICKUP_ENVELOPE_MAX (64u << 20) /* envelope records beyond the message (queue_file_write caps them so) */
#define PICKUP_BATCH 256
#define PICKUP_DIR_MODE 01733
#define PICKUP_TMP_MAX_AGE 86400       /* an unfinished ID.tmp older than this is abandoned */

struct queue_pickup {
    struct event_base *base;
    const pochta_config *cfg;
    queue_committed_fn committed;
    void *arg;
    int ifd;                       /* inotify descriptor, -1 if unavailable */
    struct event *ev;
    workq *wq;
    int running, again;            /* a scan is on the worker / another is wanted */
    char moved[PICKUP_BATCH][QUEUE_ID_SIZE];
    size_t nmoved;
    int full;                      /* the batch was full: scan again */
};

/* pickup_path - queue_dir/SUB[/NAME] into out */
static void pickup_path(const pochta_config *cfg, const char *sub, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s%s%s", cfg->queue_dir, sub, name ? "/" : "", name ? name : "");
}

/* pickup_syncfs - make a new name in pickup/ durable without reading the directory: a
 * program running as another user may not open pickup/ (mode 1733) to fsync it, so
 * flush the whole file system through the file (Linux syncfs); 0 or -1 */
static int pickup_syncfs(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = syncfs(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* queue_inject - durable write into pickup/: tmp name, fsync, rename, directory fsync */
queue_status queue_inject(const pochta_config *cfg, const queue_msg *m, char *err, size_t errlen)
{
    char dir[4200], tmp[4300], fin[4300];
    const char *op = "id";
    if (!queue_id_valid(m->id)) {
        snprintf(err, errlen, "invalid queue id");
        return QUEUE_TEMPFAIL;
    }
    pickup_path(cfg, "pickup", NULL, dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, m->id);
    snprintf(fin, sizeof fin, "%s/%s", dir, m->id);
    /* 0644: the daemon may run as another user than the injecting program */
    int rc = queue_file_write(tmp, m, 0644, &op);
    if (rc < 0 && errno == ENOENT && strcmp(op, "open") == 0) {
        /* never started daemon: make queue_dir and pickup/ as it would (needs its rights) */
        if ((mkdir(cfg->queue_dir, 0700) == 0 || errno == EEXIST) && mkdir(dir, 0700) == 0)
            chmod(dir, PICKUP_DIR_MODE);
        rc = queue_file_write(tmp, m, 0644, &op);
    }
    if (rc < 0)
        goto fail;
    op = "rename";
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, fin, RENAME_NOREPLACE) < 0)
        goto fail;
    op = "fsync_dir";
    if (fileio_fsync_dir(dir) < 0 && (errno != EACCES || pickup_syncfs(fin) < 0))
        goto fail;
    return QUEUE_OK;
fail:
    snprintf(err, errlen, "%s: %s failed: %s", op[0] == 'o' && errno == ENOENT ? dir : tmp, op, strerror(errno));
    unlink(tmp);
    return QUEUE_TEMPFAIL;
}

/* pickup_read - the file name in pickup/ if it is a plain regular file of sane size; 0 or -1 */
static int pickup_read(const char *path, size_t cap, buf *out)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || (size_t)st.st_size > cap) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    buf_init(out, cap);
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || buf_append(out, chunk, (size_t)n) != BUF_OK) {
            close(fd);
            buf_free(out);
            errno = EINVAL;
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* pickup_reject - a file we will not queue: keep it in corrupt/ for a human */
static void pickup_reject(queue_pickup *p, const char *name, const char *why)
{
    char from[4300], to[4300];
    pickup_path(p->cfg, "pickup", name, from, sizeof from);
    pickup_path(p->cfg, "corrupt", name, to, sizeof to);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
        unlink(from);
    log_error(name, "event=pickup_rejected reason=\"%s\"", why);
}

/* pickup_one - worker: validate pickup/NAME and move it to active/; 1 when moved */
static int pickup_one(queue_pickup *p, const char *name)
{
    char from[4300], to[4300], dir[4200], err[200];
    buf b;
    queue_msg *m = NULL;
    pickup_path(p->cfg, "pickup", name, from, sizeof from);
    pickup_path(p->cfg, "active", name, to, sizeof to);
    if (pickup_read(from, p->cfg->max_message_size + PICKUP_ENVELOPE_MAX, &b) < 0) {
        if (errno != ENOENT)
            pickup_reject(p, name, "not a plain file of acceptable size");
        return 0;
    }
    queue_status st = queue_file_read(b.data ? b.data : "", b.len, &m, err, sizeof err);
    buf_free(&b);
    if (st != QUEUE_OK || strcmp(m->id, name) != 0) {
        pickup_reject(p, name, st != QUEUE_OK ? err : "file name is not its queue id");
        queue_msg_free(m);
        return 0;
    }
    pickup_path(p->cfg, "active", NULL, dir, sizeof dir);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
        pickup_reject(p, name, errno == EEXIST ? "a queued message has the same id" : strerror(errno));
        queue_msg_free(m);
        return 0;
    }
    msglog_event(name, "queued", "source=local_sendmail from=<%s> size=%zu nrcpt=%zu", m->sender, m->data.len,
                 m->nrcpts);
    msglog_message_id(name, m->data.data, m->data.len);
    queue_msg_free(m);
    if (fileio_fsync_dir(dir) < 0) {
        log_error(name, "event=queue_error op=pickup_fsync_dir error=\"%s\"", strerror(errno));
        return 1; /* renamed: the next start-up finds it in active/ either way */
    }
    return 1;
}

/* pickup_sweep_tmp - remove NAME when it is an ID.tmp left by a writer that died over a day ago */
static void pickup_sweep_tmp(DIR *d, const char *name)
{
    size_t n = strlen(name);
    struct stat st;
    if (n < 5 || strcmp(name + n - 4, ".tmp") != 0 ||
        fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mtime > time(NULL) - PICKUP_TMP_MAX_AGE)
        return;
    if (unlinkat(dirfd(d), name, 0) == 0)
        log_warn(NULL, "event=pickup_stale_removed file=%s", name);
}

/* pickup_scan_work - worker: move every complete file (names that are queue ids) */
static void pickup_scan_work(void *arg)
{
    queue_pickup *p = arg;
    char dir[4200];
    pickup_path(p->cfg, "pickup", NULL, dir, sizeof dir);
    p->nmoved = 0;
    p->full = 0;
    DIR *d = opendir(dir);
    if (!d) {
        log_error(NULL, "event=queue_error op=pickup_scan error=\"%s\"", strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!queue_id_valid(de->d_name)) {
            pickup_sweep_tmp(d, de->d_name); /* ".", "..", ID.tmp being written or abandoned */
            continue;
        }
        if (p->nmoved == PICKUP_BATCH) {
            p->full = 1;
            break;
        }
        if (pickup_one(p, de->d_name))
            memcpy(p->moved[p->nmoved++], de->d_name, QUEUE_ID_SIZE); /* valid id: 16 digits + NUL */
    }
    closedir(d);
}

static void pickup_kick(queue_pickup *p);

/* pickup_scan_done - loop: hand the moved messages to the scheduler */
static void pickup_scan_done(void *arg)
{
    queue_pickup *p = arg;
    p->running = 0;
    for (size_t i = 0; i < p->nmoved; i++) {
        if (p->committed)
            p->committed(p->arg, p->moved[i]);
    }
    if (p->again || p->full) {
        p->again = 0;
        pickup_kick(p);
    }
}

/* pickup_kick - start a scan, or ask for another after the running one */
static void pickup_kick(queue_pickup *p)
{
    if (p->running) {
        p->again = 1;
        return;
    }
    p->running = 1;
    workq_submit(p->wq, pickup_scan_work, pickup_scan_done, p);
}

/* pickup_on_notify - inotify: something was renamed into or written in pickup/ */
static void pickup_on_notify(evutil_socket_t fd, short what, void *arg)
{
    char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, evbuf, sizeof evbuf) > 0)
        ; /* drain: the scan looks at the directory itself, which covers overflows too */
    pickup_kick(arg);
}

/* queue_pickup_start - pickup/ with its mode, an inotify watch and a first scan */
queue_pickup *queue_pickup_start(struct event_base *base, const pochta_config *cfg, queue_committed_fn committed,
                                 void *arg, char *err, size_t errlen)
{
    char dir[4200];
    pickup_path(cfg, "pickup", NULL, dir, sizeof dir);
    /* queue_dir 0711: other users may pass through to pickup/ but list nothing; its other
     * subdirectories stay 0700 */
    if (chmod(cfg->queue_dir, 0711) < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST) ||
        chmod(dir, PICKUP_DIR_MODE) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    queue_pickup *p = xcalloc(1, sizeof *p);
    p->base = base;
    p->cfg = cfg;
    p->committed = committed;
    p->arg = arg;
    p->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (p->ifd < 0 || inotify_add_watch(p->ifd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        snprintf(err, errlen, "inotify on %s: %s", dir, strerror(errno));
        if (p->ifd >= 0)
            close(p->ifd);
        free(p);
        return NULL;
    }
    p->ev = event_new(base, p->ifd, EV_READ | EV_PERSIST, pickup_on_notify, p);
    event_add(p->ev, NULL);
    p->wq = workq_new(base, "pickup", 1);
    pickup_kick(p); /* what arrived while we were down */
    return p;
}

/* queue_pickup_stop - stop watching; a running scan finishes first */
void queue_pickup_stop(queue_pickup *p)
{
    if (!p)
        return;
    event_free(p->ev);
    p->committed = NULL; /* the daemon is shutting down: the next start-up schedules them */
    p->again = p->full = 0;
    workq_free(p->wq);
    close(p->ifd);
    free(p);
}
