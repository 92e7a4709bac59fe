/*
 * accounts - domains, mailboxes and aliases in the SQLite database.
 *
 * The daemon and the CLI share this code. Each thread opens its own handle
 * (SQLite connections are not shared across threads); the database runs in
 * WAL mode with a busy timeout so the CLI can change accounts while the
 * daemon reads them: changes take effect at the next lookup, no restart.
 *
 * Addresses are compared case-insensitively (stored lower case); the domain
 * is expected in A-label (ASCII) form.
 *
 * Results are three-valued: ACCT_OK, ACCT_NOTFOUND, and ACCT_TEMPFAIL for a
 * database that is busy or broken (the SMTP layer answers 451, never 550).
 */
#ifndef POCHTA_STORE_ACCOUNTS_H
#define POCHTA_STORE_ACCOUNTS_H

#include <stddef.h>

typedef struct accounts accounts;

typedef enum {
    ACCT_OK = 0,
    ACCT_NOTFOUND = 1,
    ACCT_EXISTS = 2,    /* add of something already there */
    ACCT_INVALID = 3,   /* bad address or argument */
    ACCT_TEMPFAIL = -1,
} acct_status;

/* accounts_open - open (creating the schema if needed) db_path. NULL with err on failure. Caller closes. */
accounts *accounts_open(const char *db_path, char *err, size_t errlen);
void accounts_close(accounts *a);

/* Domains */
acct_status accounts_domain_add(accounts *a, const char *domain);
acct_status accounts_domain_del(accounts *a, const char *domain);
/* accounts_domain_is_local - ACCT_OK when domain is one of ours */
acct_status accounts_domain_is_local(accounts *a, const char *domain);

/* Mailboxes: maildir path is mail_dir/DOMAIN/LOCAL/ (a Maildir: cur new tmp) */
acct_status accounts_user_add(accounts *a, const char *address, const char *password);
acct_status accounts_user_del(accounts *a, const char *address);
acct_status accounts_user_passwd(accounts *a, const char *address, const char *password);
/* accounts_user_check_password - ACCT_OK on match of an active mailbox; slow (yescrypt): call from a worker thread */
acct_status accounts_user_check_password(accounts *a, const char *address, const char *password);

/*
 * Mailbox state and quota (column users.state: 'active' or 'disabled'; a
 * disabled mailbox refuses mail at RCPT with 550 5.2.1 and POP3 logins).
 * "Sending disabled" is separate: table sending (store/sending.h), so the
 * two can be set independently.
 */
typedef struct acct_user {
    int disabled;               /* state is not 'active' */
    long long quota_bytes;      /* 0 = unlimited */
    long long quota_messages;   /* 0 = unlimited */
} acct_user;
/* accounts_user_authenticate - ACCT_OK when the password matches whatever the state (filled into *u; may be NULL). Slow: worker thread. */
acct_status accounts_user_authenticate(accounts *a, const char *address, const char *password, acct_user *u);
/* accounts_user_get - ACCT_OK and *u for a mailbox; ACCT_NOTFOUND for anything else */
acct_status accounts_user_get(accounts *a, const char *address, acct_user *u);
acct_status accounts_user_set_disabled(accounts *a, const char *address, int disabled);
acct_status accounts_user_set_quota(accounts *a, const char *address, long long bytes, long long messages);

/*
 * POP-before-SMTP (table pop_before_smtp(ip, expires)): a successful POP3
 * login grants its client address the right to relay until expires (unix
 * time); expired rows are pruned at the next grant.
 */
acct_status accounts_relay_grant(accounts *a, const char *ip, long long expires);
/* accounts_relay_allowed - ACCT_OK while ip holds an unexpired grant */
acct_status accounts_relay_allowed(accounts *a, const char *ip);

/* Aliases: one alias may have several targets, local or remote addresses */
acct_status accounts_alias_add(accounts *a, const char *alias, const char *target);
acct_status accounts_alias_del(accounts *a, const char *alias, const char *target /* NULL = all */);

/*
 * accounts_recipient_exists - ACCT_OK when address is a mailbox or an alias
 * of a local domain; ACCT_NOTFOUND otherwise.
 */
acct_status accounts_recipient_exists(accounts *a, const char *address);

/*
 * accounts_expand - resolve address through aliases (recursively, loops
 * and depth over 10 cut off) to final addresses: local mailboxes and remote
 * addresses. *out is a NULL-terminated array of heap strings; the caller
 * frees it with accounts_list_free(). An address that is itself a mailbox
 * expands to itself.
 */
acct_status accounts_expand(accounts *a, const char *address, char ***out);
void accounts_list_free(char **list);

/* Listing for the CLI: calls fn once per row (fields NUL-terminated) */
typedef void (*accounts_row_fn)(void *arg, const char *const *fields, int nfields);
acct_status accounts_list_domains(accounts *a, accounts_row_fn fn, void *arg);
acct_status accounts_list_users(accounts *a, const char *domain /* NULL = all */, accounts_row_fn fn, void *arg);
acct_status accounts_list_aliases(accounts *a, accounts_row_fn fn, void *arg);

#endif
