/*
 * test_config - config_load got/want tables: good texts and the values they
 * give, bad texts and the exact "FILE:LINE: problem" they give; then
 * config_print round trip and config_write_default.
 */
#include "check.h"
#include "config/config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/pochta-test-config-XXXXXX";
static char conf[300];

/* write_conf - put text into dir/pochta.conf */
static void write_conf(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

typedef struct {
    const char *text;
    const char *want_err; /* suffix after "DIR/pochta.conf" or NULL for success */
} bad_case;

static const bad_case bad_cases[] = {
    {"", ": missing required key 'hostname'"},
    {"hostname = mx.example.test\nsmtp_lisen = 1.2.3.4:25\n", ":2: unknown key 'smtp_lisen'"},
    {"hostname = mx.example.test\nhostname = b.test\n", ":2: duplicate key 'hostname' (first set on line 1)"},
    {"hostname mx.example.test\n", ":1: expected 'key = value'"},
    {"hostname = mx example\n", ":1: hostname: bad host name 'mx example'"},
    {"hostname = h.test\nmax_recipients = ten\n", ":2: max_recipients: bad number 'ten'"},
    {"hostname = h.test\nmax_recipients = -1\n", ":2: max_recipients: bad number '-1'"},
    {"hostname = h.test\nmax_recipients = 0\n", ":2: max_recipients: value out of range '0'"},
    {"hostname = h.test\nmax_recipients = 99999999999999999999999\n",
     ":2: max_recipients: bad number '99999999999999999999999'"},
    {"hostname = h.test\n\n# c\nmax_message_size = 10X\n",
     ":4: max_message_size: bad size: want a number with optional k, M or G '10X'"},
    {"hostname = h.test\nidle_timeout = 5 m\n",
     ":2: idle_timeout: bad duration: want a number with optional s, m, h or d '5 m'"},
    {"hostname = h.test\nidle_timeout = 2d\n", ":2: idle_timeout: value out of range '2d'"},
    {"hostname = h.test\nsmtp_listen = 127.0.0.1\n",
     ":2: smtp_listen: bad address: want ADDR:PORT, [IPV6]:PORT or *:PORT '127.0.0.1'"},
    {"hostname = h.test\nsmtp_listen = ::1:25\n",
     ":2: smtp_listen: bad address: want ADDR:PORT, [IPV6]:PORT or *:PORT '::1:25'"},
    {"hostname = h.test\nsmtp_listen = 1.2.3.4:70000\n",
     ":2: smtp_listen: bad address: want ADDR:PORT, [IPV6]:PORT or *:PORT '1.2.3.4:70000'"},
    {"hostname = h.test\ntrusted_networks = 10.0.0.0/8, 300.1.1.1\n",
     ":2: trusted_networks: bad network '300.1.1.1': want ADDR or ADDR/BITS (IPv4 or IPv6) '10.0.0.0/8, 300.1.1.1'"},
    {"hostname = h.test\nsend_limit_per_day = many\n", ":2: send_limit_per_day: bad number 'many'"},
    {"hostname = h.test\ndns_server = [fe80::zz]:53\n",
     ":2: dns_server: bad address: want ADDR:PORT, [IPV6]:PORT or *:PORT '[fe80::zz]:53'"},
    {"hostname = h.test\nlog = file\n", ":2: log: bad value: want stderr or syslog 'file'"},
    {"hostname = h.test\nlog_level = loud\n", ":2: log_level: bad value: want debug, info, warn or error 'loud'"},
    {"hostname = h.test\nspf_fail_action = drop\n", ":2: spf_fail_action: bad value: want one of reject|mark 'drop'"},
    {"hostname = h.test\ndmarc_policy = Enforce\n", ":2: dmarc_policy: bad value: want one of enforce|monitor 'Enforce'"},
    {"hostname = h.test\nauth_trusted_forwarders = 192.0.2.0/33\n", NULL},
    {"hostname = h.test\ntls_cert = cert.pem\n", ":2: tls_cert without tls_key"},
    {"hostname = h.test\n\ntls_key = key.pem\n", ":3: tls_key without tls_cert"},
    {"hostname = h.test\nstate_dir = nowhere\n", NULL}, /* message holds the path: checked below */
    {"hostname = h.test\nretry_min = 5h\nretry_max = 1h\n", ":2: retry_min (18000 s) is larger than retry_max (3600 s)"},
};

/* test_bad - every bad text fails with the wanted message */
static void test_bad(void)
{
    char err[512], want[700];
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        pochta_config cfg;
        write_conf(conf, bad_cases[i].text);
        int rc = config_load(conf, &cfg, err, sizeof err);
        CHECK(rc == -1, "bad case %zu loaded", i);
        if (rc == 0) {
            config_free(&cfg);
            continue;
        }
        if (bad_cases[i].want_err) {
            snprintf(want, sizeof want, "%s%s", conf, bad_cases[i].want_err);
            CHECK_STR(err, want, bad_cases[i].text);
        }
    }
    pochta_config cfg;
    write_conf(conf, "hostname = h.test\nstate_dir = nowhere\n");
    config_load(conf, &cfg, err, sizeof err);
    snprintf(want, sizeof want, "%s:2: state_dir '%s/nowhere' is not a directory", conf, dir);
    CHECK_STR(err, want, "state_dir missing");
    CHECK(config_load("/nonexistent/pochta.conf", &cfg, err, sizeof err) == -1, "missing file loaded");
    CHECK_STR(err, "/nonexistent/pochta.conf: cannot open: No such file or directory", "missing file");

    /* an unreadable certificate names its line */
    write_conf(conf, "hostname = h.test\ntls_cert = /nonexistent/c.pem\ntls_key = /nonexistent/k.pem\n");
    CHECK(config_load(conf, &cfg, err, sizeof err) == -1, "unreadable cert loaded");
    snprintf(want, sizeof want, "%s:2: cannot read tls_cert '/nonexistent/c.pem': No such file or directory", conf);
    CHECK_STR(err, want, "unreadable cert");
}

