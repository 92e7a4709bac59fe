/*
 * cmd_accounts - `pochta domain|user|alias ...`: change and list the
 * account database named by the configuration (-c CONF).
 *
 *   domain add|del DOMAIN, domain list
 *   user add|passwd ADDRESS [--password-file F], user del ADDRESS, user list [DOMAIN]
 *   user disable|enable ADDRESS, user quota ADDRESS [SIZE|none] [--messages N]
 *   alias add ALIAS TARGET..., alias del ALIAS [TARGET...], alias list
 *
 * Changes take effect in a running pochtad at its next lookup (SQLite WAL).
 * Success is one line on stdout; a failure one "pochta: ..." line on stderr
 * and exit 1; bad usage or configuration exit 2 (cli.h).
 */
#include "cli/cli.h"
#include "cli/cli_common.h"

#include "deliver/maildir.h"
#include "deliver/maildir_quota.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN_USAGE "domain add|del DOMAIN | domain list"
#define USER_USAGE "user add|passwd ADDRESS [--password-file F] | user del ADDRESS | user list [DOMAIN] | " \
                   "user disable|enable ADDRESS | user quota ADDRESS [SIZE|none] [--messages N]"
#define ALIAS_USAGE "alias add ALIAS TARGET... | alias del ALIAS [TARGET...] | alias list"

/* print_domain_row - "example.test  2 mailboxes  created 2024-05-01 10:00:00" */
static void print_domain_row(void *arg, const char *const *f, int n)
{
    if (n >= 3)
        printf("%s  %s mailbox%s  created %s\n", f[0], f[2], strcmp(f[2], "1") == 0 ? "" : "es", f[1]);
}

/* print_user_row - "alice@example.test  active  created 2024-05-01 10:00:00" */
static void print_user_row(void *arg, const char *const *f, int n)
{
    if (n >= 3)
        printf("%s  %s  created %s\n", f[0], f[2], f[1]);
}

/* print_alias_row - "postmaster@example.test -> alice@example.test" */
static void print_alias_row(void *arg, const char *const *f, int n)
{
    if (n >= 2)
        printf("%s -> %s\n", f[0], f[1]);
}

/* lower_args - ASCII lower-case argv[from..] in place: addresses and domains are stored lower case */
static void lower_args(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++)
        for (char *p = argv[i]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
}

/* domain_of - the part after the last '@' ("" when none) */
static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

/* explain_invalid - say why an address was refused: bad syntax or a domain that is not ours */
static int explain_invalid(accounts *a, const char *address, const char *role)
{
    const char *d = domain_of(address);
    if (*d && !strchr(address, ' ') && accounts_domain_is_local(a, d) == ACCT_NOTFOUND)
        cli_err("%s: domain '%s' is not local; add it first with `pochta domain add %s`", address, d, d);
    else
        cli_err("'%s' is not a valid %s (want local@domain, no spaces, at most 254 bytes)", address, role);
    return CLI_FAIL;
}

/* domain_run - one domain subcommand on an open database */
static int domain_run(accounts *a, int argc, char **argv)
{
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 && argc == 2)
        return cli_status(accounts_list_domains(a, print_domain_row, NULL), "domain list");
    if (argc != 3 || (strcmp(sub, "add") != 0 && strcmp(sub, "del") != 0))
        return cli_usage_err(DOMAIN_USAGE);
    int add = strcmp(sub, "add") == 0;
    acct_status st = add ? accounts_domain_add(a, argv[2]) : accounts_domain_del(a, argv[2]);
    if (st == ACCT_INVALID) {
        cli_err("'%s' is not a valid domain name", argv[2]);
        return CLI_FAIL;
    }
    if (st == ACCT_EXISTS || st == ACCT_NOTFOUND) {
        cli_err("domain %s %s", argv[2], st == ACCT_EXISTS ? "already exists" : "does not exist");
        return CLI_FAIL;
    }
    if (st == ACCT_OK)
        printf("domain %s %s\n", argv[2], add ? "added" : "deleted, with its mailboxes and aliases");
    return cli_status(st, "domain");
}

int cli_domain(int argc, char **argv, const char *conf_path)
{
    if (argc < 2)
        return cli_usage_err(DOMAIN_USAGE);
    pochta_config cfg;
    accounts *a;
    int rc = cli_open(conf_path, &cfg, &a);
    if (rc != CLI_OK)
        return rc;
    lower_args(argc, argv, 2);
    rc = domain_run(a, argc, argv);
    accounts_close(a);
    config_free(&cfg);
    return rc;
}

