/*
 * pochtad - the pochta mail server daemon.
 *
 *   pochtad -c CONF        run in the foreground (logs to stderr or syslog)
 *   pochtad -c CONF -n     check the configuration, print the effective
 *                          settings and exit (2 on a bad configuration)
 *
 * main() only wires the parts together in the order a message travels:
 * accounts and message log -> DNS -> queue -> scheduler (delivery) -> SMTP
 * listener -> POP3 listener (reading the Maildirs); shutdown (SIGTERM/SIGINT) runs the same list backwards so that
 * every message already acknowledged is on disk and no session is left.
 */
#include "config/config.h"
#include "deliver/scheduler.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "policy/policy.h"
#include "pop3/pop3_server.h"
#include "queue/queue.h"
#include "queue/queue_control.h"
#include "queue/queue_pickup.h"
#include "smtp/smtp_server.h"
#include "smtp/smtp_session.h"
#include "bounce/bounce_store.h"
#include "bounce/bounce_verp.h"
#include "store/accounts.h"
#include "store/msglog.h"
#include "store/dmarcstore.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

typedef struct pochtad {
    pochta_config cfg;
    struct event_base *base;
    accounts *accounts;
    dns_resolver *dns;
    queue *queue;
    scheduler *sched;
    queue_pickup *pickup;  /* mail dropped by `pochta sendmail` */
    queue_control *control; /* pochta queue flush|release requests */
    smtp_server smtp;
    pop3_server *pop3;
    struct event *sig_term, *sig_int;
    int msglog_on;
} pochtad;

/* pochtad_usage - print the synopsis */
static int pochtad_usage(FILE *out)
{
    fprintf(out, "usage: pochtad -c CONF [-n]\n"
                 "  -c CONF  configuration file (see pochta.conf(5))\n"
                 "  -n       check the configuration, print effective settings, exit\n");
    return out == stdout ? 0 : 2;
}

/* pochtad_on_committed - a message is durable: ask the scheduler to deliver it */
static void pochtad_on_committed(void *arg, const char *id)
{
    pochtad *d = arg;
    if (d->sched)
        scheduler_kick(d->sched, id);
}

/* pochtad_on_signal - SIGTERM/SIGINT: leave the loop, then shut down in order */
static void pochtad_on_signal(evutil_socket_t sig, short what, void *arg)
{
    pochtad *d = arg;
    log_info(NULL, "event=stopping signal=%d", (int)sig);
    smtp_server_stop(&d->smtp);
    pop3_server_stop(d->pop3);
    d->pop3 = NULL;
    event_base_loopexit(d->base, NULL);
}

/* pochtad_raise_fd_limit - thousands of sessions need thousands of descriptors */
static void pochtad_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* pochtad_start - open every part; 0 or -1 with err */
static int pochtad_start(pochtad *d, char *err, size_t errlen)
{
    const pochta_config *cfg = &d->cfg;
    d->base = event_base_new();
    if (!d->base) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    if (!(d->accounts = accounts_open(cfg->db_path, err, errlen)))
        return -1;
    msglog_set_retention((double)cfg->msglog_retention, (long)cfg->msglog_max_rows);
    if (msglog_start(cfg->db_path, err, errlen) < 0)
        return -1;
    /* the VERP secret (created on first start when `pochta init` predates it) and the suppression list */
    if (bounce_verp_key_load(cfg->state_dir, 1, err, errlen) < 0)
        return -1;
    if (!(d->smtp.bounces = bounce_store_open(cfg->db_path))) {
        snprintf(err, errlen, "cannot open the bounce tables in %s", cfg->db_path);
        return -1;
    }
    d->msglog_on = 1;
    if (dmarcstore_start(cfg->db_path, err, errlen) < 0)
        return -1;
    dns_resolver *unbound = dns_unbound_new(d->base, cfg->dns_server, err, errlen);
    if (!unbound)
        return -1;
    dns_unbound_set_timeout(unbound, cfg->dns_timeout_ms);
    /* the envelope checks ask the same names for every message of a client: keep the answers here */
    d->dns = dns_cache_new(d->base, unbound, DNS_CACHE_SLOTS, DNS_CACHE_MAX_TTL);
    if (!(d->queue = queue_open(d->base, cfg, pochtad_on_committed, d, err, errlen)))
        return -1;
    if (!(d->sched = scheduler_start(d->base, cfg, err, errlen)))
        return -1;
    if (!(d->pickup = queue_pickup_start(d->base, cfg, pochtad_on_committed, d, err, errlen)))
        return -1;
    if (!(d->control = queue_control_start(d->base, cfg->queue_dir, scheduler_flush, d->sched, err, errlen)))
        return -1;
    d->smtp.base = d->base;
    d->smtp.cfg = cfg;
    d->smtp.accounts = d->accounts;
    d->smtp.queue = d->queue;
    d->smtp.dns = d->dns;
    if (!(d->smtp.policy = policy_engine_new(cfg, d->base, d->dns, d->accounts, err, errlen)))
        return -1;
    if (cfg->tls_cert && !(d->smtp.tls = smtp_tls_context(cfg->tls_cert, cfg->tls_key, err, errlen)))
        return -1;
    if (cfg->pop_before_smtp > 0) { /* POP-before-SMTP: a recent POP3 login may relay */
        d->smtp.relay_hook = pop3_relay_hook;
        d->smtp.relay_hook_arg = d->accounts;
    }
    /* port 25 and the submission services (587, 465) share one server */
    if ((cfg->smtp_listen || cfg->submission_listen || cfg->submissions_listen) &&
        smtp_server_start(&d->smtp, err, errlen) < 0)
        return -1;
    if ((cfg->pop3_listen || cfg->pop3s_listen) &&
        !(d->pop3 = pop3_server_start(d->base, cfg, d->smtp.tls, err, errlen)))
        return -1;
    d->sig_term = evsignal_new(d->base, SIGTERM, pochtad_on_signal, d);
    d->sig_int = evsignal_new(d->base, SIGINT, pochtad_on_signal, d);
    event_add(d->sig_term, NULL);
    event_add(d->sig_int, NULL);
    return 0;
}

