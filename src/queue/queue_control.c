/*
 * queue_control - requests from `pochta queue flush|release|delete` to the
 * running daemon through queue_dir/control/ (API in queue_control.h).
 *
 * The scan runs on the loop thread: control/ holds only the few empty
 * files an administrator's commands create, and reading and unlinking
 * them costs microseconds, far less than handing them to a worker and
 * back. At most CONTROL_SCAN_MAX entries are handled per wake-up; more
 * wait for the next one (a new request wakes us again).
 */
#include "queue/queue_control.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/queue_admin.h"
#include "queue/queue_file.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTROL_SCAN_MAX 1000

struct queue_control {
    struct event *ev;
    int ifd;
    char dir[4200];
    queue_control_fn run;
    void *arg;
};

/* control_scan - handle and remove every request file */
static void control_scan(queue_control *c)
{
    DIR *d = opendir(c->dir);
    if (!d) {
        log_error(NULL, "event=control_error path=%s error=\"%s\"", c->dir, strerror(errno));
        return;
    }
    struct dirent *de;
    for (int n = 0; n < CONTROL_SCAN_MAX && (de = readdir(d)); n++) {
        if (de->d_name[0] == '.')
            continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", c->dir, de->d_name);
        if (unlink(path) < 0)
            continue; /* another scan took it */
        if (strcmp(de->d_name, QUEUE_CONTROL_ALL) == 0) {
            log_info(NULL, "event=control request=flush target=all");
            c->run(c->arg, NULL);
        } else if (queue_id_valid(de->d_name)) {
            log_info(de->d_name, "event=control request=run");
            c->run(c->arg, de->d_name);
        } else {
            char q[300];
            log_quote(q, sizeof q, de->d_name, strlen(de->d_name));
            log_warn(NULL, "event=control_ignored name=%s reason=\"not a queue ID or ALL\"", q);
        }
    }
    closedir(d);
}

/* control_on_notify - inotify: a request file was written */
static void control_on_notify(evutil_socket_t fd, short what, void *arg)
{
    char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, evbuf, sizeof evbuf) > 0)
        ; /* drain: the scan reads the directory itself, which covers overflows too */
    control_scan(arg);
}

/* queue_control_start - control/ (0700), a watch, and the requests left from before */
queue_control *queue_control_start(struct event_base *base, const char *queue_dir, queue_control_fn run, void *arg,
                                   char *err, size_t errlen)
{
    queue_control *c = xcalloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s/control", queue_dir);
    c->run = run;
    c->arg = arg;
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", c->dir, strerror(errno));
        free(c);
        return NULL;
    }
    c->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->ifd < 0 || inotify_add_watch(c->ifd, c->dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        snprintf(err, errlen, "inotify on %s: %s", c->dir, strerror(errno));
        if (c->ifd >= 0)
            close(c->ifd);
        free(c);
        return NULL;
    }
    c->ev = event_new(base, c->ifd, EV_READ | EV_PERSIST, control_on_notify, c);
    event_add(c->ev, NULL);
    control_scan(c);
    return c;
}

/* queue_control_stop - stop watching */
void queue_control_stop(queue_control *c)
{
    if (!c)
        return;
    event_free(c->ev);
    close(c->ifd);
    free(c);
}
