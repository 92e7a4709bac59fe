/*
 * sending - what an authenticated user may send: extra sender identities,
 * "sending disabled", a per-user daily limit, and the send-rate counters
 * behind a small backend interface (SQLite here; another store such as
 * Redis can implement sendrate_backend without touching the callers).
 *
 * Tables live in the accounts database (db_path), created when missing:
 *   identities(address -> users ON DELETE CASCADE, identity, PK(address, identity))
 *       identity is a full address ("sales@example.org") or "@domain"
 *       (any address at that domain)
 *   sending(address PK -> users ON DELETE CASCADE, disabled, daily_limit)
 *       no row = sending enabled, the configured default limit
 *   send_rate(key PK, window_start, count)   (SQLite rate backend)
 * They only add tables, so the accounts PRAGMA user_version is unchanged.
 *
 * Results are acct_status (store/accounts.h): OK / NOTFOUND / TEMPFAIL.
 * Handles are per thread, like accounts handles.
 */
#ifndef POCHTA_STORE_SENDING_H
#define POCHTA_STORE_SENDING_H

#include <stddef.h>
#include <time.h>

#include "store/accounts.h"

typedef struct sending sending;

/* sending_open - open db_path (creating the tables if needed); NULL with err. Caller closes. */
sending *sending_open(const char *db_path, char *err, size_t errlen);
void sending_close(sending *s);

/* sending_identity_add - let user send as identity (address or "@domain"); user must be a mailbox */
acct_status sending_identity_add(sending *s, const char *user, const char *identity);
acct_status sending_identity_del(sending *s, const char *user, const char *identity);
/* sending_identity_list - rows: user, identity (user NULL = every user) */
acct_status sending_identity_list(sending *s, const char *user, accounts_row_fn fn, void *arg);
/* sending_identity_allowed - ACCT_OK when address is one of user's extra identities */
acct_status sending_identity_allowed(sending *s, const char *user, const char *address);

/* sending_set_disabled - turn sending off (1) or on (0) for user */
acct_status sending_set_disabled(sending *s, const char *user, int disabled);
/* sending_set_limit - messages per day for user; -1 = back to the configured default */
acct_status sending_set_limit(sending *s, const char *user, long limit);
/* sending_get - user's settings (defaults when no row): *disabled 0/1, *limit -1 = default */
acct_status sending_get(sending *s, const char *user, int *disabled, long *limit);

/*
 * Send-rate counters: a fixed window per key that starts with the key's
 * first message and lasts `window` seconds; the count resets when it ends.
 */
typedef struct sendrate_backend {
    const char *name;
    /* count - messages of key in its current window, and when that window ends (0 when empty) */
    acct_status (*count)(void *impl, const char *key, time_t now, unsigned window, unsigned *count,
                         time_t *window_end);
    /* add - one more message for key */
    acct_status (*add)(void *impl, const char *key, time_t now, unsigned window);
    void (*close)(void *impl);
} sendrate_backend;

typedef struct sendrate {
    const sendrate_backend *be;
    void *impl;
} sendrate;

/* sendrate_open_sqlite - counters in db_path's send_rate table; NULL with err. Free with sendrate_close. */
sendrate *sendrate_open_sqlite(const char *db_path, char *err, size_t errlen);
void sendrate_close(sendrate *r);

#endif
