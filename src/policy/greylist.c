/*
 * greylist - the greylisting decision over any greylist_ops store (see
 * greylist.h). Keys: "n NETWORK" for a client network, "t NETWORK SENDER
 * RCPT" for a triplet (sender and recipient lower-cased; "<>" for the null
 * sender). Expired entries are purged at most once an hour, from here.
 */
#include "policy/greylist.h"

#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define GREYLIST_PURGE_EVERY 3600

/* greylist_network - the /24 or /64 an address belongs to */
int greylist_network(const char *ip, char *out, size_t outlen)
{
    unsigned char a[16];
    char txt[INET6_ADDRSTRLEN];
    if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
        ip += 7;
    if (inet_pton(AF_INET, ip, a) == 1) {
        a[3] = 0;
        inet_ntop(AF_INET, a, txt, sizeof txt);
        return snprintf(out, outlen, "%s/24", txt) < (int)outlen ? 0 : -1;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        memset(a + 8, 0, 8);
        inet_ntop(AF_INET6, a, txt, sizeof txt);
        return snprintf(out, outlen, "%s/64", txt) < (int)outlen ? 0 : -1;
    }
    return -1;
}

/* greylist_lower - lower-case copy of s into out (truncated to fit) */
static void greylist_lower(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    out[i] = '\0';
}

/* greylist_purge - drop old entries, at most once per GREYLIST_PURGE_EVERY */
static void greylist_purge(greylist *g, long long now)
{
    if (now - g->last_purge < GREYLIST_PURGE_EVERY)
        return;
    g->last_purge = now;
    g->ops->purge(g->h, now - g->window, now - g->expire);
}

/* greylist_known_network - 1 when net is auto-whitelisted (refreshes it), 0 not, -1 store error */
static int greylist_known_network(greylist *g, const char *nkey, long long now)
{
    greylist_entry n;
    greylist_db_status st = g->ops->get(g->h, nkey, &n);
    if (st == GREYLIST_DB_TEMPFAIL)
        return -1;
    if (st != GREYLIST_DB_OK || g->awl == 0 || n.count < g->awl || now - n.last > g->expire)
        return 0;
    n.last = now;
    return g->ops->put(g->h, nkey, &n) == GREYLIST_DB_OK ? 1 : -1;
}

/* greylist_count_pass - a triplet passed for the first time: one more for its network */
static greylist_db_status greylist_count_pass(greylist *g, const char *nkey, long long now)
{
    greylist_entry n;
    greylist_db_status st = g->ops->get(g->h, nkey, &n);
    if (st == GREYLIST_DB_TEMPFAIL)
        return st;
    if (st != GREYLIST_DB_OK || now - n.last > g->expire)
        n = (greylist_entry){now, now, 0};
    n.count++;
    n.last = now;
    return g->ops->put(g->h, nkey, &n);
}

/* greylist_check - the verdict for one attempt */
greylist_verdict greylist_check(greylist *g, const char *ip, const char *sender, const char *rcpt, long long now,
                                unsigned *wait)
{
    char net[64], snd[520], rc[520], nkey[80], tkey[1200];
    *wait = 0;
    if (greylist_network(ip, net, sizeof net) < 0)
        return GREYLIST_PASS; /* not an IP (cannot happen on a socket): nothing to key on */
    greylist_purge(g, now);
    greylist_lower(snd, sizeof snd, sender && *sender ? sender : "<>");
    greylist_lower(rc, sizeof rc, rcpt ? rcpt : "");
    snprintf(nkey, sizeof nkey, "n %s", net);
    snprintf(tkey, sizeof tkey, "t %s %s %s", net, snd, rc);
    int known = greylist_known_network(g, nkey, now);
    if (known != 0)
        return known > 0 ? GREYLIST_KNOWN : GREYLIST_TEMPFAIL;
    greylist_entry t;
    greylist_db_status st = g->ops->get(g->h, tkey, &t);
    if (st == GREYLIST_DB_TEMPFAIL)
        return GREYLIST_TEMPFAIL;
    int fresh = st != GREYLIST_DB_OK || (t.count == 0 && now - t.first > g->window) ||
                (t.count > 0 && now - t.last > g->expire);
    if (fresh) {
        t = (greylist_entry){now, now, 0};
        *wait = g->delay;
        return g->ops->put(g->h, tkey, &t) == GREYLIST_DB_OK ? GREYLIST_DEFER : GREYLIST_TEMPFAIL;
    }
    if (t.count == 0 && now - t.first < g->delay) {
        *wait = (unsigned)(g->delay - (now - t.first));
        t.last = now;
        return g->ops->put(g->h, tkey, &t) == GREYLIST_DB_OK ? GREYLIST_DEFER : GREYLIST_TEMPFAIL;
    }
    t.count++;
    t.last = now;
    if (g->ops->put(g->h, tkey, &t) != GREYLIST_DB_OK)
        return GREYLIST_TEMPFAIL;
    if (t.count == 1 && greylist_count_pass(g, nkey, now) != GREYLIST_DB_OK)
        return GREYLIST_TEMPFAIL;
    return GREYLIST_PASS;
}

/* greylist_free - close the store */
void greylist_free(greylist *g)
{
    if (!g)
        return;
    g->ops->close(g->h);
    free(g);
}