/* test_defaults - a file with only hostname gets every default */
static void test_defaults(void)
{
    char err[512], want[400];
    pochta_config cfg;
    write_conf(conf, "# comment\n\n  hostname   =   mx.example.test   # trailing comment\n");
    CHECK(config_load(conf, &cfg, err, sizeof err) == 0, "minimal: %s", err);
    CHECK_STR(cfg.hostname, "mx.example.test", "hostname");
    CHECK_STR(cfg.state_dir, dir, "state_dir defaults to the config dir");
    snprintf(want, sizeof want, "%s/queue", dir);
    CHECK_STR(cfg.queue_dir, want, "queue_dir");
    snprintf(want, sizeof want, "%s/mail", dir);
    CHECK_STR(cfg.mail_dir, want, "mail_dir");
    snprintf(want, sizeof want, "%s/pochta.db", dir);
    CHECK_STR(cfg.db_path, want, "db_path");
    CHECK_STR(cfg.smtp_listen, "0.0.0.0:25", "smtp_listen default");
    CHECK(!cfg.submission_listen && !cfg.submissions_listen && !cfg.pop3_listen, "listeners off");
    CHECK(!cfg.dns_server && !cfg.tls_cert && !cfg.tls_key, "optional unset");
    CHECK(cfg.max_message_size == 10 * 1024 * 1024, "max_message_size %zu", cfg.max_message_size);
    CHECK(cfg.max_recipients == 100 && cfg.max_errors == 10, "recipients/errors");
    CHECK(cfg.idle_timeout == 300 && cfg.data_timeout == 600, "timeouts");
    CHECK(cfg.max_connections == 1000 && cfg.max_conn_per_ip == 20 && cfg.greet_pause_ms == 0, "conns");
    CHECK(cfg.queue_workers == 4 && cfg.retry_min == 300, "queue");
    CHECK(cfg.retry_max == 4 * 3600 && cfg.queue_lifetime == 5 * 86400, "retry_max %u lifetime %u", cfg.retry_max,
          cfg.queue_lifetime);
    CHECK(cfg.log_syslog == 0 && cfg.log_level == 1, "log");
    CHECK_STR(cfg.authserv_id, "mx.example.test", "authserv_id defaults to hostname");
    CHECK_STR(cfg.spf_fail_action, "reject", "spf_fail_action");
    CHECK_STR(cfg.spf_temperror_action, "defer", "spf_temperror_action");
    CHECK_STR(cfg.dmarc_policy, "enforce", "dmarc_policy");
    CHECK_STR(cfg.dmarc_temperror_action, "defer", "dmarc_temperror_action");
    CHECK(cfg.auth_trusted_forwarders == NULL, "auth_trusted_forwarders");
    config_free(&cfg);
}

