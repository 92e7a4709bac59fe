/*
 * cli_common - helpers shared by the `pochta` command handlers: load the
 * configuration, open the account database, read a password, and turn
 * account results into one-line messages and exit codes (cli.h: 0 done,
 * 1 operation failed, 2 usage or configuration error).
 *
 * Messages go to stderr as "pochta: problem"; results for scripts to stdout.
 */
#ifndef POCHTA_CLI_CLI_COMMON_H
#define POCHTA_CLI_CLI_COMMON_H

#include "config/config.h"
#include "store/accounts.h"

#include <stddef.h>

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* CLI_MAX_PASSWORD - longest password read; yescrypt takes any length, this bounds our buffer */
#define CLI_MAX_PASSWORD 1024

/* cli_err - print "pochta: MESSAGE" to stderr */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_usage_err - print "usage: pochta USAGE" to stderr; returns CLI_USAGE */
int cli_usage_err(const char *usage);

/*
 * cli_config_load - load conf_path into cfg (zeroed) and quiet logging to
 * warnings on stderr. CLI_OK, or CLI_USAGE after printing the error (also
 * when conf_path is NULL: "no configuration: use -c CONF").
 */
int cli_config_load(const char *conf_path, pochta_config *cfg);

/*
 * cli_open - cli_config_load then accounts_open(cfg->db_path). CLI_OK with
 * *acc (caller closes; cfg freed with config_free), or an exit code after
 * printing why (cfg already freed then).
 */
int cli_open(const char *conf_path, pochta_config *cfg, accounts **acc);

/*
 * cli_read_password - the password from file's first line, or from stdin
 * (prompted twice without echo on a terminal, else its first line). Line
 * ends are stripped. CLI_OK with out filled, or CLI_FAIL after a message.
 * The caller clears out with explicit_bzero when done.
 */
int cli_read_password(const char *file, char *out, size_t outlen);

/* cli_status - exit code for st; prints "pochta: WHAT: reason" unless ACCT_OK */
int cli_status(acct_status st, const char *what);

#endif
