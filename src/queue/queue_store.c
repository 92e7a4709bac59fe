/*
 * queue_store - file operations on the queue directory shared by the queue
 * writer and the delivery scheduler: read a message and its state, append
 * a state record durably, remove a finished message, quarantine a corrupt
 * one. All of them block on disk: call them from worker threads only.
 *
 * Every state append is fsync'ed before the caller goes on, and a new state
 * file's directory entry is fsync'ed too, so "done" survives a crash.
 */
#include "queue/queue_file.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_STATE_MAX (16u * 1024 * 1024) /* a state file larger than this is broken */

/* queue_read_file - read a whole file into out */
queue_status queue_read_file(const char *path, buf *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return QUEUE_TEMPFAIL;
    buf_init(out, cap);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && buf_append(out, chunk, (size_t)n) != BUF_OK)) {
            int e = n < 0 ? errno : EFBIG;
            close(fd);
            buf_free(out);
            errno = e;
            return QUEUE_TEMPFAIL;
        }
        if (n == 0)
            break;
    }
    close(fd);
    return QUEUE_OK;
}

/* queue_state_append - append one record to state/ID and fsync it */
queue_status queue_state_append(const char *queue_dir, const char *id, const char *payload)
{
    char path[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s/state", queue_dir);
    snprintf(path, sizeof path, "%s/%s", dir, id);
    int created = 1;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        created = 0;
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0)
        goto fail;
    buf line;
    buf_init(&line, QUEUE_STATE_REASON_MAX + 2048);
    struct stat sb;
    char last = '\n';
    /* A torn tail from a crash must not swallow this record: start a new line. */
    if (!created && fstat(fd, &sb) == 0 && sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) == 1 &&
        last != '\n')
        buf_append_char(&line, '\n');
    if (queue_state_format(&line, payload) != BUF_OK || fileio_write_all(fd, line.data, line.len) < 0 ||
        fsync(fd) < 0) {
        int e = errno;
        buf_free(&line);
        close(fd);
        errno = e;
        goto fail;
    }
    buf_free(&line);
    if (close(fd) < 0 || (created && fileio_fsync_dir(dir) < 0))
        goto fail;
    return QUEUE_OK;
fail:
    log_error(id, "event=queue_error op=state_append path=%s error=\"%s\"", path, strerror(errno));
    return QUEUE_TEMPFAIL;
}

/* queue_load - read a message and replay its recipients' state */
queue_status queue_load(const char *queue_dir, const char *id, queue_msg **msg, queue_rcpt_state **st,
                        int *gone, char *err, size_t errlen)
{
    char path[4096];
    buf b;
    *msg = NULL;
    *st = NULL;
    *gone = 0;
    snprintf(path, sizeof path, "%s/active/%s", queue_dir, id);
    if (queue_read_file(path, &b, (size_t)1 << 40) != QUEUE_OK) {
        *gone = errno == ENOENT;
        snprintf(err, errlen, "read %s: %s", path, strerror(errno));
        return QUEUE_TEMPFAIL;
    }
    queue_status rc = queue_file_read(b.data ? b.data : "", b.len, msg, err, errlen);
    buf_free(&b);
    if (rc != QUEUE_OK)
        return rc;
    *st = xcalloc((*msg)->nrcpts, sizeof **st);
    snprintf(path, sizeof path, "%s/state/%s", queue_dir, id);
    if (queue_read_file(path, &b, QUEUE_STATE_MAX) == QUEUE_OK) {
        queue_state_parse(b.data ? b.data : "", b.len, *st, (*msg)->nrcpts);
        buf_free(&b);
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "read %s: %s", path, strerror(errno));
        queue_state_free(*st, (*msg)->nrcpts);
        free(*st);
        *st = NULL;
        queue_msg_free(*msg);
        *msg = NULL;
        return QUEUE_TEMPFAIL;
    }
    return QUEUE_OK;
}

/* queue_remove - every recipient is final: drop the message, then its state */
queue_status queue_remove(const char *queue_dir, const char *id)
{
    char path[4096];
    /* Message first: a crash in between leaves a state file without a
     * message, which queue_open sweeps; the reverse would re-deliver.
     * Neither unlink is fsynced: the deliveries it follows are durable
     * already, and a removal lost in a crash only brings the message back
     * to be delivered again (at-least-once), never loses one. */
    snprintf(path, sizeof path, "%s/active/%s", queue_dir, id);
    if (unlink(path) < 0 && errno != ENOENT)
        goto fail;
    snprintf(path, sizeof path, "%s/state/%s", queue_dir, id);
    if (unlink(path) < 0 && errno != ENOENT)
        goto fail;
    return QUEUE_OK;
fail:
    log_error(id, "event=queue_error op=remove path=%s error=\"%s\"", path, strerror(errno));
    return QUEUE_TEMPFAIL;
}

/* queue_quarantine - move a file we cannot use out of active/, keeping it for a human */
void queue_quarantine(const char *queue_dir, const char *id, const char *why)
{
    char from[4096], to[4096], dir[4096];
    snprintf(from, sizeof from, "%s/active/%s", queue_dir, id);
    snprintf(to, sizeof to, "%s/corrupt/%s", queue_dir, id);
    snprintf(dir, sizeof dir, "%s/corrupt", queue_dir);
    if (rename(from, to) < 0) {
        log_error(id, "event=queue_corrupt action=kept path=%s reason=\"%s\" error=\"%s\"", from, why,
                  strerror(errno));
        return;
    }
    fileio_fsync_dir(dir);
    log_error(id, "event=queue_corrupt action=moved path=%s reason=\"%s\"", to, why);
}
