/*
 * accounts - domains, mailboxes and aliases in SQLite (API in accounts.h).
 *
 * Schema (version ACCT_SCHEMA_VERSION_STR in PRAGMA user_version, so later
 * releases can migrate; msglog shares the file but not this pragma):
 *   domains(name PK, created)
 *   users(address PK, domain -> domains ON DELETE CASCADE, password (yescrypt),
 *         created, quota_bytes, quota_messages, state)
 *   aliases(alias, target, PK(alias, target))
 * The file runs in WAL mode with a 5 s busy timeout so the CLI writes while
 * the daemon reads. Every SQLite failure (busy, I/O, corruption) becomes
 * ACCT_TEMPFAIL with one log line, so SMTP answers 451, never 550.
 *
 * Passwords: yescrypt via libxcrypt; only the hash is stored, nothing about
 * a password is ever logged. A check compares the hash in constant time and
 * hashes even for unknown users so timing does not reveal who exists.
 *
 * Limits: addresses <= ACCT_MAX_ADDR bytes; alias expansion follows at most
 * ACCT_MAX_DEPTH levels and produces at most ACCT_MAX_EXPAND addresses.
 */
#include "store/accounts.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <crypt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCT_SCHEMA_VERSION_STR "1" /* PRAGMA user_version of this schema */
#define ACCT_MAX_ADDR 254      /* RFC 5321 4.5.3.1.3: a path is at most 256 octets with <> */
#define ACCT_MAX_DOMAIN 253    /* RFC 1035 2.3.4 less the root dot */
#define ACCT_MAX_DEPTH 10      /* nested alias levels followed */
#define ACCT_MAX_EXPAND 1000   /* addresses one expansion may visit */
#define ACCT_BUSY_MS 5000

/* Cached statements, prepared on first use (hot paths run per RCPT). */
enum {
    Q_DOMAIN_GET, Q_DOMAIN_ADD, Q_DOMAIN_DEL, Q_DOMAIN_DEL_ALIASES,
    Q_USER_GET, Q_USER_ADD, Q_USER_DEL, Q_USER_PASSWD, Q_USER_HASH,
    Q_ALIAS_TARGETS, Q_ALIAS_ADD, Q_ALIAS_DEL, Q_ALIAS_DEL_ALL, Q_ALIAS_ANY,
    Q_USER_INFO, Q_USER_STATE, Q_USER_QUOTA, Q_RELAY_PRUNE, Q_RELAY_GRANT, Q_RELAY_GET,
    Q_COUNT
};

static const char *const acct_sql[Q_COUNT] = {
    [Q_DOMAIN_GET] = "SELECT 1 FROM domains WHERE name = ?1",
    [Q_DOMAIN_ADD] = "INSERT INTO domains(name, created) VALUES (?1, ?2)",
    [Q_DOMAIN_DEL] = "DELETE FROM domains WHERE name = ?1",
    [Q_DOMAIN_DEL_ALIASES] = "DELETE FROM aliases WHERE substr(alias, -(length(?1) + 1)) = '@' || ?1",
    /* a disabled mailbox still exists: RCPT answers 550 5.2.1 for it, not 5.1.1 */
    [Q_USER_GET] = "SELECT 1 FROM users WHERE address = ?1",
    [Q_USER_ADD] = "INSERT INTO users(address, domain, password, created) VALUES (?1, ?2, ?3, ?4)",
    [Q_USER_DEL] = "DELETE FROM users WHERE address = ?1",
    [Q_USER_PASSWD] = "UPDATE users SET password = ?2 WHERE address = ?1",
    [Q_USER_HASH] = "SELECT password, state, quota_bytes, quota_messages FROM users WHERE address = ?1",
    [Q_ALIAS_TARGETS] = "SELECT target FROM aliases WHERE alias = ?1 ORDER BY target",
    [Q_ALIAS_ADD] = "INSERT INTO aliases(alias, target) VALUES (?1, ?2)",
    [Q_ALIAS_DEL] = "DELETE FROM aliases WHERE alias = ?1 AND target = ?2",
    [Q_ALIAS_DEL_ALL] = "DELETE FROM aliases WHERE alias = ?1",
    [Q_ALIAS_ANY] = "SELECT 1 FROM aliases WHERE alias = ?1 LIMIT 1",
    [Q_USER_INFO] = "SELECT state, quota_bytes, quota_messages FROM users WHERE address = ?1",
    [Q_USER_STATE] = "UPDATE users SET state = ?2 WHERE address = ?1",
    [Q_USER_QUOTA] = "UPDATE users SET quota_bytes = ?2, quota_messages = ?3 WHERE address = ?1",
    [Q_RELAY_PRUNE] = "DELETE FROM pop_before_smtp WHERE expires <= ?1",
    [Q_RELAY_GRANT] = "INSERT OR REPLACE INTO pop_before_smtp(ip, expires) VALUES (?1, ?2)",
    [Q_RELAY_GET] = "SELECT 1 FROM pop_before_smtp WHERE ip = ?1 AND expires > ?2",
};

