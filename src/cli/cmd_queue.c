/*
 * cmd_queue - `pochta -c CONF queue list|show ID|flush [ID]|hold ID|release ID|delete ID`:
 * look at and manage the outbound queue, also while the daemon runs.
 *
 * list and show read queue_dir/active/ and state/ directly. hold and
 * release write the durable marker hold/ID (queue_admin.h); flush and
 * release ask the running daemon to try now through control/ (inotify);
 * delete puts the message on hold, waits (--wait SECONDS, default 60) for
 * the delivery lock so no attempt is cut in half, then removes it. Each
 * change is stored in the message log (events held, released, flush,
 * deleted with by=admin). Exit codes as in cli.h: 0 done, 1 failed or no
 * such message, 2 usage.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/cli_fmt.h"
#include "queue/queue_admin.h"
#include "queue/queue_file.h"
#include "store/msglog.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_CLI_USAGE "queue list | queue show ID | queue flush [ID] | queue hold ID | queue release ID | " \
                        "queue delete ID [--wait SECONDS]"
#define QUEUE_LIST_MAX 100000 /* IDs read from active/ at most */

/* qcli_cmp - sort IDs (they begin with the arrival time) */
static int qcli_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qcli_ids - the sorted queue IDs in active/; count or -1. Caller frees each and the array */
static long qcli_ids(const char *queue_dir, char ***out)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/active", queue_dir);
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        cli_err("cannot read %s: %s", dir, strerror(errno));
        return -1;
    }
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < QUEUE_LIST_MAX) {
        if (!queue_id_valid(de->d_name))
            continue;
        char **grown = realloc(*out, (size_t)(n + 1) * sizeof **out);
        if (!grown)
            break;
        *out = grown;
        (*out)[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(*out, (size_t)n, sizeof **out, qcli_cmp);
    return n;
}

/* qcli_rcpt_line - one pending recipient in plain words */
static void qcli_rcpt_line(const char *rcpt, const queue_rcpt_state *st, time_t now, const char *indent)
{
    char when[32], in[32];
    if (st->status == QRCPT_PENDING) {
        printf("%s<%s>: not tried yet\n", indent, rcpt);
        return;
    }
    printf("%s<%s>: %u attempt%s, next %s%s (%s): %s\n", indent, rcpt, st->attempts, st->attempts == 1 ? "" : "s",
           st->next > now ? "in " : "now", st->next > now ? cli_fmt_duration(st->next - now, in, sizeof in) : "",
           cli_fmt_time(st->next, when, sizeof when), st->reason[0] ? st->reason : "(no reason recorded)");
}

/* qcli_summary - one message of the list; 1 when it was read */
static int qcli_summary(const pochta_config *cfg, const char *id, time_t now, int *held)
{
    queue_msg *m;
    queue_rcpt_state *st;
    int gone;
    char err[512], age[32], size[32];
    if (queue_load(cfg->queue_dir, id, &m, &st, &gone, err, sizeof err) != QUEUE_OK)
        return 0; /* delivered and removed while we listed, or unreadable: skip it */
    *held = queue_held(cfg->queue_dir, id);
    printf("%s  age %-7s %9s  from <%s>%s\n", id, cli_fmt_duration(now - m->arrival, age, sizeof age),
           cli_fmt_size(m->data.len, size, sizeof size), m->sender, *held ? "  HELD" : "");
    for (size_t i = 0; i < m->nrcpts; i++)
        if (st[i].status == QRCPT_PENDING || st[i].status == QRCPT_DEFERRED)
            qcli_rcpt_line(m->rcpts[i], &st[i], now, "    ");
    queue_state_free(st, m->nrcpts);
    free(st);
    queue_msg_free(m);
    return 1;
}

/* qcli_list - every queued message with its pending recipients */
static int qcli_list(const pochta_config *cfg)
{
    char **ids;
    long n = qcli_ids(cfg->queue_dir, &ids);
    if (n < 0)
        return CLI_FAIL;
    time_t now = time(NULL);
    long shown = 0, held = 0;
    for (long i = 0; i < n; i++) {
        int h = 0;
        shown += qcli_summary(cfg, ids[i], now, &h);
        held += h;
        free(ids[i]);
    }
    free(ids);
    if (shown == 0)
        printf("The queue is empty.\n");
    else
        printf("%ld message%s in the queue, %ld on hold.\n", shown, shown == 1 ? "" : "s", held);
    return CLI_OK;
}

/* qcli_rcpt_status - one recipient of show, any state */
static void qcli_rcpt_status(const char *rcpt, const queue_rcpt_state *st, time_t now)
{
    if (st->status == QRCPT_DONE)
        printf("  <%s>: delivered\n", rcpt);
    else if (st->status == QRCPT_BOUNCED)
        printf("  <%s>: bounced (a failure notice went to the sender)\n", rcpt);
    else
        qcli_rcpt_line(rcpt, st, now, "  ");
}

/* qcli_show - the envelope, state and recipients of one message */
static int qcli_show(const pochta_config *cfg, const char *id)
{
    queue_msg *m;
    queue_rcpt_state *st;
    int gone, fd;
    char err[512], when[32], age[32], size[32];
    if (queue_load(cfg->queue_dir, id, &m, &st, &gone, err, sizeof err) != QUEUE_OK) {
        cli_err(gone ? "%s is not in the queue (see: pochta trace %s)" : "cannot read %s: %s", id,
                gone ? id : err);
        return CLI_FAIL;
    }
    time_t now = time(NULL);
    queue_lock_status ls = queue_lock(cfg->queue_dir, id, 0, &fd);
    queue_unlock(fd);
    printf("Queue ID:  %s\nArrived:   %s (%s ago)\nSender:    <%s>\n", id, cli_fmt_time(m->arrival, when, sizeof when),
           cli_fmt_duration(now - m->arrival, age, sizeof age), m->sender);
    printf("Client:    %s [%s], HELO %s%s%s\nSize:      %s\n", m->client_name ? m->client_name : "-",
           m->client_ip ? m->client_ip : "-", m->helo ? m->helo : "-", m->auth_user ? ", authenticated as " : "",
           m->auth_user ? m->auth_user : "", cli_fmt_size(m->data.len, size, sizeof size));
    printf("State:     %s\nRecipients:\n",
           queue_held(cfg->queue_dir, id) ? "ON HOLD: no delivery attempts until `pochta queue release`"
           : ls == QUEUE_LOCK_BUSY       ? "a delivery attempt is running now"
                                         : "waiting for its next attempt");
    for (size_t i = 0; i < m->nrcpts; i++)
        qcli_rcpt_status(m->rcpts[i], &st[i], now);
    printf("History:   pochta -c CONF trace %s\n", id);
    queue_state_free(st, m->nrcpts);
    free(st);
    queue_msg_free(m);
    return CLI_OK;
}

/* qcli_in_queue - 1 when active/ID exists, else prints why not */
static int qcli_in_queue(const pochta_config *cfg, const char *id)
{
    char path[4200];
    if (!queue_id_valid(id)) {
        cli_err("\"%s\" is not a queue ID (16 upper-case hex digits, as in \"queued as ...\")", id);
        return 0;
    }
    snprintf(path, sizeof path, "%s/active/%s", cfg->queue_dir, id);
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_err("%s is not in the queue (delivered, bounced or deleted: see pochta trace %s)", id, id);
        return 0;
    }
    fclose(f);
    return 1;
}

