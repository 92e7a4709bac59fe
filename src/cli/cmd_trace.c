/*
 * cmd_trace - `pochta -c CONF trace QUEUE-ID|MESSAGE-ID|ADDRESS [--limit N]`:
 * the support desk's questions about one message, answered in plain words
 * from the message log (store/msglog.h) and the queue:
 *   was it accepted (when, from whom) or refused (with our reply)?
 *   what did each delivery attempt get (host, IP, TLS, the remote reply)?
 *   is it still in the queue (next attempt, on hold)?
 *   was it delivered with a 250 (and the remote queue ID) or bounced, why?
 * A Message-ID finds the queue IDs that carried it; an address lists the
 * recent messages to or from it (newest first, --limit, default 20) and
 * tells the whole story when there is just one.
 * Exit 0 when something was found, 1 when nothing is known, 2 usage.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/cli_fmt.h"
#include "queue/queue_admin.h"
#include "queue/queue_file.h"
#include "store/msglog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_USAGE "trace QUEUE-ID|MESSAGE-ID|ADDRESS [--limit N]"
#define TRACE_RCPTS_MAX 64 /* recipients whose outcome the summary lists */
#define TRACE_VAL 4200      /* one value read back from a row (a whole remote reply fits) */

typedef struct trace_rcpt {
    char to[320];
    char outcome[TRACE_VAL]; /* the last word about this recipient */
} trace_rcpt;

typedef struct trace_ctx {
    int quiet;               /* only collect (address list), print nothing per row */
    int queued, refused, deleted, removed;
    double first_ts, queued_ts, end_ts;
    char from[320], client[400], refusal[TRACE_VAL];
    trace_rcpt rcpts[TRACE_RCPTS_MAX];
    size_t nrcpts;
    char v[TRACE_VAL], w[TRACE_VAL]; /* scratch values */
} trace_ctx;

/* trace_rcpt_set - remember the latest outcome of to; a final outcome reached through orig (alias)
 * replaces the "still deferred" line of orig */
static void trace_rcpt_set(trace_ctx *t, const char *to, const char *orig, const char *outcome)
{
    if (orig[0] && strcmp(orig, to) != 0)
        for (size_t k = 0; k < t->nrcpts; k++)
            if (strcmp(t->rcpts[k].to, orig) == 0 && strncmp(t->rcpts[k].outcome, "still deferred", 14) == 0) {
                t->rcpts[k] = t->rcpts[--t->nrcpts];
                break;
            }
    size_t i = 0;
    while (i < t->nrcpts && strcmp(t->rcpts[i].to, to) != 0)
        i++;
    if (i == t->nrcpts) {
        if (t->nrcpts == TRACE_RCPTS_MAX)
            return;
        snprintf(t->rcpts[t->nrcpts++].to, sizeof t->rcpts[0].to, "%s", to);
    }
    snprintf(t->rcpts[i].outcome, sizeof t->rcpts[i].outcome, "%s", outcome);
}