static const char acct_schema[] =
    "CREATE TABLE IF NOT EXISTS domains(name TEXT PRIMARY KEY, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users(address TEXT PRIMARY KEY,"
    " domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,"
    " password TEXT NOT NULL, created INTEGER NOT NULL,"
    " quota_bytes INTEGER NOT NULL DEFAULT 0, quota_messages INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'active');"
    "CREATE INDEX IF NOT EXISTS users_domain ON users(domain);"
    "CREATE TABLE IF NOT EXISTS aliases(alias TEXT NOT NULL, target TEXT NOT NULL,"
    " PRIMARY KEY(alias, target));"
    "CREATE TABLE IF NOT EXISTS pop_before_smtp(ip TEXT PRIMARY KEY, expires INTEGER NOT NULL);";

struct accounts {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
};

/* acct_fail - log a database failure once and map it to ACCT_TEMPFAIL */
static acct_status acct_fail(accounts *a, const char *op)
{
    log_warn(NULL, "event=accounts_error op=%s code=%d error=\"%s\"", op, sqlite3_extended_errcode(a->db),
             sqlite3_errmsg(a->db));
    return ACCT_TEMPFAIL;
}

/* acct_stmt - cached statement id, reset and with bindings cleared; NULL on failure */
static sqlite3_stmt *acct_stmt(accounts *a, int id)
{
    if (!a->q[id] && sqlite3_prepare_v2(a->db, acct_sql[id], -1, &a->q[id], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_reset(a->q[id]);
    sqlite3_clear_bindings(a->q[id]);
    return a->q[id];
}

/* acct_exec_key - run statement id with text ?1 (and optional ?2); returns SQLITE_ROW/DONE/error */
static int acct_run(accounts *a, int id, const char *p1, const char *p2)
{
    sqlite3_stmt *st = acct_stmt(a, id);
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    if (p2)
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        sqlite3_reset(st); /* release locks now, not at the next use */
    return rc;
}

/* acct_exists - ACCT_OK when statement id (one ?1) returns a row */
static acct_status acct_exists(accounts *a, int id, const char *key, const char *op)
{
    int rc = acct_run(a, id, key, NULL);
    if (rc == SQLITE_ROW) {
        sqlite3_reset(a->q[id]);
        return ACCT_OK;
    }
    return rc == SQLITE_DONE ? ACCT_NOTFOUND : acct_fail(a, op);
}

/* acct_change - run a write statement; ACCT_OK, ACCT_NOTFOUND (nothing changed), ACCT_EXISTS */
static acct_status acct_change(accounts *a, int id, const char *p1, const char *p2, const char *op)
{
    int rc = acct_run(a, id, p1, p2);
    if (rc == SQLITE_DONE)
        return sqlite3_changes(a->db) > 0 ? ACCT_OK : ACCT_NOTFOUND;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return ACCT_EXISTS;
    return acct_fail(a, op);
}

/* acct_exec - run literal SQL; 0 or -1 */
static int acct_exec(accounts *a, const char *sql)
{
    return sqlite3_exec(a->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* acct_int - first column of a one-row query, or -1 */
static int acct_int(accounts *a, const char *sql)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * acct_schema_setup - create the tables when missing. Checked with a read
 * first so that every daemon thread opening its handle does not queue for
 * the write lock; user_version is set only on a fresh file.
 */
static int acct_schema_setup(accounts *a)
{
    static const char have[] =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('domains', 'users', 'aliases', 'pop_before_smtp')";
    if (acct_int(a, have) == 4)
        return 0;
    if (acct_exec(a, "BEGIN IMMEDIATE") < 0)
        return -1;
    if (acct_exec(a, acct_schema) < 0 ||
        (acct_int(a, "PRAGMA user_version") == 0 && acct_exec(a, "PRAGMA user_version = " ACCT_SCHEMA_VERSION_STR) < 0)) {
        acct_exec(a, "ROLLBACK");
        return -1;
    }
    return acct_exec(a, "COMMIT");
}

accounts *accounts_open(const char *db_path, char *err, size_t errlen)
{
    accounts *a = xcalloc(1, sizeof *a);
    int rc = sqlite3_open_v2(db_path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(a->db, ACCT_BUSY_MS);
    sqlite3_extended_result_codes(a->db, 1);
    /* WAL: readers (the daemon) never block the writer (the CLI) and vice versa. */
    if (acct_exec(a, "PRAGMA journal_mode=WAL") < 0 || acct_exec(a, "PRAGMA foreign_keys=ON") < 0 ||
        acct_schema_setup(a) < 0)
        goto fail;
    return a;
fail:
    snprintf(err, errlen, "%s: %s", db_path, a->db ? sqlite3_errmsg(a->db) : "cannot open");
    accounts_close(a);
    return NULL;
}

void accounts_close(accounts *a)
{
    if (!a)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(a->q[i]);
    sqlite3_close(a->db);
    free(a);
}

/* acct_lower - ASCII lower-case copy of s into out[outlen]; -1 if too long */
static int acct_lower(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n >= outlen)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    return 0;
}

/* acct_domain_ok - a plausible A-label domain: labels of [a-z0-9-] (and _) joined by dots */
static int acct_domain_ok(const char *d)
{
    size_t n = strlen(d), label = 0;
    if (n == 0 || n > ACCT_MAX_DOMAIN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/*
 * acct_norm_addr - lower-case copy of address into out (ACCT_MAX_ADDR+1
 * bytes); *domain points into out. Simple syntax only: local@domain, no
 * blanks or control bytes; full RFC 5321 parsing happens in SMTP.
 */
static int acct_norm_addr(const char *address, char *out, const char **domain)
{
    if (!address || acct_lower(address, out, ACCT_MAX_ADDR + 1) < 0)
        return -1;
    char *at = strrchr(out, '@');
    if (!at || at == out)
        return -1;
    for (const char *p = out; p < at; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
            return -1;
    if (!acct_domain_ok(at + 1))
        return -1;
    *domain = at + 1;
    return 0;
}

/* acct_norm_domain - lower-case copy of domain into out (ACCT_MAX_DOMAIN+1); -1 if invalid */
static int acct_norm_domain(const char *domain, char *out)
{
    if (!domain || acct_lower(domain, out, ACCT_MAX_DOMAIN + 1) < 0)
        return -1;
    return acct_domain_ok(out) ? 0 : -1;
}

acct_status accounts_domain_add(accounts *a, const char *domain)
{
    char d[ACCT_MAX_DOMAIN + 1], now[24];
    if (acct_norm_domain(domain, d) < 0)
        return ACCT_INVALID;
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    acct_status st = acct_change(a, Q_DOMAIN_ADD, d, now, "domain_add");
    if (st == ACCT_OK)
        log_info(NULL, "event=domain_add domain=%s", d);
    return st;
}

/* accounts_domain_del - drop a domain with its mailboxes (cascade) and its aliases */
acct_status accounts_domain_del(accounts *a, const char *domain)
{
    char d[ACCT_MAX_DOMAIN + 1];
    if (acct_norm_domain(domain, d) < 0)
        return ACCT_INVALID;
    if (acct_exec(a, "BEGIN IMMEDIATE") < 0)
        return acct_fail(a, "domain_del");
    acct_status st = acct_change(a, Q_DOMAIN_DEL, d, NULL, "domain_del");
    if (st == ACCT_OK && acct_change(a, Q_DOMAIN_DEL_ALIASES, d, NULL, "domain_del") == ACCT_TEMPFAIL)
        st = ACCT_TEMPFAIL;
    if (st == ACCT_OK && acct_exec(a, "COMMIT") < 0)
        st = acct_fail(a, "domain_del");
    if (st != ACCT_OK)
        acct_exec(a, "ROLLBACK");
    else
        log_info(NULL, "event=domain_del domain=%s", d);
    return st;
}

acct_status accounts_domain_is_local(accounts *a, const char *domain)
{
    char d[ACCT_MAX_DOMAIN + 1];
    if (acct_norm_domain(domain, d) < 0)
        return ACCT_NOTFOUND;
    return acct_exists(a, Q_DOMAIN_GET, d, "domain_is_local");
}

/* acct_hash - yescrypt hash of password with a fresh salt; heap string or NULL */
static char *acct_hash(const char *password)
{
    char *setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
    if (!setting)
        return NULL;
    void *data = NULL;
    int size = 0;
    const char *h = crypt_ra(password, setting, &data, &size);
    char *out = (h && h[0] != '*') ? xstrdup(h) : NULL;
    free(setting);
    free(data);
    return out;
}

/* acct_set_password - add (id Q_USER_ADD) or update (Q_USER_PASSWD) with a new hash */
static acct_status acct_store_user(accounts *a, int id, const char *addr, const char *domain, const char *password)
{
    if (!password || !*password)
        return ACCT_INVALID;
    char *hash = acct_hash(password);
    if (!hash) {
        log_error(NULL, "event=accounts_error op=hash error=\"yescrypt unavailable\"");
        return ACCT_TEMPFAIL;
    }
    acct_status st;
    if (id == Q_USER_PASSWD) {
        st = acct_change(a, id, addr, hash, "user_passwd");
    } else {
        sqlite3_stmt *q = acct_stmt(a, id);
        if (!q) {
            free(hash);
            return acct_fail(a, "user_add");
        }
        sqlite3_bind_text(q, 1, addr, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, domain, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)time(NULL));
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        st = rc == SQLITE_DONE ? ACCT_OK : (rc & 0xff) == SQLITE_CONSTRAINT ? ACCT_EXISTS : acct_fail(a, "user_add");
    }
    explicit_bzero(hash, strlen(hash));
    free(hash);
    return st;
}

acct_status accounts_user_add(accounts *a, const char *address, const char *password)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_INVALID;
    acct_status st = accounts_domain_is_local(a, domain);
    if (st != ACCT_OK)
        return st == ACCT_NOTFOUND ? ACCT_INVALID : st; /* a mailbox needs a local domain */
    st = acct_store_user(a, Q_USER_ADD, addr, domain, password);
    if (st == ACCT_OK)
        log_info(NULL, "event=user_add address=%s", addr);
    return st;
}

acct_status accounts_user_del(accounts *a, const char *address)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_INVALID;
    acct_status st = acct_change(a, Q_USER_DEL, addr, NULL, "user_del");
    if (st == ACCT_OK)
        log_info(NULL, "event=user_del address=%s", addr);
    return st;
}

acct_status accounts_user_passwd(accounts *a, const char *address, const char *password)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_INVALID;
    acct_status st = acct_store_user(a, Q_USER_PASSWD, addr, domain, password);
    if (st == ACCT_OK)
        log_info(NULL, "event=user_passwd address=%s", addr);
    return st;
}

/* acct_ct_equal - compare two strings in time that depends only on their lengths */
static int acct_ct_equal(const char *x, const char *y)
{
    size_t nx = strlen(x), ny = strlen(y);
    volatile unsigned char diff = (unsigned char)(nx != ny);
    for (size_t i = 0; i < nx && i < ny; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

/* A valid yescrypt setting hashed for unknown users, so they cost as much as known ones. */
static const char acct_dummy_hash[] = "$y$j9T$j4klyCSS0FKWzCq/K329t.";

/* acct_user_row - fill *u from columns first.. (state, quota_bytes, quota_messages) of st */
static void acct_user_row(sqlite3_stmt *st, int first, acct_user *u)
{
    const unsigned char *state = sqlite3_column_text(st, first);
    u->disabled = state && strcmp((const char *)state, "active") != 0;
    u->quota_bytes = sqlite3_column_int64(st, first + 1);
    u->quota_messages = sqlite3_column_int64(st, first + 2);
}

/* accounts_user_authenticate - ACCT_OK when the password matches, whatever the
 * mailbox state (u says it); wrong password and unknown user both ACCT_NOTFOUND */
acct_status accounts_user_authenticate(accounts *a, const char *address, const char *password, acct_user *u)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    acct_user info = {0};
    if (!password || acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_NOTFOUND;
    char *stored = NULL;
    int rc = acct_run(a, Q_USER_HASH, addr, NULL);
    if (rc == SQLITE_ROW) {
        stored = xstrdup((const char *)sqlite3_column_text(a->q[Q_USER_HASH], 0));
        acct_user_row(a->q[Q_USER_HASH], 1, &info);
        sqlite3_reset(a->q[Q_USER_HASH]);
    } else if (rc != SQLITE_DONE) {
        return acct_fail(a, "check_password");
    }
    void *data = NULL;
    int size = 0;
    const char *h = crypt_ra(password, stored ? stored : acct_dummy_hash, &data, &size);
    int ok = stored && h && h[0] != '*' && acct_ct_equal(h, stored);
    if (data) {
        explicit_bzero(data, (size_t)size);
        free(data);
    }
    free(stored);
    if (ok && u)
        *u = info;
    return ok ? ACCT_OK : ACCT_NOTFOUND;
}

/* accounts_user_check_password - ACCT_OK only for a matching password of an active mailbox */
acct_status accounts_user_check_password(accounts *a, const char *address, const char *password)
{
    acct_user u;
    acct_status st = accounts_user_authenticate(a, address, password, &u);
    return st == ACCT_OK && u.disabled ? ACCT_NOTFOUND : st;
}

/* accounts_user_get - state and quota of a mailbox; ACCT_NOTFOUND for aliases and strangers */
acct_status accounts_user_get(accounts *a, const char *address, acct_user *u)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_NOTFOUND;
    int rc = acct_run(a, Q_USER_INFO, addr, NULL);
    if (rc == SQLITE_ROW) {
        acct_user_row(a->q[Q_USER_INFO], 0, u);
        sqlite3_reset(a->q[Q_USER_INFO]);
        return ACCT_OK;
    }
    return rc == SQLITE_DONE ? ACCT_NOTFOUND : acct_fail(a, "user_get");
}

/* accounts_user_set_disabled - disable (no mail in, no login) or enable a mailbox */
acct_status accounts_user_set_disabled(accounts *a, const char *address, int disabled)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_INVALID;
    acct_status st = acct_change(a, Q_USER_STATE, addr, disabled ? "disabled" : "active", "user_state");
    if (st == ACCT_OK)
        log_info(NULL, "event=user_state address=%s state=%s", addr, disabled ? "disabled" : "active");
    return st;
}

/* accounts_user_set_quota - bytes and messages limits (0 = unlimited) */
acct_status accounts_user_set_quota(accounts *a, const char *address, long long bytes, long long messages)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0 || bytes < 0 || messages < 0)
        return ACCT_INVALID;
    sqlite3_stmt *q = acct_stmt(a, Q_USER_QUOTA);
    if (!q)
        return acct_fail(a, "user_quota");
    sqlite3_bind_text(q, 1, addr, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, bytes);
    sqlite3_bind_int64(q, 3, messages);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return acct_fail(a, "user_quota");
    if (sqlite3_changes(a->db) == 0)
        return ACCT_NOTFOUND;
    log_info(NULL, "event=user_quota address=%s bytes=%lld messages=%lld", addr, bytes, messages);
    return ACCT_OK;
}

/* acct_relay_step - run a POP-before-SMTP statement with text ?1 and integer ?2 */
static int acct_relay_step(accounts *a, int id, const char *ip, long long t)
{
    sqlite3_stmt *q = acct_stmt(a, id);
    if (!q)
        return SQLITE_ERROR;
    if (ip)
        sqlite3_bind_text(q, id == Q_RELAY_PRUNE ? 2 : 1, ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, id == Q_RELAY_PRUNE ? 1 : 2, (sqlite3_int64)t);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc;
}

/* accounts_relay_grant - POP-before-SMTP: ip may relay until the unix time expires */
acct_status accounts_relay_grant(accounts *a, const char *ip, long long expires)
{
    if (acct_relay_step(a, Q_RELAY_PRUNE, NULL, (long long)time(NULL)) != SQLITE_DONE ||
        acct_relay_step(a, Q_RELAY_GRANT, ip, expires) != SQLITE_DONE)
        return acct_fail(a, "relay_grant");
    return ACCT_OK;
}

/* accounts_relay_allowed - ACCT_OK while a POP-before-SMTP grant for ip has not expired */
acct_status accounts_relay_allowed(accounts *a, const char *ip)
{
    int rc = acct_relay_step(a, Q_RELAY_GET, ip, (long long)time(NULL));
    if (rc == SQLITE_ROW)
        return ACCT_OK;
    return rc == SQLITE_DONE ? ACCT_NOTFOUND : acct_fail(a, "relay_allowed");
}

acct_status accounts_alias_add(accounts *a, const char *alias, const char *target)
{
    char al[ACCT_MAX_ADDR + 1], tg[ACCT_MAX_ADDR + 1];
    const char *ad, *td;
    if (acct_norm_addr(alias, al, &ad) < 0 || acct_norm_addr(target, tg, &td) < 0)
        return ACCT_INVALID;
    acct_status st = accounts_domain_is_local(a, ad);
    if (st != ACCT_OK)
        return st == ACCT_NOTFOUND ? ACCT_INVALID : st; /* we only answer for our own domains */
    st = acct_change(a, Q_ALIAS_ADD, al, tg, "alias_add");
    if (st == ACCT_OK)
        log_info(NULL, "event=alias_add alias=%s target=%s", al, tg);
    return st;
}

acct_status accounts_alias_del(accounts *a, const char *alias, const char *target)
{
    char al[ACCT_MAX_ADDR + 1], tg[ACCT_MAX_ADDR + 1];
    const char *ad, *td;
    if (acct_norm_addr(alias, al, &ad) < 0 || (target && acct_norm_addr(target, tg, &td) < 0))
        return ACCT_INVALID;
    acct_status st = target ? acct_change(a, Q_ALIAS_DEL, al, tg, "alias_del")
                            : acct_change(a, Q_ALIAS_DEL_ALL, al, NULL, "alias_del");
    if (st == ACCT_OK)
        log_info(NULL, "event=alias_del alias=%s target=%s", al, target ? tg : "*");
    return st;
}

acct_status accounts_recipient_exists(accounts *a, const char *address)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_NOTFOUND;
    acct_status st = accounts_domain_is_local(a, domain);
    if (st != ACCT_OK)
        return st;
    st = acct_exists(a, Q_USER_GET, addr, "recipient_exists");
    if (st != ACCT_NOTFOUND)
        return st;
    return acct_exists(a, Q_ALIAS_ANY, addr, "recipient_exists");
}

