/*
 * test_delivery - queue_submit + scheduler end to end on a libevent loop,
 * with a real accounts database in a temp dir:
 *   - local delivery, alias expansion, duplicates delivered once,
 *     unknown local mailbox bounced (5.1.1), message removed;
 *   - alias with a remote target whose DNS does not answer: local copy once, remote deferred and
 *     retried with backoff until it expires, no extra local copies;
 *   - "restart": a message left in active/ is delivered by a new scheduler;
 *   - the message log holds the story (msglog_print).
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

static char root[] = "/tmp/pochta-delivery-XXXXXX";
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

/* mailbox_count - messages in new/ of local@example.test */
static int mailbox_count(const char *local)
{
    char p[512];
    snprintf(p, sizeof p, "%s/example.test/%s/new", mdir, local);
    int n = count_dir(p);
    return n < 0 ? 0 : n;
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

/* submit - queue one message to the recipients and wait for the 250 */
static void submit(struct event_base *base, queue *q, const char *subject, const char *const *rcpts,
                   char id[QUEUE_ID_SIZE])
{
    queue_msg *m = queue_msg_new(1 << 20);
    queue_new_id(m->id);
    memcpy(id, m->id, QUEUE_ID_SIZE);
    m->sender = strdup("carol@good.sender.test");
    for (; *rcpts; rcpts++)
        queue_msg_add_rcpt(m, *rcpts);
    m->client_ip = strdup("127.0.0.1");
    m->client_name = strdup("localhost");
    m->helo = strdup("client.test");
    m->arrival = time(NULL);
    buf_printf(&m->data, "Subject: %s\r\n\r\nbody\r\n", subject);
    answered = 0;
    queue_submit(q, m, on_done, NULL);
    while (!answered)
        event_base_loop(base, EVLOOP_ONCE);
}

/* setup_accounts - example.test with alice, bob and a few aliases */
static int setup_accounts(void)
{
    char err[256];
    accounts *a = accounts_open(db, err, sizeof err);
    CHECK(a != NULL, "accounts_open: %s", err);
    if (!a)
        return -1;
    CHECK(accounts_domain_add(a, "example.test") == ACCT_OK, "domain");
    CHECK(accounts_user_add(a, "alice@example.test", "pw-alice-123") == ACCT_OK, "alice");
    CHECK(accounts_user_add(a, "bob@example.test", "pw-bob-12345") == ACCT_OK, "bob");
    CHECK(accounts_alias_add(a, "team@example.test", "alice@example.test") == ACCT_OK, "team 1");
    CHECK(accounts_alias_add(a, "team@example.test", "bob@example.test") == ACCT_OK, "team 2");
    CHECK(accounts_alias_add(a, "fwd@example.test", "alice@example.test") == ACCT_OK, "fwd 1");
    CHECK(accounts_alias_add(a, "fwd@example.test", "someone@far.test") == ACCT_OK, "fwd 2");
    accounts_close(a);
    return 0;
}

int main(void)
{
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    snprintf(qdir, sizeof qdir, "%s/queue", root);
    snprintf(mdir, sizeof mdir, "%s/mail", root);
    snprintf(db, sizeof db, "%s/pochta.db", root);
    pochta_config cfg = {.hostname = "mx.example.test", .queue_dir = qdir, .mail_dir = mdir, .db_path = db,
                         .queue_workers = 2, .retry_min = 1, .retry_max = 2, .queue_lifetime = 4,
                         /* no DNS server answers there: the remote target's MX lookup is a temporary
                          * failure, so it is deferred and retried until it expires */
                         .dns_server = "127.0.0.1:9", .dns_timeout_ms = 300, .remote_smtp_port = 25,
                         .remote_timeout = 2};
    char err[256], id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id3[QUEUE_ID_SIZE];
    if (setup_accounts() < 0)
        return check_summary();
    CHECK(msglog_start(db, err, sizeof err) == 0, "msglog_start: %s", err);

    struct event_base *base = event_base_new();
    scheduler *s = scheduler_start(base, &cfg, err, sizeof err);
    CHECK(s != NULL, "scheduler_start: %s", err);
    queue *q = queue_open(base, &cfg, scheduler_kick, s, err, sizeof err);
    CHECK(q != NULL, "queue_open: %s", err);
    if (!s || !q)
        return check_summary();

    /* 1: local, alias (alice twice: once), unknown mailbox */
    const char *r1[] = {"alice@example.test", "team@example.test", "nobody@example.test", NULL};
    submit(base, q, "one", r1, id1);
    CHECK(run_until_empty(base, s, 10), "message 1 not finished");
    CHECK(mailbox_count("alice") == 1, "alice has %d", mailbox_count("alice"));
    CHECK(mailbox_count("bob") == 1, "bob has %d", mailbox_count("bob"));

    /* 2: alias with a remote target: deferred, retried, expires; alice gets one copy */
    time_t t0 = time(NULL);
    const char *r2[] = {"fwd@example.test", NULL};
    submit(base, q, "two", r2, id2);
    CHECK(run_until_empty(base, s, 15), "message 2 did not expire");
    CHECK(time(NULL) - t0 >= 3, "expired too early (%lds)", (long)(time(NULL) - t0));
    CHECK(mailbox_count("alice") == 2, "alice has %d after retries", mailbox_count("alice"));
    char p[512];
    snprintf(p, sizeof p, "%s/state", qdir);
    CHECK(count_dir(p) == 0, "state files left: %d", count_dir(p));

    /* 3: "crash": the message is committed while no scheduler runs, then a new one starts */
    scheduler_stop(s);
    queue_close(q);
    q = queue_open(base, &cfg, NULL, NULL, err, sizeof err);
    const char *r3[] = {"bob@example.test", NULL};
    submit(base, q, "three", r3, id3);
    queue_close(q);
    snprintf(p, sizeof p, "%s/active/%s", qdir, id3);
    CHECK(access(p, F_OK) == 0, "message 3 in active/");
    q = queue_open(base, &cfg, NULL, NULL, err, sizeof err);
    s = scheduler_start(base, &cfg, err, sizeof err);
    CHECK(run_until_empty(base, s, 10), "message 3 not delivered after restart");
    CHECK(mailbox_count("bob") == 2, "bob has %d after restart", mailbox_count("bob"));
    scheduler_stop(s);
    queue_close(q);
    event_base_free(base);
    msglog_stop();

    /* the story of each message */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    long n1 = msglog_print(db, id1, out);
    fflush(out);
    CHECK(n1 >= 4, "message 1 has %ld events", n1);
    CHECK(text && strstr(text, " delivered to=<alice@example.test> relay=local"), "delivered:\n%s", text);
    CHECK(text && strstr(text, "orig_to=<team@example.test>"), "orig_to:\n%s", text);
    CHECK(text && strstr(text, " bounced to=<nobody@example.test> status=5.1.1"), "bounced:\n%s", text);
    CHECK(text && strstr(text, " removed "), "removed:\n%s", text);
    fclose(out);
    free(text);
    text = NULL;
    out = open_memstream(&text, &len);
    msglog_print(db, id2, out);
    fflush(out);
    CHECK(text && strstr(text, " deferred to=<fwd@example.test>"), "deferred:\n%s", text);
    CHECK(text && strstr(text, " expired to=<someone@far.test>"), "expired:\n%s", text);
    CHECK(text && strstr(text, "status=4.4.7"), "bounce 4.4.7:\n%s", text);
    fclose(out);
    free(text);
    CHECK(msglog_print(db, "0000000000000000", stdout) == 0, "unknown id has events");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return check_summary();
}