/* pochtad_stop - close every part, last opened first */
static void pochtad_stop(pochtad *d)
{
    smtp_server_stop(&d->smtp);
    policy_engine_free(d->smtp.policy); /* after the sessions that used it */
    d->smtp.policy = NULL;
    pop3_server_stop(d->pop3);
    d->pop3 = NULL;
    queue_control_stop(d->control); /* before the scheduler it kicks */
    d->control = NULL;
    queue_pickup_stop(d->pickup); /* before the queue and the scheduler it feeds */
    d->pickup = NULL;
    if (d->queue)
        queue_close(d->queue); /* finishes writes in flight */
    if (d->sched)
        scheduler_stop(d->sched);
    if (d->smtp.tls)
        SSL_CTX_free(d->smtp.tls);
    if (d->dns)
        dns_resolver_free(d->dns);
    if (d->sig_term)
        event_free(d->sig_term);
    if (d->sig_int)
        event_free(d->sig_int);
    dmarcstore_stop(); /* after the SMTP server: no session adds rows any more */
    if (d->msglog_on)
        msglog_stop();
    if (d->accounts)
        accounts_close(d->accounts);
    bounce_store_close(d->smtp.bounces);
    if (d->base)
        event_base_free(d->base);
    config_free(&d->cfg);
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(argv[i], "-n") == 0)
            check_only = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return pochtad_usage(stdout);
        else if (strcmp(argv[i], "--version") == 0)
            return printf("pochtad %s\n", POCHTA_VERSION) < 0;
        else
            return pochtad_usage(stderr);
    }
    if (!conf)
        return pochtad_usage(stderr);

    static pochtad d;
    char err[512];
    if (config_load(conf, &d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pochtad: %s\n", err);
        return 2;
    }
    if (check_only && policy_conf_check(&d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pochtad: %s: %s\n", conf, err);
        config_free(&d.cfg);
        return 2;
    }
    if (check_only) {
        config_print(&d.cfg, stdout);
        config_free(&d.cfg);
        return 0;
    }
    log_init("pochtad", d.cfg.log_syslog, (log_level)d.cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    pochtad_raise_fd_limit();
    int rc = 0;
    if (pochtad_start(&d, err, sizeof err) < 0) {
        log_error(NULL, "event=start_failed error=\"%s\"", err);
        fprintf(stderr, "pochtad: %s\n", err);
        rc = 1;
    } else {
        log_info(NULL, "event=started version=%s hostname=%s", POCHTA_VERSION, d.cfg.hostname);
        event_base_dispatch(d.base);
    }
    pochtad_stop(&d);
    log_info(NULL, "event=stopped");
    return rc;
}
