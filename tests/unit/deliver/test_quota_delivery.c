/*
 * test_quota_delivery - local delivery against mailbox state and quota, on
 * a libevent loop with the real queue, scheduler and accounts database:
 *   - a message to a mailbox at its message quota is deferred ("Mailbox
 *     full") and, when the queue lifetime runs out, bounced with 5.2.2;
 *   - maildirsize is written by the check and counts the delivered message;
 *   - a disabled mailbox is bounced at once with 5.2.1.
 */
#include "check.h"
#include "config/config.h"
#include "deliver/scheduler.h"
#include "queue/queue.h"
#include "store/accounts.h"
#include "store/msglog.h"

#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char root[] = "/tmp/pochta-quotadel-XXXXXX";
static char qdir[256], mdir[256], db[256];
static int answered;

/* count_dir - entries in dir, -1 when missing */
static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

static void on_done(void *arg, queue_status st)
{
    answered++;
}

/* run_until_empty - run the loop until active/ is empty and nothing runs, or timeout */
static int run_until_empty(struct event_base *base, scheduler *s, int timeout)
{
    char p[512];
    snprintf(p, sizeof p, "%s/active", qdir);
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    time_t end = time(NULL) + timeout;
    int ok = 0;
    while (time(NULL) < end) {
        event_base_loop(base, EVLOOP_ONCE);
        if (count_dir(p) == 0 && scheduler_idle(s)) {
            ok = 1;
            break;
        }
    }
    event_free(tick);
    return ok;
}

/* submit - queue one message to rcpt and wait for the commit */
static void submit(struct event_base *base, queue *q, const char *rcpt, char id[QUEUE_ID_SIZE])
{
    queue_msg *m = queue_msg_new(1 << 20);
    queue_new_id(m->id);
    memcpy(id, m->id, QUEUE_ID_SIZE);
    m->sender = strdup("carol@good.sender.test");
    queue_msg_add_rcpt(m, rcpt);
    m->client_ip = strdup("127.0.0.1");
    m->client_name = strdup("localhost");
    m->helo = strdup("client.test");
    m->arrival = time(NULL);
    buf_printf(&m->data, "Subject: quota\r\n\r\nbody\r\n");
    answered = 0;
    queue_submit(q, m, on_done, NULL);
    while (!answered)
        event_base_loop(base, EVLOOP_ONCE);
}

/* story - the message log of id as text (caller frees) */
static char *story(const char *id)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    msglog_print(db, id, out);
    fclose(out);
    return text;
}

int main(void)
{
    char err[256], id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id3[QUEUE_ID_SIZE], p[600];
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    snprintf(qdir, sizeof qdir, "%s/queue", root);
    snprintf(mdir, sizeof mdir, "%s/mail", root);
    snprintf(db, sizeof db, "%s/pochta.db", root);
    pochta_config cfg = {.hostname = "mx.example.test", .queue_dir = qdir, .mail_dir = mdir, .db_path = db,
                         .queue_workers = 2, .retry_min = 1, .retry_max = 1, .queue_lifetime = 3};
    accounts *a = accounts_open(db, err, sizeof err);
    CHECK(a != NULL, "accounts_open: %s", err);
    if (!a)
        return check_summary();
    CHECK(accounts_domain_add(a, "example.test") == ACCT_OK, "domain");
    CHECK(accounts_user_add(a, "alice@example.test", "pw-alice-123") == ACCT_OK, "alice");
    CHECK(accounts_user_add(a, "bob@example.test", "pw-bob-12345") == ACCT_OK, "bob");
    CHECK(accounts_user_set_quota(a, "alice@example.test", 0, 1) == ACCT_OK, "alice quota");
    CHECK(accounts_user_set_disabled(a, "bob@example.test", 1) == ACCT_OK, "bob disabled");
    accounts_close(a);
    CHECK(msglog_start(db, err, sizeof err) == 0, "msglog_start: %s", err);

    struct event_base *base = event_base_new();
    scheduler *s = scheduler_start(base, &cfg, err, sizeof err);
    queue *q = queue_open(base, &cfg, scheduler_kick, s, err, sizeof err);
    CHECK(s && q, "start: %s", err);
    if (!s || !q)
        return check_summary();

    submit(base, q, "alice@example.test", id1); /* fits: 0 of 1 message */
    CHECK(run_until_empty(base, s, 10), "message 1 not finished");
    submit(base, q, "alice@example.test", id2); /* full: deferred, then bounced */
    submit(base, q, "bob@example.test", id3);   /* disabled: bounced at once */
    CHECK(run_until_empty(base, s, 15), "messages 2 and 3 not finished");
    /* the check wrote maildirsize (recalculated: one message) */
    snprintf(p, sizeof p, "%s/example.test/alice/maildirsize", mdir);
    FILE *f = fopen(p, "r");
    char line[64] = "", total[64] = "";
    CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "1C\n") == 0, "maildirsize definition '%s'", line);
    CHECK(f && fgets(total, sizeof total, f) && strstr(total, " 1\n"), "maildirsize total '%s'", total);
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/example.test/alice/new", mdir);
    CHECK(count_dir(p) == 1, "alice has %d messages", count_dir(p));
    snprintf(p, sizeof p, "%s/example.test/bob/new", mdir);
    CHECK(count_dir(p) <= 0, "bob got mail");
    scheduler_stop(s);
    queue_close(q);
    event_base_free(base);
    msglog_stop();

    char *t = story(id2);
    CHECK(t && strstr(t, " deferred to=<alice@example.test>") && strstr(t, "Mailbox full"), "deferred:\n%s", t ? t : "(none)");
    CHECK(t && strstr(t, " bounced to=<alice@example.test> status=5.2.2"), "bounce 5.2.2:\n%s", t ? t : "(none)");
    free(t);
    t = story(id3);
    CHECK(t && strstr(t, " bounced to=<bob@example.test> status=5.2.1"), "bounce 5.2.1:\n%s", t ? t : "(none)");
    CHECK(t && !strstr(t, " deferred "), "disabled is not deferred:\n%s", t ? t : "(none)");
    free(t);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return check_summary();
}
