/*
 * spf_names - the parts of an SPF check that walk lists of names: the MX
 * hosts of an "mx" mechanism (5.4), the validation of the client's PTR
 * names for "ptr" and %{p} (5.5, 7.3), and the exp= explanation (6.2).
 * State lives in the spf_check (spf_check_int.h); one query at a time.
 *
 * Limits (4.6.4): more than SPF_MAX_NAMES MX records is a permerror (the
 * sender controls its MX set); only the first SPF_MAX_NAMES PTR names are
 * looked at, with no error (the sender does not control a spammer's PTRs).
 * A DNS error on a PTR name's address lookup skips that name (5.5).
 */
#include "auth/spf_check_int.h"

#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* spf_names_clear - free a name list */
void spf_names_clear(char ***names, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
    *n = 0;
}

/* spf_names_add - append a copy of name */
static void spf_names_add(char ***names, size_t *n, const char *name)
{
    *names = xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = xstrdup(name);
}

/* spf_addr_type - the address record type asked for the client's family */
static uint16_t spf_addr_type(const spf_check *c)
{
    return c->v6 ? DNS_T_AAAA : DNS_T_A;
}

/* spf_mx_next - look up the next MX host, or end the mechanism without a match */
static void spf_mx_next(spf_check *c)
{
    if (c->name_i < c->nnames) {
        spf_lookup(c, SPF_OP_MX_ADDR, c->names[c->name_i], spf_addr_type(c));
        return;
    }
    spf_names_clear(&c->names, &c->nnames);
    spf_term_done(c, 0);
    spf_run(c);
}

/* spf_mx_answer - MX records of an "mx" target (5.4) */
void spf_mx_answer(spf_check *c, const dns_answer *a)
{
    if (a->status == DNS_TEMPFAIL || a->status == DNS_PERMFAIL) {
        spf_error(c, SPF_TEMPERROR, "DNS error looking up MX of %s", a->name);
        return;
    }
    if (a->status != DNS_OK || a->count == 0) {
        if (spf_void(c) == 0) {
            spf_term_done(c, 0); /* 5.4: no MX is no match, never an implicit MX */
            spf_run(c);
        }
        return;
    }
    if (a->count > SPF_MAX_NAMES) {
        spf_error(c, SPF_PERMERROR, "more than %d MX records at %s", SPF_MAX_NAMES, a->name);
        return;
    }
    spf_names_clear(&c->names, &c->nnames);
    for (size_t i = 0; i < a->count; i++)
        if (a->rr[i].type == DNS_T_MX && a->rr[i].text[0] != '\0') /* a null MX (RFC 7505) has no hosts */
            spf_names_add(&c->names, &c->nnames, a->rr[i].text);
    c->name_i = 0;
    spf_mx_next(c);
}

/* spf_mx_addr_answer - addresses of one MX host */
void spf_mx_addr_answer(spf_check *c, const dns_answer *a)
{
    const spf_frame *f = &c->frames[c->depth - 1];
    const spf_term *t = &f->rec->terms[f->term];
    if (a->status == DNS_TEMPFAIL || a->status == DNS_PERMFAIL) {
        spf_error(c, SPF_TEMPERROR, "DNS error looking up %s", a->name);
        return;
    }
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        if (spf_addr_match(c, a->rr[i].text, t->cidr4, t->cidr6)) {
            spf_names_clear(&c->names, &c->nnames);
            spf_term_done(c, 1);
            spf_run(c);
            return;
        }
    c->name_i++;
    spf_mx_next(c);
}

/* spf_ptr_start - begin validating the client's PTR names; may finish at once (no reverse name) */
void spf_ptr_start(spf_check *c)
{
    char rev[128];
    c->ptr_state = SPF_PTR_RUNNING;
    if (dns_reverse_name(c->ip_c, rev, sizeof rev) != 0) {
        c->ptr_state = SPF_PTR_DONE;
        return;
    }
    spf_lookup(c, SPF_OP_PTR, rev, DNS_T_PTR);
}

/* spf_ptr_next - forward-look-up the next PTR name, or finish and resume the check */
static void spf_ptr_next(spf_check *c)
{
    if (c->name_i < c->nnames) {
        spf_lookup(c, SPF_OP_PTR_ADDR, c->names[c->name_i], spf_addr_type(c));
        return;
    }
    spf_names_clear(&c->names, &c->nnames);
    c->ptr_state = SPF_PTR_DONE;
    spf_continue(c);
}

