/*
 * cmd_sending - `pochta user identity ...` and `pochta user sending ...`:
 * who an account may send as, and whether and how much it may send
 * (tables of store/sending.h; read by the submission service at MAIL).
 *
 *   pochta user identity add|del USER ADDRESS|@DOMAIN
 *   pochta user identity list [USER]
 *   pochta user sending enable|disable|show USER
 *   pochta user sending limit USER N|default
 *
 * Changes take effect at the user's next MAIL command; no restart.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"

#include "store/sending.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SENDING_USAGE "user identity add|del USER ADDRESS|@DOMAIN | user identity list [USER] | " \
                      "user sending enable|disable|show USER | user sending limit USER N|default"

/* print_identity - one row of identity list */
static void print_identity(void *arg, const char *const *f, int n)
{
    (void)arg;
    if (n >= 2)
        printf("%s  may send as  %s\n", f[0], f[1]);
}

/* sending_result - exit code with a message for st about user */
static int sending_result(acct_status st, const char *user, const char *done)
{
    if (st == ACCT_INVALID) {
        cli_err("bad address: give the user's full address (and an identity as ADDRESS or @DOMAIN)");
        return CLI_FAIL;
    }
    if (st == ACCT_NOTFOUND) {
        cli_err("%s: no such mailbox or identity", user);
        return CLI_FAIL;
    }
    if (st == ACCT_EXISTS) {
        cli_err("%s: already there", user);
        return CLI_FAIL;
    }
    if (st == ACCT_OK)
        printf("%s\n", done);
    return cli_status(st, user);
}

/* identity_run - pochta user identity ... */
static int identity_run(sending *sd, int argc, char **argv)
{
    if (argc >= 3 && argc <= 4 && strcmp(argv[2], "list") == 0)
        return cli_status(sending_identity_list(sd, argc == 4 ? argv[3] : NULL, print_identity, NULL), "identity list");
    if (argc != 5)
        return cli_usage_err(SENDING_USAGE);
    char done[600];
    int add = strcmp(argv[2], "add") == 0;
    if (!add && strcmp(argv[2], "del") != 0)
        return cli_usage_err(SENDING_USAGE);
    snprintf(done, sizeof done, "%s %s send as %s", argv[3], add ? "may now" : "may no longer", argv[4]);
    acct_status st = add ? sending_identity_add(sd, argv[3], argv[4]) : sending_identity_del(sd, argv[3], argv[4]);
    return sending_result(st, argv[3], done);
}

/* sending_show - state, limit and today's count of user */
static int sending_show(const pochta_config *cfg, sending *sd, const char *user)
{
    int disabled;
    long limit;
    acct_status st = sending_get(sd, user, &disabled, &limit);
    if (st != ACCT_OK)
        return sending_result(st, user, "");
    char err[256], key[300];
    unsigned count = 0;
    time_t end = 0;
    sendrate *r = sendrate_open_sqlite(cfg->db_path, err, sizeof err);
    snprintf(key, sizeof key, "user:%s", user);
    if (r && r->be->count(r->impl, key, time(NULL), 86400, &count, &end) != ACCT_OK)
        count = 0;
    sendrate_close(r);
    printf("%s: sending %s; limit %ld messages a day%s; %u sent in the current day\n", user,
           disabled ? "DISABLED" : "enabled", limit >= 0 ? limit : (long)cfg->send_limit_per_day,
           limit >= 0 ? "" : " (default)", count);
    return CLI_OK;
}

/* sending_run - pochta user sending ... */
static int sending_run(const pochta_config *cfg, sending *sd, int argc, char **argv)
{
    char done[400];
    if (argc == 4 && strcmp(argv[2], "show") == 0)
        return sending_show(cfg, sd, argv[3]);
    if (argc == 4 && (strcmp(argv[2], "enable") == 0 || strcmp(argv[2], "disable") == 0)) {
        int off = argv[2][0] == 'd';
        snprintf(done, sizeof done, "sending %s for %s", off ? "disabled" : "enabled", argv[3]);
        return sending_result(sending_set_disabled(sd, argv[3], off), argv[3], done);
    }
    if (argc == 5 && strcmp(argv[2], "limit") == 0) {
        long n = -1;
        if (strcmp(argv[4], "default") != 0) {
            char *end;
            errno = 0;
            n = strtol(argv[4], &end, 10);
            if (errno || *end || end == argv[4] || n < 0 || n > 100000000)
                return cli_usage_err(SENDING_USAGE);
        }
        snprintf(done, sizeof done, "daily limit of %s is now %s", argv[3], argv[4]);
        return sending_result(sending_set_limit(sd, argv[3], n), argv[3], done);
    }
    return cli_usage_err(SENDING_USAGE);
}

/* cli_user_sending - entry from cli_user for the identity and sending subcommands */
int cli_user_sending(int argc, char **argv, const char *conf_path)
{
    if (argc < 3)
        return cli_usage_err(SENDING_USAGE);
    pochta_config cfg;
    accounts *a;
    int rc = cli_open(conf_path, &cfg, &a); /* creates the accounts tables our foreign keys name */
    if (rc != CLI_OK)
        return rc;
    char err[512];
    sending *sd = sending_open(cfg.db_path, err, sizeof err);
    if (!sd) {
        cli_err("%s", err);
        rc = CLI_FAIL;
    } else {
        rc = strcmp(argv[1], "identity") == 0 ? identity_run(sd, argc, argv) : sending_run(&cfg, sd, argc, argv);
        sending_close(sd);
    }
    accounts_close(a);
    config_free(&cfg);
    return rc;
}