/* trace_say - print one dated line of the story (unless quiet) */
static void trace_say(const trace_ctx *t, double ts, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void trace_say(const trace_ctx *t, double ts, const char *fmt, ...)
{
    if (t->quiet)
        return;
    char when[32];
    printf("  %s  ", cli_fmt_time((time_t)ts, when, sizeof when));
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* trace_smtp - what happened in our SMTP dialogue: mail, rcpt, refused, queued */
static int trace_smtp(trace_ctx *t, double ts, const char *ev, const char *d)
{
    char to[320], code[16], enh[16];
    cli_kv(d, "code", code, sizeof code);
    cli_kv(d, "enh", enh, sizeof enh);
    cli_kv(d, "text", t->v, sizeof t->v);
    if (!strcmp(ev, "mail") && cli_kv(d, "result", t->w, sizeof t->w) && !strcmp(t->w, "refused")) {
        if (cli_kv(d, "from", t->from, sizeof t->from)) /* refused before its transaction: one row says all */
            cli_kv(d, "client", t->client, sizeof t->client);
        snprintf(t->refusal, sizeof t->refusal, "MAIL FROM:%s refused: we replied %s %s %.3000s", t->from, code, enh,
                 t->v);
        trace_say(t, ts, "%s%s%s%s", t->refusal, t->client[0] ? " (client " : "", t->client, t->client[0] ? ")" : "");
    } else if (!strcmp(ev, "mail")) {
        cli_kv(d, "from", t->from, sizeof t->from);
        cli_kv(d, "client", t->client, sizeof t->client);
        cli_kv(d, "helo", t->w, sizeof t->w);
        cli_kv(d, "tls", code, sizeof code);
        trace_say(t, ts, "Client %s (HELO %s, TLS %s) sent MAIL FROM:%s", t->client, t->w, code, t->from);
    } else if (!strcmp(ev, "rcpt")) {
        cli_kv(d, "to", to, sizeof to);
        int refused = cli_kv(d, "result", t->w, sizeof t->w) && !strcmp(t->w, "refused");
        if (refused) {
            snprintf(t->w, sizeof t->w, "we replied %s %s %s: %.3000s", code, enh, to, t->v);
            snprintf(t->refusal, sizeof t->refusal, "RCPT TO:%s: %.3500s", to, t->w);
            snprintf(t->w, sizeof t->w, "refused at RCPT TO: we replied %s %s %.3000s", code, enh, t->v);
            trace_rcpt_set(t, to, "", t->w);
        }
        trace_say(t, ts, "RCPT TO:%s %s %s %s%s%s", to, refused ? "REFUSED, we replied" : "accepted:", code, enh,
                  refused ? " " : "", refused ? t->v : "");
    } else if (!strcmp(ev, "refused")) {
        t->refused = 1;
        if (!t->v[0] && !cli_kv(d, "reason", t->v, sizeof t->v))
            snprintf(t->v, sizeof t->v, "(%.3000s)", d); /* e.g. an SPF refusal: its check results */
        snprintf(t->refusal, sizeof t->refusal, "we replied %s %s %.3000s", code[0] ? code : "5xx", enh, t->v);
        trace_say(t, ts, "Message REFUSED: %s", t->refusal);
    } else {
        return 0;
    }
    return 1;
}

/* trace_accept - queued (by SMTP or pochta sendmail), Message-ID */
static int trace_accept(trace_ctx *t, double ts, const char *ev, const char *d)
{
    char n[32], size[32];
    if (!strcmp(ev, "queued")) {
        t->queued = 1;
        t->queued_ts = ts;
        t->refused = 0;
        cli_kv(d, "from", t->from, sizeof t->from);
        cli_kv(d, "nrcpt", n, sizeof n);
        cli_kv(d, "size", size, sizeof size);
        cli_kv(d, "source", t->w, sizeof t->w);
        trace_say(t, ts, "ACCEPTED and queued%s: from %s, %s recipient(s), %s bytes",
                  t->w[0] ? " (submitted locally with pochta sendmail)" : "", t->from, n, size);
    } else if (!strcmp(ev, "message_id")) {
        cli_kv(d, "message_id", t->v, sizeof t->v);
        trace_say(t, ts, "Message-ID: <%s>", t->v);
    } else {
        return 0;
    }
    return 1;
}

/* trace_attempt - one outbound SMTP attempt */
static void trace_attempt(trace_ctx *t, double ts, const char *d)
{
    char to[320], host[300], ip[64], port[16], tls[32], cipher[100];
    cli_kv(d, "to", to, sizeof to);
    cli_kv(d, "host", host, sizeof host);
    cli_kv(d, "ip", ip, sizeof ip);
    if (cli_kv(d, "mx", t->v, sizeof t->v)) {
        cli_kv(d, "domain", host, sizeof host);
        trace_say(t, ts, "Attempt for %s: %s publishes a null MX: it accepts no mail", to, host);
        return;
    }
    if (cli_kv(d, "result", t->v, sizeof t->v) && !strcmp(t->v, "noconnect")) {
        trace_say(t, ts, "Attempt for %s: could not connect to %s [%s]", to, host, ip);
        return;
    }
    cli_kv(d, "port", port, sizeof port);
    cli_kv(d, "tls", tls, sizeof tls);
    cli_kv(d, "cipher", cipher, sizeof cipher);
    cli_kv(d, "reply", t->v, sizeof t->v);
    if (strcmp(tls, "no") != 0)
        snprintf(t->w, sizeof t->w, "over %s (%s)", tls, cipher[0] ? cipher : "cipher not recorded");
    else
        snprintf(t->w, sizeof t->w, "without TLS");
    trace_say(t, ts, "Attempt for %s: %s [%s] port %s %s; last reply: %s", to, host, ip, port, t->w, t->v);
}

/* trace_outcome - deferred, delivered, bounced, expired, dsn */
static int trace_outcome(trace_ctx *t, double ts, const char *ev, const char *d)
{
    char to[320], orig[320], x[64], y[160], when[32];
    cli_kv(d, "to", to, sizeof to);
    cli_kv(d, "orig_to", orig, sizeof orig);
    cli_kv(d, "reason", t->v, sizeof t->v);
    if (!strcmp(ev, "deferred")) {
        cli_kv(d, "attempts", x, sizeof x);
        cli_kv(d, "next_in", y, sizeof y);
        trace_say(t, ts, "DEFERRED %s (attempt %s, retry in %s): %s", to, x,
                  cli_fmt_duration(strtoll(y, NULL, 10), y, sizeof y), t->v);
        snprintf(t->w, sizeof t->w, "still deferred after %s attempt(s): %.3000s", x, t->v);
    } else if (!strcmp(ev, "delivered") && cli_kv(d, "maildir", t->v, sizeof t->v)) {
        trace_say(t, ts, "DELIVERED %s into the local mailbox (%s)", to, t->v);
        snprintf(t->w, sizeof t->w, "delivered into the local mailbox at %s",
                 cli_fmt_time((time_t)ts, when, sizeof when));
    } else if (!strcmp(ev, "delivered")) {
        cli_kv(d, "reply", t->v, sizeof t->v);
        int has_id = cli_kv(d, "remote_id", y, sizeof y);
        trace_say(t, ts, "DELIVERED %s: the remote server answered %s", to, t->v);
        snprintf(t->w, sizeof t->w, "delivered at %s with %.4s%s%s%s", cli_fmt_time((time_t)ts, when, sizeof when),
                 t->v, has_id ? "(remote queue ID " : "(the reply names no remote queue ID",
                 has_id ? y : "", ")");
    } else if (!strcmp(ev, "bounced")) {
        cli_kv(d, "status", x, sizeof x);
        trace_say(t, ts, "BOUNCED %s (status %s): %s", to, x, t->v);
        snprintf(t->w, sizeof t->w, "bounced with status %s: %.3000s", x, t->v);
    } else if (!strcmp(ev, "expired")) {
        trace_say(t, ts, "Gave up on %s: it stayed in the queue too long (%s)", to, t->v);
        return 1;
    } else if (!strcmp(ev, "dsn")) {
        cli_kv(d, "action", x, sizeof x);
        cli_kv(d, "dsn_id", y, sizeof y);
        trace_say(t, ts, "A %s notice about %s went to the sender %s (queue ID %s)",
                  !strcmp(x, "delayed") ? "delay" : "failure", cli_kv(d, "rcpt", t->v, sizeof t->v) ? t->v : "?", to,
                  y);
        return 1;
    } else {
        return 0;
    }
    trace_rcpt_set(t, to, orig, t->w);
    return 1;
}

/* trace_admin - removed, and the administrator's queue commands */
static int trace_admin(trace_ctx *t, double ts, const char *ev)
{
    if (!strcmp(ev, "removed")) {
        t->removed = 1;
        t->end_ts = ts;
        trace_say(t, ts, "Left the queue: every recipient has a final outcome");
    } else if (!strcmp(ev, "deleted")) {
        t->deleted = 1;
        t->end_ts = ts;
        trace_say(t, ts, "DELETED from the queue by the administrator (pochta queue delete)");
    } else if (!strcmp(ev, "held") || !strcmp(ev, "released") || !strcmp(ev, "flush")) {
        trace_say(t, ts, "%s by the administrator", !strcmp(ev, "held")       ? "Put on hold"
                                                    : !strcmp(ev, "released") ? "Released from hold"
                                                                              : "Delivery attempt requested now");
    } else {
        return 0;
    }
    return 1;
}

/* trace_row - one stored event of the message */
static void trace_row(void *arg, double ts, const char *ev, const char *d)
{
    trace_ctx *t = arg;
    if (!t->first_ts)
        t->first_ts = ts;
    if (trace_smtp(t, ts, ev, d) || trace_accept(t, ts, ev, d) || trace_outcome(t, ts, ev, d) ||
        trace_admin(t, ts, ev))
        return;
    if (!strcmp(ev, "attempt"))
        trace_attempt(t, ts, d);
    else if (!strcmp(ev, "dkim"))
        trace_say(t, ts, "DKIM-signed before sending");
    else
        trace_say(t, ts, "Check %s: %s", ev, d); /* spf, auth and other checks: as logged */
}

/* trace_queue_state - "still in the queue" with its next attempt, or 0 when it is not there */
static int trace_queue_state(const pochta_config *cfg, const char *id)
{
    queue_msg *m;
    queue_rcpt_state *st;
    int gone;
    char err[512], when[32], in[32];
    if (queue_load(cfg->queue_dir, id, &m, &st, &gone, err, sizeof err) != QUEUE_OK) {
        if (!gone)
            printf("  In the queue:  cannot tell (%s)\n", err);
        return !gone;
    }
    time_t now = time(NULL), next = 0;
    size_t pending = 0;
    for (size_t i = 0; i < m->nrcpts; i++) {
        if (st[i].status == QRCPT_DONE || st[i].status == QRCPT_BOUNCED)
            continue;
        pending++;
        time_t n = st[i].status == QRCPT_PENDING ? now : st[i].next;
        if (!next || n < next)
            next = n;
    }
    if (queue_held(cfg->queue_dir, id))
        printf("  In the queue:  YES, ON HOLD (%zu recipient(s) pending): no attempts until "
               "`pochta queue release %s`\n", pending, id);
    else
        printf("  In the queue:  YES, %zu recipient(s) pending; next attempt %s (in %s)\n", pending,
               cli_fmt_time(next, when, sizeof when), cli_fmt_duration(next - now, in, sizeof in));
    queue_state_free(st, m->nrcpts);
    free(st);
    queue_msg_free(m);
    return 1;
}

/* trace_summary - the answers, after the story */
static void trace_summary(const pochta_config *cfg, const char *id, const trace_ctx *t)
{
    char when[32];
    printf("Summary:\n");
    if (t->queued)
        printf("  Accepted:      YES, at %s, from %s%s%s\n", cli_fmt_time((time_t)t->queued_ts, when, sizeof when),
               t->from, t->client[0] ? " sent by " : "", t->client);
    else if (t->refusal[0])
        printf("  Accepted:      NO, refused at SMTP time (never queued): %s\n", t->refusal);
    else
        printf("  Accepted:      not recorded (no \"queued\" event for %s)\n", id);
    if (!trace_queue_state(cfg, id) && (t->queued || t->removed || t->deleted))
        printf("  In the queue:  no%s%s\n", t->deleted ? ", deleted by the administrator at " : ", finished at ",
               t->end_ts ? cli_fmt_time((time_t)t->end_ts, when, sizeof when) : "an unrecorded time");
    for (size_t i = 0; i < t->nrcpts; i++)
        printf("  %s: %s\n", t->rcpts[i].to, t->rcpts[i].outcome);
}

/* trace_id - the whole story of one queue ID; 1 when anything is known */
static int trace_id(const pochta_config *cfg, const char *id)
{
    trace_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return 0;
    printf("Message %s\n", id);
    long n = msglog_each(cfg->db_path, id, trace_row, t);
    int known = n > 0;
    if (n <= 0)
        printf("  (nothing in the message log%s)\n", n < 0 ? ": it cannot be read" : "");
    if (n > 0 || queue_held(cfg->queue_dir, id))
        trace_summary(cfg, id, t);
    else
        known = trace_queue_state(cfg, id);
    free(t);
    return known;
}

typedef struct trace_found {
    char (*ids)[QUEUE_ID_SIZE + 8];
    size_t n, max;
} trace_found;

/* trace_found_add - collect one ID of a search */
static void trace_found_add(void *arg, const char *id, double last_ts)
{
    trace_found *f = arg;
    (void)last_ts;
    if (f->n < f->max)
        snprintf(f->ids[f->n++], sizeof f->ids[0], "%s", id);
}

/* trace_brief - one line about one message of an address search */
static void trace_brief(const pochta_config *cfg, const char *id)
{
    trace_ctx *t = calloc(1, sizeof *t);
    char when[32];
    if (!t)
        return;
    t->quiet = 1;
    msglog_each(cfg->db_path, id, trace_row, t);
    const char *state = t->deleted ? "deleted by the administrator" : t->queued && !t->removed ? "in the queue"
                        : t->queued                                    ? "finished"
                        : t->refusal[0]                                ? "REFUSED"
                                                                       : "not queued";
    printf("%s  %s  from %s  %s\n", id, cli_fmt_time((time_t)t->first_ts, when, sizeof when),
           t->from[0] ? t->from : "<?>", state);
    if (!t->queued && t->refusal[0])
        printf("    %s\n", t->refusal);
    for (size_t i = 0; i < t->nrcpts; i++)
        printf("    %s: %s\n", t->rcpts[i].to, t->rcpts[i].outcome);
    free(t);
}

/* trace_search - Message-ID first, then address; exit code */
static int trace_search(const pochta_config *cfg, const char *arg, long limit)
{
    char key[1024];
    size_t len = strlen(arg);
    if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>')
        snprintf(key, sizeof key, "%.*s", (int)(len - 2), arg + 1);
    else
        snprintf(key, sizeof key, "%s", arg);
    trace_found f = {calloc((size_t)limit, sizeof *f.ids), 0, (size_t)limit};
    if (!f.ids)
        return CLI_FAIL;
    int rc = CLI_OK;
    if (msglog_find(cfg->db_path, 'm', key, limit, trace_found_add, &f) > 0) {
        for (size_t i = 0; i < f.n; i++)
            trace_id(cfg, f.ids[i]);
    } else if (msglog_find(cfg->db_path, 'a', key, limit, trace_found_add, &f) == 1) {
        trace_id(cfg, f.ids[0]);
    } else if (f.n > 0) {
        printf("Messages to or from <%s>, newest first (at most %ld; pochta trace ID tells one whole story):\n",
               key, limit);
        for (size_t i = 0; i < f.n; i++)
            trace_brief(cfg, f.ids[i]);
    } else {
        cli_err("nothing is known about %s (no message with that Message-ID, none to or from that address "
                "in the message log)", arg);
        rc = CLI_FAIL;
    }
    free(f.ids);
    return rc;
}

/* cli_trace - pochta trace QUEUE-ID|MESSAGE-ID|ADDRESS [--limit N] */
int cli_trace(int argc, char **argv, const char *conf_path)
{
    long limit = 20;
    if (argc == 4 && strcmp(argv[2], "--limit") == 0) {
        char *end;
        limit = strtol(argv[3], &end, 10);
        if (*argv[3] == '\0' || *end || limit < 1 || limit > 1000)
            return cli_usage_err(TRACE_USAGE);
    } else if (argc != 2) {
        return cli_usage_err(TRACE_USAGE);
    }
    pochta_config cfg;
    if (cli_config_load(conf_path, &cfg) != CLI_OK)
        return CLI_USAGE;
    int rc;
    if (queue_id_valid(argv[1])) {
        rc = trace_id(&cfg, argv[1]) ? CLI_OK : CLI_FAIL;
        if (rc != CLI_OK)
            cli_err("nothing is known about %s", argv[1]);
    } else if (strchr(argv[1], '@')) {
        rc = trace_search(&cfg, argv[1], limit);
    } else {
        cli_err("\"%s\" is neither a queue ID (16 upper-case hex digits), a Message-ID nor an address", argv[1]);
        rc = CLI_USAGE;
    }
    config_free(&cfg);
    return rc;
}