/* test_values - explicit values of every type */
static void test_values(void)
{
    char err[512], path[400];
    pochta_config cfg;
    snprintf(path, sizeof path, "%s/c.pem", dir);
    write_conf(path, "x");
    snprintf(path, sizeof path, "%s/k.pem", dir);
    write_conf(path, "x");
    write_conf(conf, "hostname = MX.Example.test\n"
                     "smtp_listen = [::1]:2525\nsubmission_listen = *:587\nsubmissions_listen = 127.0.0.1:465\n"
                     "pop3_listen = off\ndns_server = 127.0.0.1:53\n"
                     "tls_cert = c.pem\ntls_key = k.pem\n"
                     "max_message_size = 512k\nmax_recipients = 5\nidle_timeout = 2m\ndata_timeout = 1h\n"
                     "greet_pause_ms = 1500\nretry_min = 30s\nretry_max = 1d\nqueue_lifetime = 2d\n"
                     "log = syslog\nlog_level = debug\n");
    CHECK(config_load(conf, &cfg, err, sizeof err) == 0, "values: %s", err);
    CHECK_STR(cfg.smtp_listen, "[::1]:2525", "v6 listen");
    CHECK_STR(cfg.submission_listen, "*:587", "wildcard listen");
    CHECK(cfg.pop3_listen == NULL, "pop3 off");
    CHECK_STR(cfg.dns_server, "127.0.0.1:53", "dns");
    snprintf(path, sizeof path, "%s/c.pem", dir);
    CHECK_STR(cfg.tls_cert, path, "tls_cert relative to config dir");
    CHECK(cfg.max_message_size == 512 * 1024, "size k");
    CHECK(cfg.idle_timeout == 120 && cfg.data_timeout == 3600, "durations");
    CHECK(cfg.greet_pause_ms == 1500 && cfg.retry_min == 30 && cfg.retry_max == 86400, "more");
    CHECK(cfg.log_syslog == 1 && cfg.log_level == 0, "log");

    /* config_print output reads back to the same settings */
    char printed[400];
    snprintf(printed, sizeof printed, "%s/printed.conf", dir);
    FILE *f = fopen(printed, "w");
    config_print(&cfg, f);
    fclose(f);
    pochta_config again;
    CHECK(config_load(printed, &again, err, sizeof err) == 0, "printed reloads: %s", err);
    CHECK_STR(again.smtp_listen, cfg.smtp_listen, "round trip listen");
    CHECK_STR(again.tls_key, cfg.tls_key, "round trip key");
    CHECK(again.max_message_size == cfg.max_message_size && again.retry_max == cfg.retry_max &&
              again.log_syslog == 1 && again.pop3_listen == NULL,
          "round trip numbers");
    config_free(&again);
    config_free(&cfg);
}

/* test_write_default - init's file loads, refuses to overwrite, rejects bad options */
static void test_write_default(void)
{
    char err[512], path[400];
    snprintf(path, sizeof path, "%s/init.conf", dir);
    config_init_opts o = {.dir = dir, .hostname = "mx.example.test", .domain = "example.test",
                          .smtp = "127.0.0.1:2525", .dns = "127.0.0.1:5353"};
    CHECK(config_write_default(&o, path, err, sizeof err) == 0, "write: %s", err);
    CHECK(config_write_default(&o, path, err, sizeof err) == -1, "overwrote");
    pochta_config cfg;
    /* init names tls files that `pochta init` makes; make them so the file loads */
    char tls[400];
    snprintf(tls, sizeof tls, "%s/tls", dir);
    mkdir(tls, 0700);
    snprintf(tls, sizeof tls, "%s/tls/cert.pem", dir);
    write_conf(tls, "x");
    snprintf(tls, sizeof tls, "%s/tls/key.pem", dir);
    write_conf(tls, "x");
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "written loads: %s", err);
    CHECK_STR(cfg.smtp_listen, "127.0.0.1:2525", "init smtp");
    CHECK_STR(cfg.submission_listen, "0.0.0.0:587", "init submission default");
    CHECK_STR(cfg.submissions_listen, "0.0.0.0:465", "init submissions default");
    CHECK(cfg.pop3_listen == NULL, "init pop3 off");
    CHECK_STR(cfg.dns_server, "127.0.0.1:5353", "init dns");
    CHECK_STR(cfg.state_dir, dir, "init state_dir");
    config_free(&cfg);
    unlink(path);
    o.smtp = "localhost";
    CHECK(config_write_default(&o, path, err, sizeof err) == -1, "bad --smtp accepted");
    CHECK_STR(err, "--smtp: bad address 'localhost': want ADDR:PORT, [IPV6]:PORT or *:PORT", "bad --smtp");
    o.smtp = NULL;
    o.hostname = "bad host";
    CHECK(config_write_default(&o, path, err, sizeof err) == -1, "bad hostname accepted");
    CHECK(access(path, F_OK) != 0, "file written despite bad options");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf, sizeof conf, "%s/pochta.conf", dir);
    test_bad();
    test_defaults();
    test_values();
    test_write_default();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