/* qcli_hold - durable hold marker; an attempt already running finishes */
static int qcli_hold(const pochta_config *cfg, const char *id)
{
    int fd;
    if (!qcli_in_queue(cfg, id))
        return CLI_FAIL;
    if (queue_hold(cfg->queue_dir, id) != QUEUE_OK) {
        cli_err("cannot put %s on hold: %s", id, strerror(errno));
        return CLI_FAIL;
    }
    msglog_store(cfg->db_path, id, "held", "by=admin");
    int busy = queue_lock(cfg->queue_dir, id, 0, &fd) == QUEUE_LOCK_BUSY;
    queue_unlock(fd);
    printf("%s is on hold: no delivery attempts until `pochta queue release %s`.%s\n", id, id,
           busy ? " An attempt already under way finishes first." : "");
    return CLI_OK;
}

/* qcli_release - remove the hold and ask the daemon to try now */
static int qcli_release(const pochta_config *cfg, const char *id)
{
    if (!qcli_in_queue(cfg, id))
        return CLI_FAIL;
    if (!queue_held(cfg->queue_dir, id)) {
        printf("%s was not on hold.\n", id);
        return CLI_OK;
    }
    if (queue_release(cfg->queue_dir, id) != QUEUE_OK) {
        cli_err("cannot release %s: %s", id, strerror(errno));
        return CLI_FAIL;
    }
    msglog_store(cfg->db_path, id, "released", "by=admin");
    if (queue_request(cfg->queue_dir, id) != QUEUE_OK)
        cli_err("released, but could not ask the daemon to try now (%s): it tries at its next retry time",
                strerror(errno));
    printf("%s is released; the daemon tries it now (or when it next starts).\n", id);
    return CLI_OK;
}

