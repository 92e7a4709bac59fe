/*
 * greylist - greylisting (RFC 6647) of (client network, sender, recipient)
 * triplets, with an auto-whitelist of client networks that passed.
 *
 * The client network is the /24 of an IPv4 address or the /64 of an IPv6
 * one, so a sender's pool of outgoing servers counts as one client. The
 * first attempt of a triplet is deferred; a retry after `delay` seconds and
 * within `window` seconds of the first attempt passes, and the triplet is
 * then remembered for `expire` seconds since it was last seen. A network
 * with `awl` passed triplets is never greylisted again (until it is silent
 * for `expire`). awl = 0 turns the auto-whitelist off.
 *
 * State lives behind greylist_ops, so another store (Redis, shared by
 * several servers) can replace the SQLite one (greylist_sqlite.c) without
 * touching the logic here. Keys are text; entries are three numbers.
 */
#ifndef POCHTA_POLICY_GREYLIST_H
#define POCHTA_POLICY_GREYLIST_H

#include <stddef.h>

typedef struct greylist_entry {
    long long first;  /* first attempt (unix seconds) */
    long long last;   /* last seen */
    unsigned count;   /* passes (triplet) or passed triplets (network); 0 = still pending */
} greylist_entry;

typedef enum { GREYLIST_DB_OK = 0, GREYLIST_DB_NOTFOUND = 1, GREYLIST_DB_TEMPFAIL = -1 } greylist_db_status;

/* The storage interface: one key-value table with expiry by age. */
typedef struct greylist_ops {
    greylist_db_status (*get)(void *h, const char *key, greylist_entry *e);
    greylist_db_status (*put)(void *h, const char *key, const greylist_entry *e);
    /* purge - drop pending entries first seen before pending_before and passed ones last seen before passed_before */
    greylist_db_status (*purge)(void *h, long long pending_before, long long passed_before);
    void (*close)(void *h);
} greylist_ops;

typedef struct greylist {
    const greylist_ops *ops;
    void *h;
    unsigned delay, window, expire, awl;
    long long last_purge;
} greylist;

typedef enum {
    GREYLIST_PASS,      /* triplet retried in time, or already passed */
    GREYLIST_KNOWN,     /* the client network is auto-whitelisted */
    GREYLIST_DEFER,     /* greylisted: *wait seconds until a retry passes */
    GREYLIST_TEMPFAIL,  /* the store failed */
} greylist_verdict;

/* greylist_check - decide and record one attempt at time now */
greylist_verdict greylist_check(greylist *g, const char *ip, const char *sender, const char *rcpt, long long now,
                                unsigned *wait);
/* greylist_network - "192.0.2.0/24" or "2001:db8:1:2::/64" for an address; 0 or -1 */
int greylist_network(const char *ip, char *out, size_t outlen);
/* greylist_sqlite_open - the SQLite store in db_path (table greylist); NULL with err */
greylist *greylist_sqlite_open(const char *db_path, char *err, size_t errlen);
void greylist_free(greylist *g);

#endif
