/*
 * test_unbound - the libunbound backend against a tiny fake DNS server on a
 * loopback UDP socket in this process (no network, no NSD): a normal answer
 * decoded end to end, a deadline answering TEMPFAIL, a late reply after the
 * deadline never calling back, dns_cancel, and free with queries in flight
 * (ASan checks nothing is touched after free).
 */
#include "check.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fake {
    int fd;
    int answer_now;               /* reply as soon as a query arrives */
    unsigned char held[512];      /* last query not answered */
    ssize_t held_len;
    struct sockaddr_in from;
} fake;

typedef struct got {
    int calls;
    dns_status st;
    size_t count;
    char first[64];
} got;

/* on_answer - remember what came back */
static void on_answer(void *arg, const dns_answer *a)
{
    got *g = arg;
    g->calls++;
    g->st = a->status;
    g->count = a->count;
    snprintf(g->first, sizeof g->first, "%s", a->count ? a->rr[0].text : "");
}

/* fake_reply - answer the query in q with one A record 192.0.2.7 */
static void fake_reply(fake *f, const unsigned char *q, ssize_t len, const struct sockaddr_in *to)
{
    unsigned char r[600];
    size_t p = 12;
    while (p < (size_t)len && q[p] != 0)
        p += q[p] + 1u;
    p += 5;  /* root label, type, class */
    if (p > (size_t)len || p + 16 > sizeof r)
        return;
    memcpy(r, q, p);
    r[2] = 0x81;  /* QR, RD */
    r[3] = 0x80;  /* RA, NOERROR */
    r[6] = 0, r[7] = 1;  /* ANCOUNT 1 */
    r[8] = r[9] = r[10] = r[11] = 0;
    static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 7};
    memcpy(r + p, rr, sizeof rr);
    (void)sendto(f->fd, r, p + sizeof rr, 0, (const struct sockaddr *)to, sizeof *to);
}

/* fake_readable - a query came: answer it or hold it */
static void fake_readable(evutil_socket_t fd, short what, void *arg)
{
    fake *f = arg;
    socklen_t sl = sizeof f->from;
    f->held_len = recvfrom(f->fd, f->held, sizeof f->held, 0, (struct sockaddr *)&f->from, &sl);
    if (f->answer_now && f->held_len > 12)
        fake_reply(f, f->held, f->held_len, &f->from);
}

/* run_until - loop until *flag or ms pass */
static void run_until(struct event_base *base, const int *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !(flag && *flag); i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

int main(void)
{
    struct event_base *base = event_base_new();
    fake f = {0};
    f.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CHECK(bind(f.fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind");
    getsockname(f.fd, (struct sockaddr *)&sa, &sl);
    struct event *fev = event_new(base, f.fd, EV_READ | EV_PERSIST, fake_readable, &f);
    event_add(fev, NULL);

    char server[64], err[256] = "";
    snprintf(server, sizeof server, "127.0.0.1:%u", ntohs(sa.sin_port));
    dns_resolver *r = dns_unbound_new(base, server, err, sizeof err);
    CHECK(r != NULL, "dns_unbound_new: %s", err);
    CHECK(dns_unbound_new(base, "127.0.0.1:99999", err, sizeof err) == NULL, "bad port accepted");
    if (!r)
        return check_summary();
    dns_unbound_set_timeout(r, 300);

    /* 1. an answer, decoded */
    f.answer_now = 1;
    got g1 = {0};
    dns_lookup(r, "host.example.test", DNS_T_A, on_answer, &g1);
    CHECK(g1.calls == 0, "callback inside dns_lookup");
    run_until(base, &g1.calls, 3000);
    CHECK(g1.calls == 1 && g1.st == DNS_OK && g1.count == 1, "answer: calls %d st %d", g1.calls, g1.st);
    CHECK_STR(g1.first, "192.0.2.7", "A record");

    /* 2. no reply: TEMPFAIL at the deadline; a late reply calls nothing */
    f.answer_now = 0;
    f.held_len = 0;
    got g2 = {0};
    dns_lookup(r, "slow.example.test", DNS_T_A, on_answer, &g2);
    run_until(base, &g2.calls, 3000);
    CHECK(g2.calls == 1 && g2.st == DNS_TEMPFAIL, "timeout: calls %d st %d", g2.calls, g2.st);
    if (f.held_len > 12)
        fake_reply(&f, f.held, f.held_len, &f.from);
    run_until(base, NULL, 300);
    CHECK(g2.calls == 1, "late reply called back again");

    /* 3. cancel, and free with a query in flight: no callbacks */
    got g3 = {0}, g4 = {0};
    dns_query *q = dns_lookup(r, "cancel.example.test", DNS_T_A, on_answer, &g3);
    dns_cancel(r, q);
    dns_lookup(r, "inflight.example.test", DNS_T_MX, on_answer, &g4);
    run_until(base, NULL, 100);
    int before_free = g4.calls;  /* unbound may already have given up on the silent server */
    dns_resolver_free(r);
    run_until(base, NULL, 400);
    CHECK(g3.calls == 0 && g4.calls == before_free, "callbacks after cancel/free: %d %d", g3.calls, g4.calls);

    event_free(fev);
    close(f.fd);
    event_base_free(base);
    return check_summary();
}