/* spf_ptr_answer - the client's PTR names; a DNS error means none (5.5) */
void spf_ptr_answer(spf_check *c, const dns_answer *a)
{
    spf_names_clear(&c->names, &c->nnames);
    if (a->status == DNS_NXDOMAIN || a->status == DNS_NODATA || (a->status == DNS_OK && a->count == 0))
        c->ptr_void = 1;
    for (size_t i = 0; a->status == DNS_OK && i < a->count && c->nnames < SPF_MAX_NAMES; i++)
        if (a->rr[i].type == DNS_T_PTR && a->rr[i].text[0] != '\0')
            spf_names_add(&c->names, &c->nnames, a->rr[i].text);
    c->name_i = 0;
    spf_ptr_next(c);
}

/* spf_ptr_addr_answer - a PTR name validates when one of its addresses is the client's */
void spf_ptr_addr_answer(spf_check *c, const dns_answer *a)
{
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        if (spf_addr_match(c, a->rr[i].text, 32, 128)) {
            spf_names_add(&c->valid, &c->nvalid, c->names[c->name_i]);
            break;
        }
    c->name_i++;
    spf_ptr_next(c);
}

/* spf_name_under - name equals domain or ends in "." domain (case-blind) */
static int spf_name_under(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n == d)
        return strcasecmp(name, domain) == 0;
    return n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, domain) == 0;
}

/* spf_ptr_match - the ptr mechanism once names are validated: SPF_MATCH, SPF_NOMATCH or SPF_STOP */
int spf_ptr_match(spf_check *c, const char *target)
{
    if (c->ptr_void && spf_void(c) < 0)
        return SPF_STOP;
    for (size_t i = 0; target && i < c->nvalid; i++)
        if (spf_name_under(c->valid[i], target))
            return SPF_MATCH;
    return SPF_NOMATCH;
}

/* spf_ptr_pick - %{p}: <domain> itself, else a subdomain of it, else any validated name, else "unknown" (7.3) */
const char *spf_ptr_pick(const spf_check *c, const char *domain)
{
    for (size_t i = 0; i < c->nvalid; i++)
        if (strcasecmp(c->valid[i], domain) == 0)
            return c->valid[i];
    for (size_t i = 0; i < c->nvalid; i++)
        if (spf_name_under(c->valid[i], domain))
            return c->valid[i];
    return c->nvalid ? c->valid[0] : "unknown";
}

/* spf_exp_start - the result is fail and the record has exp=: fetch the explanation (6.2) */
void spf_exp_start(spf_check *c)
{
    c->in_exp = 1;
    spf_exp_step(c);
}

/* spf_exp_step - next step of exp=: look up the target, or expand the text; any problem drops exp= */
void spf_exp_step(spf_check *c)
{
    const char *spec = c->frames[0].rec->exp;
    const char *text = c->exp_text ? c->exp_text : spec;
    if (c->ptr_state != SPF_PTR_DONE && spf_macro_uses_p(text, strlen(text))) {
        spf_ptr_start(c);
        if (c->q)
            return; /* spf_continue brings us back */
    }
    spf_macro_vars v;
    spf_check_vars(c, c->frames[0].domain, &v); /* the <domain> of the record holding exp= */
    if (!c->exp_text) {
        char name[SPF_MAX_NAME + 2];
        if (spf_target_name(spec, &v, name, sizeof name) == 0)
            spf_lookup(c, SPF_OP_EXP, name, DNS_T_TXT);
        else
            spf_finish(c);
        return;
    }
    buf out;
    buf_init(&out, SPF_MAX_EXPANSION);
    if (spf_macro_expand(c->exp_text, strlen(c->exp_text), &v, SPF_MACRO_EXP, &out) == 0)
        c->res->explanation = xstrdup(buf_cstr(&out));
    buf_free(&out);
    spf_finish(c);
}

/* spf_exp_answer - exactly one TXT record with a valid explain-string, or no explanation (6.2) */
void spf_exp_answer(spf_check *c, const dns_answer *a)
{
    const dns_rr *txt = NULL;
    size_t n = 0;
    for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
        if (a->rr[i].type == DNS_T_TXT) {
            txt = &a->rr[i];
            n++;
        }
    if (n != 1 || spf_macro_check(txt->text, txt->len, SPF_MACRO_EXP) < 0) {
        spf_finish(c);
        return;
    }
    c->exp_text = xstrndup(txt->text, txt->len);
    spf_exp_step(c);
}