/* The growing result and visited sets of one expansion. */
typedef struct acct_list {
    char **v;
    size_t n, alloc;
} acct_list;

/* acct_list_has - linear search: expansions are small */
static int acct_list_has(const acct_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* acct_list_add - append a copy of s (NULL-terminated afterwards) */
static void acct_list_add(acct_list *l, const char *s)
{
    if (l->n + 2 > l->alloc) {
        l->alloc = l->alloc ? l->alloc * 2 : 8;
        l->v = xrealloc(l->v, l->alloc * sizeof *l->v);
    }
    l->v[l->n++] = xstrdup(s);
    l->v[l->n] = NULL;
}

/* acct_targets - the alias targets of addr into *out (caller frees with accounts_list_free) */
static acct_status acct_targets(accounts *a, const char *addr, acct_list *out)
{
    int rc = acct_run(a, Q_ALIAS_TARGETS, addr, NULL);
    while (rc == SQLITE_ROW) {
        acct_list_add(out, (const char *)sqlite3_column_text(a->q[Q_ALIAS_TARGETS], 0));
        rc = sqlite3_step(a->q[Q_ALIAS_TARGETS]);
    }
    sqlite3_reset(a->q[Q_ALIAS_TARGETS]);
    return rc == SQLITE_DONE ? ACCT_OK : acct_fail(a, "expand");
}

/*
 * acct_expand_one - add the final addresses of addr to res. An alias is
 * replaced by its targets (the statement is drained before recursing, since
 * it is shared); an address seen before on any branch is a loop or a
 * duplicate, kept only when it is a mailbox (alias me -> me, remote keeps a
 * copy). Anything with no alias is final: mailbox, remote or dangling.
 */
static acct_status acct_expand_one(accounts *a, const char *addr, int depth, acct_list *seen, acct_list *res)
{
    if (acct_list_has(seen, addr)) {
        acct_status st = acct_exists(a, Q_USER_GET, addr, "expand");
        if (st == ACCT_OK && !acct_list_has(res, addr))
            acct_list_add(res, addr);
        return st == ACCT_TEMPFAIL ? st : ACCT_OK;
    }
    if (seen->n >= ACCT_MAX_EXPAND) {
        log_warn(NULL, "event=alias_cut address=%s reason=too_many", addr);
        return ACCT_OK;
    }
    acct_list_add(seen, addr);
    acct_list t = {0};
    acct_status st = acct_targets(a, addr, &t);
    if (st == ACCT_OK && t.n == 0 && !acct_list_has(res, addr))
        acct_list_add(res, addr);
    else if (st == ACCT_OK && t.n && depth >= ACCT_MAX_DEPTH)
        log_warn(NULL, "event=alias_cut address=%s reason=depth", addr);
    else
        for (size_t i = 0; st == ACCT_OK && i < t.n; i++)
            st = acct_expand_one(a, t.v[i], depth + 1, seen, res);
    accounts_list_free(t.v);
    return st;
}

acct_status accounts_expand(accounts *a, const char *address, char ***out)
{
    char addr[ACCT_MAX_ADDR + 1];
    const char *domain;
    *out = NULL;
    if (acct_norm_addr(address, addr, &domain) < 0)
        return ACCT_INVALID;
    acct_status st = accounts_recipient_exists(a, addr);
    if (st != ACCT_OK)
        return st;
    acct_list seen = {0}, res = {0};
    st = acct_expand_one(a, addr, 0, &seen, &res);
    accounts_list_free(seen.v);
    if (st == ACCT_OK && res.n == 0) {
        log_warn(NULL, "event=alias_loop address=%s reason=\"aliases lead nowhere\"", addr);
        st = ACCT_NOTFOUND;
    }
    if (st != ACCT_OK) {
        accounts_list_free(res.v);
        return st;
    }
    *out = res.v;
    return ACCT_OK;
}

void accounts_list_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* acct_list_rows - run sql (optional text ?1) and call fn per row */
static acct_status acct_list_rows(accounts *a, const char *sql, const char *p1, accounts_row_fn fn, void *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
        return acct_fail(a, "list");
    if (p1)
        sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    int rc, n = sqlite3_column_count(st);
    const char *fields[8];
    if (n > 8)
        n = 8;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            fields[i] = t ? (const char *)t : "";
        }
        fn(arg, fields, n);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? ACCT_OK : acct_fail(a, "list");
}

