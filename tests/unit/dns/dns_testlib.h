/*
 * dns_testlib - what the DNS unit tests share: a callback that keeps a
 * copy of the answer it got and counts its calls. Header-only (static
 * functions) because each test is its own executable.
 */
#ifndef POCHTA_TESTS_DNS_TESTLIB_H
#define POCHTA_TESTS_DNS_TESTLIB_H

#include "dns/dns.h"

typedef struct got {
    int calls;
    dns_answer *a; /* a copy of the last answer, owned; dns_answer_free it */
} got;

/* on_answer - count the call and keep a copy of the answer in the got at arg */
static inline void on_answer(void *arg, const dns_answer *answer)
{
    got *g = arg;
    g->calls++;
    dns_answer_free(g->a);
    g->a = dns_answer_dup(answer);
}

#endif