/* user_set_password - add or passwd: read the password, then store its hash */
static int user_set_password(accounts *a, int add, const char *address, const char *file)
{
    char pw[CLI_MAX_PASSWORD + 2];
    /* Check the address before asking for a password nobody can use. */
    if (!add && accounts_recipient_exists(a, address) == ACCT_NOTFOUND) {
        cli_err("no mailbox %s", address);
        return CLI_FAIL;
    }
    int rc = cli_read_password(file, pw, sizeof pw);
    if (rc != CLI_OK)
        return rc;
    acct_status st = add ? accounts_user_add(a, address, pw) : accounts_user_passwd(a, address, pw);
    explicit_bzero(pw, sizeof pw);
    if (st == ACCT_INVALID)
        return explain_invalid(a, address, "address");
    if (st == ACCT_EXISTS || st == ACCT_NOTFOUND) {
        cli_err(st == ACCT_EXISTS ? "mailbox %s already exists" : "no mailbox %s", address);
        return CLI_FAIL;
    }
    if (st == ACCT_OK)
        printf("mailbox %s %s\n", address, add ? "added" : "password changed");
    return cli_status(st, address);
}

/* user_state - disable or enable a mailbox */
static int user_state(accounts *a, const char *address, int disable)
{
    acct_status st = accounts_user_set_disabled(a, address, disable);
    if (st == ACCT_INVALID || st == ACCT_NOTFOUND) {
        cli_err(st == ACCT_INVALID ? "'%s' is not a valid address" : "no mailbox %s", address);
        return CLI_FAIL;
    }
    if (st == ACCT_OK)
        printf("mailbox %s %s\n", address, disable ? "disabled: mail to it is refused (550 5.2.1) and it "
               "cannot log in" : "enabled");
    return cli_status(st, address);
}

/* user_parse_size - "0", "none", N, Nk, NM, NG (powers of 1024) into *out; -1 when malformed */
static int user_parse_size(const char *v, long long *out)
{
    if (strcmp(v, "none") == 0) {
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n < 0)
        return -1;
    long long mult = *end == 'k' || *end == 'K' ? 1024LL : *end == 'M' ? 1024LL * 1024
                   : *end == 'G' ? 1024LL * 1024 * 1024 : 1;
    if (mult > 1)
        end++;
    if (*end || n > (long long)(9e18 / (double)mult))
        return -1;
    *out = n * mult;
    return 0;
}

/* user_quota_show - limits and the Maildir++ usage of one mailbox */
static int user_quota_show(accounts *a, const pochta_config *cfg, const char *address)
{
    acct_user u;
    acct_status st = accounts_user_get(a, address, &u);
    if (st == ACCT_NOTFOUND) {
        cli_err("no mailbox %s", address);
        return CLI_FAIL;
    }
    if (st != ACCT_OK)
        return cli_status(st, address);
    char root[4096];
    maildir_usage use = {0, 0};
    if (maildir_path(cfg->mail_dir, address, root, sizeof root) == 0 &&
        maildir_quota_usage(root, u.quota_bytes, u.quota_messages, &use) < 0) {
        cli_err("%s: cannot read %s: %s", address, root, strerror(errno));
        return CLI_FAIL;
    }
    char lb[32] = "unlimited", lm[32] = "unlimited";
    if (u.quota_bytes)
        snprintf(lb, sizeof lb, "%lld", u.quota_bytes);
    if (u.quota_messages)
        snprintf(lm, sizeof lm, "%lld", u.quota_messages);
    printf("%s: %lld bytes of %s, %lld messages of %s\n", address, use.bytes, lb, use.messages, lm);
    return CLI_OK;
}

/* user_quota - `user quota ADDRESS [SIZE|none] [--messages N]`: set, or show without SIZE */
static int user_quota(accounts *a, const pochta_config *cfg, int argc, char **argv)
{
    long long bytes = 0, msgs = 0;
    if (argc == 3)
        return user_quota_show(a, cfg, argv[2]);
    if ((argc != 4 && argc != 6) || user_parse_size(argv[3], &bytes) < 0 ||
        (argc == 6 && (strcmp(argv[4], "--messages") != 0 || user_parse_size(argv[5], &msgs) < 0)))
        return cli_usage_err(USER_USAGE);
    acct_status st = accounts_user_set_quota(a, argv[2], bytes, msgs);
    if (st == ACCT_INVALID || st == ACCT_NOTFOUND) {
        cli_err(st == ACCT_INVALID ? "'%s' is not a valid address" : "no mailbox %s", argv[2]);
        return CLI_FAIL;
    }
    if (st != ACCT_OK)
        return cli_status(st, argv[2]);
    printf("mailbox %s quota set: %lld bytes, %lld messages (0 = unlimited)\n", argv[2], bytes, msgs);
    return CLI_OK;
}

