/*
 * spf_check_int - the state of one SPF check, shared by spf_check.c (frames,
 * terms, records) and spf_names.c (MX hosts, PTR validation, exp=). Not for
 * other modules: use spf.h.
 */
#ifndef POCHTA_AUTH_SPF_CHECK_INT_H
#define POCHTA_AUTH_SPF_CHECK_INT_H

#include "auth/spf.h"
#include "auth/spf_parse.h"

/* SPF_MAX_DEPTH - frames: the top plus one per include, which the term limit bounds */
#define SPF_MAX_DEPTH (SPF_MAX_DNS_TERMS + 2)

typedef enum {
    SPF_OP_RECORD,   /* TXT of a frame's domain */
    SPF_OP_ADDR,     /* A/AAAA of an "a" target */
    SPF_OP_EXISTS,   /* A of an "exists" target */
    SPF_OP_MX,       /* MX of an "mx" target */
    SPF_OP_MX_ADDR,  /* A/AAAA of MX host c->name_i */
    SPF_OP_PTR,      /* PTR of the client address */
    SPF_OP_PTR_ADDR, /* A/AAAA of PTR name c->name_i */
    SPF_OP_EXP,      /* TXT of the exp= target */
} spf_op;

/* what evaluating a term gave */
enum {
    SPF_MATCH,
    SPF_NOMATCH,
    SPF_PENDING, /* a query is in flight; its answer continues the check */
    SPF_PUSHED,  /* a new record must be fetched (include, redirect) */
    SPF_STOP,    /* the check has ended (error) */
};

/* what spf_target gave */
enum { SPF_GO = 0, SPF_NONAME = 1 };
/* (SPF_PENDING above is also a spf_target answer) */

enum { SPF_PTR_IDLE, SPF_PTR_RUNNING, SPF_PTR_DONE };

typedef struct spf_frame {
    char *domain;     /* current <domain> (owned) */
    spf_record *rec;  /* NULL until fetched (owned) */
    size_t term;      /* next directive */
    int counted;      /* the current term was counted against SPF_MAX_DNS_TERMS */
    int redirected;   /* reached by redirect=: no record is a permerror (6.1) */
} spf_frame;

struct spf_check {
    dns_resolver *r;
    struct event *timer;  /* deadline, then zero-delay delivery (owned) */
    dns_query *q;         /* the query in flight or NULL */
    spf_op op;
    spf_done_fn done;
    void *arg;
    spf_result *res;      /* built as we go (owned until delivered) */
    int finished;

    int v6;
    unsigned char ip[16]; /* IPv4 in the first 4 bytes */
    char ip_c[64];        /* %{c} */
    char ip_i[72];        /* %{i} */
    char *local;          /* %{l} (owned) */

    spf_frame frames[SPF_MAX_DEPTH];
    int depth;
    unsigned dns_terms, voids;

    char **names;         /* MX hosts or PTR names being looked at (owned) */
    size_t nnames, name_i;

    int ptr_state;        /* SPF_PTR_* */
    int ptr_void;         /* the PTR lookup found nothing */
    char **valid;         /* validated PTR names (owned) */
    size_t nvalid;

    int in_exp;           /* evaluating exp= after a fail */
    char *exp_text;       /* the explanation TXT before expansion (owned) */
};

/* spf_check.c */
void spf_run(spf_check *c);
void spf_finish(spf_check *c);
void spf_error(spf_check *c, spf_result_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void spf_lookup(spf_check *c, spf_op op, const char *name, uint16_t type);
void spf_dns_cb(void *arg, const dns_answer *a);
int spf_void(spf_check *c);
int spf_addr_match(const spf_check *c, const char *text, int cidr4, int cidr6);
int spf_prefix_eq(const unsigned char *a, const unsigned char *b, int bits);
void spf_frame_done(spf_check *c, spf_result_code code, const char *mech);
void spf_term_done(spf_check *c, int match);
void spf_check_vars(spf_check *c, const char *domain, spf_macro_vars *v);
void spf_continue(spf_check *c);
void spf_check_free(spf_check *c);

/* spf_names.c */
void spf_mx_answer(spf_check *c, const dns_answer *a);
void spf_mx_addr_answer(spf_check *c, const dns_answer *a);
void spf_ptr_start(spf_check *c);
void spf_ptr_answer(spf_check *c, const dns_answer *a);
void spf_ptr_addr_answer(spf_check *c, const dns_answer *a);
int spf_ptr_match(spf_check *c, const char *target);
const char *spf_ptr_pick(const spf_check *c, const char *domain);
void spf_exp_start(spf_check *c);
void spf_exp_step(spf_check *c);
void spf_exp_answer(spf_check *c, const dns_answer *a);
void spf_names_clear(char ***names, size_t *n);

#endif