/* accounts_list_domains - rows: name, created (UTC), number of mailboxes */
acct_status accounts_list_domains(accounts *a, accounts_row_fn fn, void *arg)
{
    return acct_list_rows(a,
                          "SELECT d.name, datetime(d.created, 'unixepoch'), "
                          "(SELECT count(*) FROM users u WHERE u.domain = d.name) FROM domains d ORDER BY d.name",
                          NULL, fn, arg);
}

/* accounts_list_users - rows: address, created (UTC), state */
acct_status accounts_list_users(accounts *a, const char *domain, accounts_row_fn fn, void *arg)
{
    char d[ACCT_MAX_DOMAIN + 1];
    if (domain && acct_norm_domain(domain, d) < 0)
        return ACCT_INVALID;
    return acct_list_rows(a,
                          domain ? "SELECT address, datetime(created, 'unixepoch'), state FROM users "
                                   "WHERE domain = ?1 ORDER BY address"
                                 : "SELECT address, datetime(created, 'unixepoch'), state FROM users ORDER BY address",
                          domain ? d : NULL, fn, arg);
}

/* accounts_list_aliases - rows: alias, target */
acct_status accounts_list_aliases(accounts *a, accounts_row_fn fn, void *arg)
{
    return acct_list_rows(a, "SELECT alias, target FROM aliases ORDER BY alias, target", NULL, fn, arg);
}
