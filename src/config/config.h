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
    char *dns_server;         /* "ADDR:PORT" to forward queries to; NULL = resolv.conf */

    char *tls_cert;           /* PEM certificate chain; NULL = no STARTTLS */
    char *tls_key;            /* PEM private key */

    size_t max_message_size;  /* bytes, default 10M */
    unsigned max_recipients;  /* per transaction, default 100 */
    unsigned max_errors;      /* errors before 421 and close, default 10 */
    unsigned idle_timeout;    /* seconds a client may stay silent, default 300 */
    unsigned data_timeout;    /* seconds between DATA chunks, default 600 */
    unsigned max_connections; /* whole server, default 1000 */
    unsigned max_conn_per_ip; /* default 20 */
    unsigned greet_pause_ms;  /* early-talker window before the banner, default 0 = off */

    unsigned queue_workers;   /* fsync/delivery worker threads, default 4 */
    unsigned retry_min;       /* seconds before the first retry, default 300 */
    unsigned retry_max;       /* cap for the growing backoff, default 4h */
    unsigned queue_lifetime;  /* seconds before giving up, default 5d */

    int log_syslog;           /* log = syslog | stderr (default stderr) */
    int log_level;            /* log_level enum from lib/log.h, default info */
} pochta_config;

/* config_load - parse path into cfg (zeroed first). 0 on success; -1 with err "FILE:LINE: problem". */
int config_load(const char *path, pochta_config *cfg, char *err, size_t errlen);
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
