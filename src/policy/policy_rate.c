/*
 * policy_rate - connections, messages and recipients per client IP over
 * fixed one-minute windows (like Postfix's anvil, in process).
 *
 * A chained hash keyed by the address text. At most POLICY_RATE_MAX
 * addresses are tracked: when the table is full, entries whose window is
 * over are dropped first; if all are current, new addresses are not
 * counted (failing open: a flood of distinct addresses must not make us
 * refuse everyone).
 */
#include "policy/policy_internal.h"

#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_RATE_BUCKETS 4096
#define POLICY_RATE_MAX 100000
#define POLICY_RATE_WINDOW 60

typedef struct policy_rate_entry {
    struct policy_rate_entry *next;
    long long start;
    unsigned n[3];
    char ip[64];
} policy_rate_entry;

struct policy_rate {
    policy_rate_entry *b[POLICY_RATE_BUCKETS];
    size_t count;
};

/* policy_rate_new - empty table */
policy_rate *policy_rate_new(void)
{
    return xcalloc(1, sizeof(policy_rate));
}

/* policy_rate_free - drop every entry */
void policy_rate_free(policy_rate *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < POLICY_RATE_BUCKETS; i++)
        while (t->b[i]) {
            policy_rate_entry *e = t->b[i];
            t->b[i] = e->next;
            free(e);
        }
    free(t);
}

/* policy_rate_hash - FNV-1a of the address */
static size_t policy_rate_hash(const char *ip)
{
    unsigned h = 2166136261u;
    for (; *ip; ip++)
        h = (h ^ (unsigned char)*ip) * 16777619u;
    return h % POLICY_RATE_BUCKETS;
}

/* policy_rate_prune - drop entries whose window ended */
static void policy_rate_prune(policy_rate *t, long long now)
{
    for (size_t i = 0; i < POLICY_RATE_BUCKETS; i++)
        for (policy_rate_entry **l = &t->b[i]; *l;) {
            if (now - (*l)->start >= POLICY_RATE_WINDOW) {
                policy_rate_entry *e = *l;
                *l = e->next;
                free(e);
                t->count--;
            } else {
                l = &(*l)->next;
            }
        }
}

/* policy_rate_hit - count one event; the count in the current window */
unsigned policy_rate_hit(policy_rate *t, const char *ip, policy_rate_kind kind, long long now)
{
    size_t h = policy_rate_hash(ip);
    policy_rate_entry *e = t->b[h];
    while (e && strcmp(e->ip, ip) != 0)
        e = e->next;
    if (!e) {
        if (t->count >= POLICY_RATE_MAX)
            policy_rate_prune(t, now);
        if (t->count >= POLICY_RATE_MAX)
            return 0;
        e = xcalloc(1, sizeof *e);
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        e->start = now;
        e->next = t->b[h];
        t->b[h] = e;
        t->count++;
    }
    if (now - e->start >= POLICY_RATE_WINDOW) {
        e->start = now;
        memset(e->n, 0, sizeof e->n);
    }
    return ++e->n[kind];
}
