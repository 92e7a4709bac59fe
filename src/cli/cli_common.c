/*
 * cli_common - configuration, database, password and error helpers for
 * the `pochta` command handlers (see cli_common.h).
 */
#include "cli/cli_common.h"

#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("pochta: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_err(const char *usage)
{
    fprintf(stderr, "usage: pochta %s\n", usage);
    return CLI_USAGE;
}

int cli_config_load(const char *conf_path, pochta_config *cfg)
{
    char err[512];
    /* Account changes are reported on stdout; only trouble belongs on stderr. */
    log_init("pochta", 0, LOG_LEVEL_WARN);
    if (!conf_path) {
        memset(cfg, 0, sizeof *cfg);
        cli_err("no configuration: use -c CONF");
        return CLI_USAGE;
    }
    if (config_load(conf_path, cfg, err, sizeof err) < 0) {
        cli_err("%s", err);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_open(const char *conf_path, pochta_config *cfg, accounts **acc)
{
    char err[512];
    int rc = cli_config_load(conf_path, cfg);
    if (rc != CLI_OK)
        return rc;
    if (!(*acc = accounts_open(cfg->db_path, err, sizeof err))) {
        cli_err("cannot open the account database %s", err);
        config_free(cfg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* cli_read_line - first line of f into out without its line end; 0, or -1 if empty/too long/unreadable */
static int cli_read_line(FILE *f, char *out, size_t outlen)
{
    if (!fgets(out, (int)outlen, f))
        return -1;
    size_t n = strlen(out);
    if (n == outlen - 1 && out[n - 1] != '\n' && !feof(f))
        return -1;
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return n ? 0 : -1;
}

/* cli_prompt - print prompt on stderr and read one line from the terminal without echo */
static int cli_prompt(const char *prompt, char *out, size_t outlen)
{
    struct termios old, quiet;
    fputs(prompt, stderr);
    fflush(stderr);
    int have_tc = tcgetattr(STDIN_FILENO, &old) == 0;
    if (have_tc) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int rc = cli_read_line(stdin, out, outlen);
    if (have_tc)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return rc;
}

int cli_read_password(const char *file, char *out, size_t outlen)
{
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            cli_err("%s: %s", file, strerror(errno));
            return CLI_FAIL;
        }
        int rc = cli_read_line(f, out, outlen);
        fclose(f);
        if (rc < 0) {
            cli_err("%s: no password on the first line (or longer than %zu bytes)", file, outlen - 2);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    if (!isatty(STDIN_FILENO)) {
        if (cli_read_line(stdin, out, outlen) < 0) {
            cli_err("no password on standard input");
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    char again[CLI_MAX_PASSWORD + 2];
    int rc = CLI_FAIL;
    if (cli_prompt("Password: ", out, outlen) < 0)
        cli_err("empty password");
    else if (cli_prompt("Password again: ", again, sizeof again) < 0 || strcmp(out, again) != 0)
        cli_err("the passwords differ");
    else
        rc = CLI_OK;
    explicit_bzero(again, sizeof again);
    return rc;
}

int cli_status(acct_status st, const char *what)
{
    switch (st) {
    case ACCT_OK:
        return CLI_OK;
    case ACCT_NOTFOUND:
        cli_err("%s: not found", what);
        return CLI_FAIL;
    case ACCT_EXISTS:
        cli_err("%s: already exists", what);
        return CLI_FAIL;
    case ACCT_INVALID:
        cli_err("%s: invalid", what);
        return CLI_FAIL;
    case ACCT_TEMPFAIL:
        cli_err("%s: the account database is busy or broken; try again (see the log line above)", what);
        return CLI_FAIL;
    }
    return CLI_FAIL;
}
