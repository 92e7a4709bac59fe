/*
 * test_queue_submit - queue_open recovery (tmp swept, torn files
 * quarantined), queue_submit on a real loop, abandoned jobs, and the group
 * commit measurement (printed: messages, directory fsyncs, time).
 */
#include "check.h"
#include "config/config.h"
#include "queue/queue.h"
#include "queue/queue_file.h"
#include "queue/queue_stats.h"

#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int answered, ok_count, committed_count;

static void on_done(void *arg, queue_status st)
{
    answered++;
    if (st == QUEUE_OK)
        ok_count++;
}

static void on_committed(void *arg, const char *id)
{
    committed_count++;
}

/* count_files - entries of dir (no dot files) */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* write_file - create path with s */
static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

/* make_msg - a small message with a fresh id */
static queue_msg *make_msg(int n)
{
    queue_msg *m = queue_msg_new(1 << 20);
    queue_new_id(m->id);
    m->sender = strdup("carol@good.sender.test");
    queue_msg_add_rcpt(m, "alice@example.test");
    m->client_ip = strdup("127.0.0.1");
    m->client_name = strdup("localhost");
    m->helo = strdup("client.test");
    m->arrival = time(NULL);
    buf_printf(&m->data, "Subject: test %d\r\n\r\nbody %d\r\n", n, n);
    return m;
}

/* run_batch - submit n messages at once, run the loop until all answered; returns seconds */
static double run_batch(struct event_base *base, queue *q, int n)
{
    struct timespec a, b;
    answered = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        queue_submit(q, make_msg(i), on_done, NULL);
    while (answered < n)
        event_base_loop(base, EVLOOP_ONCE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

int main(void)
{
    char dir[] = "/tmp/pochta-queue-XXXXXX", qdir[256], path[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    pochta_config cfg = {.queue_dir = qdir, .queue_workers = 8};

    /* leftovers of a "crash": a tmp file and a torn active file */
    mkdir(qdir, 0700);
    snprintf(path, sizeof path, "%s/tmp", qdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/active", qdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/tmp/00000000000000AA", qdir);
    write_file(path, "V1:1\nI16:00000000000000AA\n");
    snprintf(path, sizeof path, "%s/active/00000000000000BB", qdir);
    write_file(path, "V1:1\nI16:00000000000000BB\nA1:1\nS0:\nR1:a\nF1:0\nM5:ab");

    struct event_base *base = event_base_new();
    char err[256];
    queue *q = queue_open(base, &cfg, on_committed, NULL, err, sizeof err);
    CHECK(q != NULL, "queue_open: %s", err);
    if (!q)
        return check_summary();
    snprintf(path, sizeof path, "%s/tmp", qdir);
    CHECK(count_files(path) == 0, "tmp swept");
    snprintf(path, sizeof path, "%s/corrupt/00000000000000BB", qdir);
    CHECK(access(path, F_OK) == 0, "torn file quarantined");
    snprintf(path, sizeof path, "%s/active", qdir);
    CHECK(count_files(path) == 0, "active empty");

    /* group commit on, then off: same work, compare directory fsyncs and time */
    queue_stats s0, s1, s2;
    queue_get_stats(q, &s0);
    double t_on = run_batch(base, q, 200);
    queue_get_stats(q, &s1);
    queue_set_group_commit(q, 0);
    double t_off = run_batch(base, q, 200);
    queue_get_stats(q, &s2);
    queue_set_group_commit(q, 1);
    printf("group commit on:  200 messages, %lu dir fsyncs, %.3fs\n", s1.dir_fsyncs - s0.dir_fsyncs, t_on);
    printf("group commit off: 200 messages, %lu dir fsyncs, %.3fs\n", s2.dir_fsyncs - s1.dir_fsyncs, t_off);
    CHECK(s1.dir_fsyncs - s0.dir_fsyncs <= 200, "group commit never adds fsyncs");
    CHECK(s2.dir_fsyncs - s1.dir_fsyncs == 200, "off = one per message");
    CHECK(ok_count == 400 && committed_count == 400, "ok %d committed %d", ok_count, committed_count);
    CHECK(count_files(path) == 400, "400 files in active");

    /* an abandoned job still lands on disk and is still committed */
    queue_job *j = queue_submit(q, make_msg(1), on_done, NULL);
    queue_job_abandon(j);
    answered = 0;
    queue_close(q); /* finishes the write */
    CHECK(answered == 0, "abandoned job answered");
    CHECK(committed_count == 401, "committed %d", committed_count);
    CHECK(count_files(path) == 401, "abandoned job written");

    /* every file reads back */
    DIR *d = opendir(path);
    struct dirent *de;
    int good = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        queue_msg *m = NULL;
        queue_rcpt_state *st = NULL;
        int gone;
        if (queue_load(qdir, de->d_name, &m, &st, &gone, err, sizeof err) == QUEUE_OK)
            good++;
        if (m) {
            queue_state_free(st, m->nrcpts);
            free(st);
        }
        queue_msg_free(m);
    }
    if (d)
        closedir(d);
    CHECK(good == 401, "good %d", good);

    /* a bad id is refused with TEMPFAIL and leaves nothing behind */
    q = queue_open(base, &cfg, on_committed, NULL, err, sizeof err);
    queue_msg *bad = make_msg(2);
    memcpy(bad->id, "../../x", 8);
    ok_count = 0;
    answered = 0;
    queue_submit(q, bad, on_done, NULL);
    while (answered < 1)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK(ok_count == 0, "bad id accepted");
    queue_close(q);
    event_base_free(base);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return check_summary();
}