/* user_run - one user subcommand on an open database */
static int user_run(accounts *a, const pochta_config *cfg, int argc, char **argv)
{
    const char *sub = argv[1];
    if ((strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) && argc == 3)
        return user_state(a, argv[2], strcmp(sub, "disable") == 0);
    if (strcmp(sub, "quota") == 0 && argc >= 3)
        return user_quota(a, cfg, argc, argv);
    if (strcmp(sub, "list") == 0 && argc <= 3) {
        acct_status st = accounts_list_users(a, argc == 3 ? argv[2] : NULL, print_user_row, NULL);
        if (st == ACCT_INVALID)
            cli_err("'%s' is not a valid domain name", argv[2]);
        return st == ACCT_INVALID ? CLI_FAIL : cli_status(st, "user list");
    }
    if (strcmp(sub, "del") == 0 && argc == 3) {
        acct_status st = accounts_user_del(a, argv[2]);
        if (st == ACCT_INVALID || st == ACCT_NOTFOUND) {
            cli_err(st == ACCT_INVALID ? "'%s' is not a valid address" : "no mailbox %s", argv[2]);
            return CLI_FAIL;
        }
        if (st == ACCT_OK)
            printf("mailbox %s deleted (its Maildir is kept)\n", argv[2]);
        return cli_status(st, argv[2]);
    }
    int add = strcmp(sub, "add") == 0;
    if (!add && strcmp(sub, "passwd") != 0)
        return cli_usage_err(USER_USAGE);
    if (argc == 3)
        return user_set_password(a, add, argv[2], NULL);
    if (argc == 5 && strcmp(argv[3], "--password-file") == 0)
        return user_set_password(a, add, argv[2], argv[4]);
    return cli_usage_err(USER_USAGE);
}

int cli_user(int argc, char **argv, const char *conf_path)
{
    if (argc < 2)
        return cli_usage_err(USER_USAGE);
    if (strcmp(argv[1], "identity") == 0 || strcmp(argv[1], "sending") == 0)
        return cli_user_sending(argc, argv, conf_path); /* cmd_sending.c */
    pochta_config cfg;
    accounts *a;
    int rc = cli_open(conf_path, &cfg, &a);
    if (rc != CLI_OK)
        return rc;
    lower_args(argc < 3 ? argc : 3, argv, 2); /* the address, not a --password-file path */
    rc = user_run(a, &cfg, argc, argv);
    accounts_close(a);
    config_free(&cfg);
    return rc;
}

/* alias_one - add or delete alias -> target (target NULL: every target); exit code */
static int alias_one(accounts *a, int add, const char *alias, const char *target)
{
    acct_status st = add ? accounts_alias_add(a, alias, target) : accounts_alias_del(a, alias, target);
    if (st == ACCT_INVALID) {
        if (add && accounts_domain_is_local(a, domain_of(alias)) == ACCT_OK)
            return explain_invalid(a, target, "target address");
        return explain_invalid(a, alias, "alias");
    }
    if (st == ACCT_EXISTS) {
        cli_err("alias %s -> %s already exists", alias, target);
        return CLI_FAIL;
    }
    if (st == ACCT_NOTFOUND) {
        cli_err(target ? "no alias %s -> %s" : "no alias %s", alias, target);
        return CLI_FAIL;
    }
    if (st == ACCT_OK)
        printf("alias %s -> %s %s\n", alias, target ? target : "*", add ? "added" : "deleted");
    return cli_status(st, alias);
}

/* alias_run - one alias subcommand on an open database; goes on after a failed target */
static int alias_run(accounts *a, int argc, char **argv)
{
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 && argc == 2)
        return cli_status(accounts_list_aliases(a, print_alias_row, NULL), "alias list");
    int add = strcmp(sub, "add") == 0;
    if ((!add && strcmp(sub, "del") != 0) || argc < (add ? 4 : 3))
        return cli_usage_err(ALIAS_USAGE);
    if (argc == 3)
        return alias_one(a, 0, argv[2], NULL);
    int rc = CLI_OK;
    for (int i = 3; i < argc; i++)
        if (alias_one(a, add, argv[2], argv[i]) != CLI_OK)
            rc = CLI_FAIL;
    return rc;
}

int cli_alias(int argc, char **argv, const char *conf_path)
{
    if (argc < 2)
        return cli_usage_err(ALIAS_USAGE);
    pochta_config cfg;
    accounts *a;
    int rc = cli_open(conf_path, &cfg, &a);
    if (rc != CLI_OK)
        return rc;
    lower_args(argc, argv, 2);
    rc = alias_run(a, argc, argv);
    accounts_close(a);
    config_free(&cfg);
    return rc;
}
