/*
 * cli - the `pochta` admin command: one function per top-level command.
 *
 * main() parses the global `-c CONF` option and dispatches on the first
 * word to a handler in the table of cli/main.c. Each handler gets the
 * remaining arguments (argv[0] is the command word) and the config path
 * (NULL when -c was not given) and returns the process exit status:
 * 0 success, 1 operation failed, 2 usage or configuration error.
 */
#ifndef POCHTA_CLI_CLI_H
#define POCHTA_CLI_CLI_H

typedef int (*cli_handler)(int argc, char **argv, const char *conf_path);

int cli_init(int argc, char **argv, const char *conf_path);    /* pochta init DIR ... */
int cli_domain(int argc, char **argv, const char *conf_path);  /* pochta domain add|del|list */
int cli_user(int argc, char **argv, const char *conf_path);    /* pochta user add|del|list|passwd */
int cli_user_sending(int argc, char **argv, const char *conf_path); /* pochta user identity|sending ... */
int cli_sendmail(int argc, char **argv, const char *conf_path); /* pochta sendmail [-t] [-i] [-f ADDR] [RCPT...] */
int cli_alias(int argc, char **argv, const char *conf_path);   /* pochta alias add|del|list */
int cli_log(int argc, char **argv, const char *conf_path);     /* pochta log ID */
int cli_trace(int argc, char **argv, const char *conf_path);   /* pochta trace QUEUE-ID|MESSAGE-ID|ADDRESS */
int cli_queue(int argc, char **argv, const char *conf_path);   /* pochta queue list|show|flush|hold|release|delete */
int cli_dns(int argc, char **argv, const char *conf_path);     /* pochta dns NAME [TYPE] */
int cli_bounce(int argc, char **argv, const char *conf_path);  /* pochta bounce parse [--json] FILE|- */
int cli_explain(int argc, char **argv, const char *conf_path); /* pochta explain 'REPLY' */
int cli_bounces(int argc, char **argv, const char *conf_path); /* pochta bounces list|show|export|clear|collect|check */
int cli_spf(int argc, char **argv, const char *conf_path);     /* pochta spf check IP SENDER HELO */
int cli_dkim(int argc, char **argv, const char *conf_path);    /* pochta dkim keygen|sign|verify|bench */
int cli_dkim_bench(int argc, char **argv);                      /* pochta dkim bench --key FILE ... */
int cli_doctor(int argc, char **argv, const char *conf_path);  /* pochta doctor DOMAIN | --message FILE */

#endif
