/*
 * config - read, check and print pochta.conf.
 *
 * Format: one `key = value` per line; `#` starts a comment; blank lines are
 * ignored; values are taken verbatim after trimming (no quoting needed).
 * Unknown keys, bad numbers and missing required keys are errors that
 * name file, line and problem ("pochta.conf:12: unknown key 'smtp_lisen'").
 * Sizes accept k/M/G suffixes (powers of 1024); durations s/m/h/d.
 * Relative paths are taken relative to the directory of the config file.
 *
 * The daemon re-reads nothing at run time except the account database;
 * accounts change without restart because they live in SQLite.
 */
#ifndef POCHTA_CONFIG_CONFIG_H
#define POCHTA_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct pochta_config {
    char *path;               /* the file read */
    char *hostname;           /* our name in banners, HELO and Received: (required) */
    char *state_dir;          /* default: the config file's directory */
    char *queue_dir;          /* derived: state_dir/queue */
    char *mail_dir;           /* derived: state_dir/mail (Maildirs: mail_dir/DOMAIN/LOCAL/) */
    char *db_path;            /* derived: state_dir/pochta.db */

    char *smtp_listen;        /* "ADDR:PORT" for port-25 service, NULL = off */
    char *submission_listen;  /* "ADDR:PORT" STARTTLS submission, NULL = off */
    char *submissions_listen; /* "ADDR:PORT" implicit-TLS submission, NULL = off */
    char *pop3_listen;        /* "ADDR:PORT", NULL = off */
    char *pop3s_listen;       /* "ADDR:PORT" implicit-TLS POP3 (995-style), NULL = off */
    char *dns_server;         /* "ADDR:PORT" to forward queries to; NULL = resolv.conf */
    unsigned dns_timeout_ms;  /* deadline of one DNS query, then TEMPFAIL (4xx), default 5000 */

    char *tls_cert;           /* PEM certificate chain; NULL = no STARTTLS */
    char *tls_key;            /* PEM private key */
    char *trusted_networks;   /* CIDR list allowed to relay without AUTH; NULL = none */

    size_t max_message_size;  /* bytes, default 10M */
    unsigned max_recipients;  /* per transaction, default 100 */
    unsigned max_errors;      /* errors before 421 and close, default 10 */
    unsigned idle_timeout;    /* seconds a client may stay silent, default 300 */
    unsigned data_timeout;    /* seconds between DATA chunks, default 600 */
    unsigned max_connections; /* whole server, default 1000 */
    unsigned max_conn_per_ip; /* default 20 */
    unsigned greet_pause_ms;  /* early-talker window before the banner, default 0 = off */

    unsigned send_limit_per_day; /* messages an authenticated user may send a day, default 500, 0 = no limit */
    unsigned auth_fail_max_ip;   /* failed AUTH per client IP within auth_fail_window, default 10 */
    unsigned auth_fail_max_user; /* failed AUTH per account within auth_fail_window, default 10 */
    unsigned auth_fail_window;   /* seconds, default 15m */

    unsigned queue_workers;   /* fsync/delivery worker threads, default 4 */
    unsigned retry_min;       /* seconds before the first retry, default 300 */
    unsigned retry_max;       /* cap for the growing backoff, default 4h */
    unsigned queue_lifetime;  /* seconds before giving up, default 5d */
    unsigned remote_smtp_port; /* TCP port of remote MX hosts, default 25 (tests, smarthosts) */
    unsigned remote_timeout;  /* seconds one remote SMTP read/write/connect may take, default 300 */
    unsigned remote_destination_concurrency; /* outbound sessions per recipient domain, default 20 */
    unsigned remote_connection_reuse_time;   /* seconds an idle outbound connection is kept, default 5; 0 = off */
    char *dkim_key_dir;       /* DOMAIN.SELECTOR.pem signing keys; NULL = state_dir/dkim */
    unsigned delay_warning;   /* seconds in the queue before a "delayed" DSN, default 4h; 0 = never */
    unsigned msglog_retention; /* seconds message-log rows are kept, default 30d; 0 = forever */
    unsigned msglog_max_rows; /* message-log row cap, default 1000000; 0 = none */

    char *authserv_id;        /* Authentication-Results id (RFC 8601); NULL = hostname */
    char *spf_fail_action;    /* reject | mark */
    char *spf_temperror_action; /* defer | mark */
    char *dmarc_policy;       /* enforce | monitor */
    char *dmarc_temperror_action; /* defer | accept */
    char *auth_trusted_forwarders; /* CIDR list whose mail is exempt from SPF/DMARC refusals; NULL = none */

    char *pop3_cleartext_login; /* refuse | allow: USER/PASS and AUTH without TLS */
    unsigned pop_before_smtp; /* seconds a POP3 login lets that IP relay; 0 = off */
    char *quota_full_reply;   /* defer (452 4.2.2) | reject (552 5.2.2) at RCPT for a full mailbox */

    /* envelope policy (src/policy/, docs/internals/policy.md); lists are parsed by policy_conf_parse */
    char *policy_mode;        /* enforce | warn | off */
    char *policy_stage[5];    /* check lists for connect, helo, mail, rcpt, data; NULL = none */
    char *policy_whitelist;   /* CIDRs, domains, addresses that skip every check; NULL = none */
    char *policy_exempt;      /* CHECK:ENTRY pairs, per-check whitelist; NULL = none */
    unsigned greylist_delay;  /* seconds before a retry is accepted, default 5m */
    unsigned greylist_window; /* a retry must come within this, default 2d */
    unsigned greylist_expire; /* passed triplets and known clients are kept this long, default 35d */
    unsigned greylist_auto_whitelist; /* passed triplets after which a client network skips greylisting (0 = never) */
    char *dnsbl_zones;        /* ZONE[=CODES][*WEIGHT] ...; NULL = none (off) */
    char *dnsbl_allowlists;   /* ZONE[=CODES] ...; NULL = none */
    unsigned dnsbl_threshold; /* summed weight that refuses a client, default 1 */
    char *doctor_dnsbl;       /* IP blocklists `pochta doctor` asks about our server; NULL = none */
    char *doctor_uribl;       /* domain blocklists `pochta doctor` asks about our domain; NULL = none */
    unsigned rate_connections; /* per client IP per minute, 0 = off */
    unsigned rate_messages;   /* MAIL commands per client IP per minute, 0 = off */
    unsigned rate_recipients; /* accepted RCPTs per client IP per minute, 0 = off */
    unsigned callout_positive_ttl; /* sender_verify: an address that exists is remembered this long */
    unsigned callout_negative_ttl; /* sender_verify: a refused address is remembered this long */
    unsigned callout_rate;    /* sender_verify probes per sender domain per minute */
    unsigned callout_timeout; /* sender_verify: whole probe dialogue, seconds */
    unsigned callout_port;    /* sender_verify: TCP port of the sender's MX (25; tests use another) */

    unsigned bounce_suppress_after; /* hard bounces before an address is suppressed, default 3 (src/bounce) */

    int log_syslog;           /* log = syslog | stderr (default stderr) */
    int log_level;            /* log_level enum from lib/log.h, default info */
} pochta_config;

/* config_load - parse path into cfg (zeroed first). 0 on success; -1 with err "FILE:LINE: problem". */
int config_load(const char *path, pochta_config *cfg, char *err, size_t errlen);
/* config_load_client - config_load without the daemon-only checks (tls_cert/tls_key readable), for
 * programs run by any local user such as `pochta sendmail` */
int config_load_client(const char *path, pochta_config *cfg, char *err, size_t errlen);
/* config_print - write the effective settings, one `key = value` a line (pochtad -n) */
void config_print(const pochta_config *cfg, FILE *out);
void config_free(pochta_config *cfg);

/* config_write_default - write a commented pochta.conf for `pochta init` */
typedef struct config_init_opts {
    const char *dir;
    const char *hostname;
    const char *domain;
    const char *smtp, *submission, *submissions, *pop3, *dns;  /* NULL = default/off */
} config_init_opts;
int config_write_default(const config_init_opts *o, const char *path, char *err, size_t errlen);

#endif