/* qcli_flush - ask the daemon to try one message, or all, now */
static int qcli_flush(const pochta_config *cfg, const char *id)
{
    if (id && !qcli_in_queue(cfg, id))
        return CLI_FAIL;
    if (queue_request(cfg->queue_dir, id ? id : QUEUE_CONTROL_ALL) != QUEUE_OK) {
        cli_err("cannot write the request into %s/control: %s", cfg->queue_dir, strerror(errno));
        return CLI_FAIL;
    }
    if (id)
        msglog_store(cfg->db_path, id, "flush", "by=admin");
    printf("Asked the daemon to try %s now (held messages stay held).\n", id ? id : "every queued message");
    return CLI_OK;
}

/* qcli_delete - hold, wait for the lock, log, remove */
static int qcli_delete(const pochta_config *cfg, const char *id, unsigned wait_s)
{
    int fd;
    if (!qcli_in_queue(cfg, id))
        return CLI_FAIL;
    if (queue_hold(cfg->queue_dir, id) != QUEUE_OK) { /* no new attempt may start while we wait */
        cli_err("cannot put %s on hold before deleting it: %s", id, strerror(errno));
        return CLI_FAIL;
    }
    queue_lock_status ls = queue_lock(cfg->queue_dir, id, wait_s * 1000, &fd);
    if (ls == QUEUE_LOCK_BUSY) {
        cli_err("a delivery attempt of %s is still running after %us; the message is on hold, so none will "
                "follow: run delete again in a moment", id, wait_s);
        return CLI_FAIL;
    }
    if (ls == QUEUE_LOCK_ERROR) {
        cli_err("cannot lock %s: %s", id, strerror(errno));
        return CLI_FAIL;
    }
    if (ls == QUEUE_LOCK_GONE) {
        queue_release(cfg->queue_dir, id);
        printf("%s left the queue before it could be deleted (its delivery finished).\n", id);
        return CLI_OK;
    }
    msglog_store(cfg->db_path, id, "deleted", "by=admin");
    queue_status rs = queue_remove(cfg->queue_dir, id);
    queue_unlock(fd);
    queue_release(cfg->queue_dir, id);
    if (rs != QUEUE_OK) {
        cli_err("cannot remove %s: %s", id, strerror(errno));
        return CLI_FAIL;
    }
    queue_request(cfg->queue_dir, id); /* the daemon forgets it at once instead of at its next timer */
    printf("%s is deleted: no further delivery attempts, no failure notice to the sender.\n", id);
    return CLI_OK;
}

/* qcli_wait_arg - parse "--wait SECONDS" at argv[3..]; 1 ok */
static int qcli_wait_arg(int argc, char **argv, unsigned *wait_s)
{
    *wait_s = 60;
    if (argc == 3)
        return 1;
    if (argc != 5 || strcmp(argv[3], "--wait") != 0)
        return 0;
    char *end;
    unsigned long v = strtoul(argv[4], &end, 10);
    if (*argv[4] == '\0' || *end || v > 3600)
        return 0;
    *wait_s = (unsigned)v;
    return 1;
}

/* cli_queue - dispatch the queue subcommands */
int cli_queue(int argc, char **argv, const char *conf_path)
{
    pochta_config cfg;
    const char *sub = argc > 1 ? argv[1] : "";
    const char *id = argc > 2 ? argv[2] : NULL;
    unsigned wait_s = 60;
    int ok = (!strcmp(sub, "list") && argc == 2) || (!strcmp(sub, "flush") && argc <= 3) ||
             ((!strcmp(sub, "show") || !strcmp(sub, "hold") || !strcmp(sub, "release")) && argc == 3) ||
             (!strcmp(sub, "delete") && argc >= 3 && qcli_wait_arg(argc, argv, &wait_s));
    if (!ok)
        return cli_usage_err(QUEUE_CLI_USAGE);
    if (cli_config_load(conf_path, &cfg) != CLI_OK)
        return CLI_USAGE;
    int rc;
    if (!strcmp(sub, "list"))
        rc = qcli_list(&cfg);
    else if (!strcmp(sub, "show"))
        rc = qcli_show(&cfg, id);
    else if (!strcmp(sub, "flush"))
        rc = qcli_flush(&cfg, id);
    else if (!strcmp(sub, "hold"))
        rc = qcli_hold(&cfg, id);
    else if (!strcmp(sub, "release"))
        rc = qcli_release(&cfg, id);
    else
        rc = qcli_delete(&cfg, id, wait_s);
    config_free(&cfg);
    return rc;
}
