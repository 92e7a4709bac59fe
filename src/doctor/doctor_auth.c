/*
 * doctor_auth - the SPF, DKIM and DMARC checks of `pochta doctor DOMAIN`,
 * built on the project's own code: the SPF record parser and evaluator
 * (src/auth/spf*: RFC 7208 limits, void lookups), the DKIM key-record
 * reader and key loading (dkim.h), the DMARC record parser and
 * organisational domain (dmarc.h). The record texts come through the DNS
 * layer, so what the doctor sees is what the daemon would see.
 *
 * SPF lookups are counted by evaluating the record for DOCTOR_SPF_PROBE_IP
 * (RFC 5737 documentation address, which no record should match), so every
 * term is walked; the server IP is then checked separately for a pass.
 */
#include "doctor/doctor_int.h"

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "auth/spf_parse.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DOCTOR_SPF_PROBE_IP - an address no SPF record should match, so evaluation walks every term */
#define DOCTOR_SPF_PROBE_IP "192.0.2.0"

/* Selectors tried when none is given (pochta's own default first). */
static const char *doctor_common_selectors[] = {"pochta", "default", "dkim", "mail", "selector1", "selector2",
                                                "google", "s1", "k1"};

typedef struct doctor_spf_wait {
    int done;
    spf_result *res;
} doctor_spf_wait;

/* doctor_spf_done - the evaluator's callback */
static void doctor_spf_done(void *arg, spf_result *res)
{
    doctor_spf_wait *w = arg;
    w->done = 1;
    w->res = res;
}

/* doctor_spf_eval - run check_host() for postmaster@domain from ip; the caller frees the result */
static spf_result *doctor_spf_eval(doctor_ctx *c, const char *ip)
{
    char *from = xasprintf("postmaster@%s", c->o->domain);
    spf_request req = {c->base, ip, from, c->helo[0] ? c->helo : c->o->domain, NULL, SPF_ID_MAILFROM, 0};
    doctor_spf_wait w = {0, NULL};
    if (spf_check_start(c->r, &req, doctor_spf_done, &w))
        while (!w.done)
            if (event_base_loop(c->base, EVLOOP_ONCE) < 0)
                break;
    free(from);
    return w.res;
}

/* doctor_spf_fetch - the SPF records at the domain; 0 with count and the only record, or -1 on DNS failure */
static int doctor_spf_fetch(doctor_ctx *c, size_t *count, char **record)
{
    dns_answer *a = NULL;
    dns_status st = doctor_lookup(c, c->o->domain, DNS_T_TXT, &a);
    *count = 0;
    *record = NULL;
    if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
        dns_answer_free(a);
        return -1;
    }
    for (size_t i = 0; a && st == DNS_OK && i < a->count; i++)
        if (a->rr[i].type == DNS_T_TXT && spf_record_is_spf(a->rr[i].text, a->rr[i].len)) {
            if (++*count == 1)
                *record = xasprintf("%.*s", (int)a->rr[i].len, a->rr[i].text);
        }
    dns_answer_free(a);
    return 0;
}

/* doctor_spf_terms - spf.all and spf.ptr from the parsed top-level record */
static void doctor_spf_terms(doctor_ctx *c, const spf_record *rec, const char *txt)
{
    const spf_term *all = NULL;
    int ptr = 0;
    for (size_t i = 0; i < rec->nterms; i++) {
        if (rec->terms[i].type == SPF_M_ALL && !all)
            all = &rec->terms[i];
        ptr |= rec->terms[i].type == SPF_M_PTR;
    }
    doctor_check *k;
    if (all && all->qualifier == '+') {
        k = doctor_add(c->rep, "spf.all", DOCTOR_FAIL, "'%s' lets every IP in the world pass", all->text);
        doctor_fix(k, "end the record with -all (or ~all while testing): \"%s\" with %s replaced", txt, all->text);
    } else if (all && all->qualifier == '?') {
        k = doctor_add(c->rep, "spf.all", DOCTOR_WARN, "'%s' makes every other IP neutral", all->text);
        doctor_fix(k, "end the record with -all (or ~all while testing)");
    } else if (!all && !rec->redirect) {
        k = doctor_add(c->rep, "spf.all", DOCTOR_WARN, "no 'all' and no redirect=: other IPs get neutral");
        doctor_fix(k, "end the record with -all (or ~all while testing)");
    } else {
        doctor_add(c->rep, "spf.all", DOCTOR_OK, "%s", all ? all->text : "ends in redirect=");
    }
    if (ptr) {
        k = doctor_add(c->rep, "spf.ptr", DOCTOR_WARN, "the record uses the deprecated ptr mechanism");
        doctor_fix(k, "replace ptr with ip4:/ip6: of your servers, or a or mx");
    } else {
        doctor_add(c->rep, "spf.ptr", DOCTOR_OK, "no ptr mechanism");
    }
}

/* doctor_spf_limits - spf.syntax (evaluation), spf.lookups, spf.void from walking every term */
static void doctor_spf_limits(doctor_ctx *c)
{
    spf_result *res = doctor_spf_eval(c, DOCTOR_SPF_PROBE_IP);
    const char *prob = res && res->problem ? res->problem : "";
    int lookups = res && res->code == SPF_PERMERROR && strstr(prob, "DNS-querying terms");
    int voids = res && res->code == SPF_PERMERROR && strstr(prob, "void DNS lookups");
    doctor_check *k;
    if (!res || res->code == SPF_TEMPERROR) {
        k = doctor_add(c->rep, "spf.syntax", DOCTOR_WARN, "record parses, but evaluating it failed: %s",
                       res && res->problem ? res->problem : "no result");
        doctor_fix(k, "try again; if it persists, check the name servers of every include:");
    } else if (res->code == SPF_PERMERROR && !lookups && !voids) {
        k = doctor_add(c->rep, "spf.syntax", DOCTOR_FAIL, "permanent error while evaluating: %s", prob);
        doctor_fix(k, "fix the term named; every include: target must publish its own SPF record");
    } else {
        doctor_add(c->rep, "spf.syntax", DOCTOR_OK, "valid");
    }
    if (lookups) {
        k = doctor_add(c->rep, "spf.lookups", DOCTOR_FAIL, "more than %d DNS-querying terms (include, a, mx, ptr, "
                       "exists, redirect), counting nested includes", SPF_MAX_DNS_TERMS);
        doctor_fix(k, "replace includes you do not need, or the ones you own, by ip4:/ip6: ranges until at most %d "
                      "remain", SPF_MAX_DNS_TERMS);
    } else {
        doctor_add(c->rep, "spf.lookups", res ? DOCTOR_OK : DOCTOR_SKIP, "%u of %d DNS lookups",
                   res ? res->dns_terms : 0, SPF_MAX_DNS_TERMS);
    }
    if (voids) {
        k = doctor_add(c->rep, "spf.void", DOCTOR_FAIL, "more than %d lookups found nothing (NXDOMAIN or no "
                       "record)", SPF_MAX_VOID);
        doctor_fix(k, "remove the a:, mx: or include: terms that name hosts or domains which no longer exist");
    } else {
        doctor_add(c->rep, "spf.void", res ? DOCTOR_OK : DOCTOR_SKIP, "%u of %d void lookups",
                   res ? res->void_lookups : 0, SPF_MAX_VOID);
    }
    spf_result_free(res);
}

/* doctor_spf_pass - spf.pass: the server IP passes */
static void doctor_spf_pass(doctor_ctx *c)
{
    if (!c->ip[0]) {
        doctor_add(c->rep, "spf.pass", DOCTOR_SKIP, "no server IP known: give --ip");
        return;
    }
    spf_result *res = doctor_spf_eval(c, c->ip);
    doctor_check *k;
    if (res && res->code == SPF_PASS) {
        doctor_add(c->rep, "spf.pass", DOCTOR_OK, "%s passes (%s)", c->ip, res->mechanism ? res->mechanism : "");
    } else if (res && res->code == SPF_TEMPERROR) {
        k = doctor_add(c->rep, "spf.pass", DOCTOR_WARN, "temperror for %s: %s", c->ip, res->problem ? res->problem : "");
        doctor_fix(k, "try again; DNS failed during the check");
    } else {
        k = doctor_add(c->rep, "spf.pass", DOCTOR_FAIL, "%s gets %s%s%s", c->ip,
                       res ? spf_result_name(res->code) : "no result", res && res->mechanism ? " from " : "",
                       res && res->mechanism ? res->mechanism : "");
        doctor_fix(k, "add the server to the record, before the all: %s:%s", strchr(c->ip, ':') ? "ip6" : "ip4",
                   c->ip);
    }
    spf_result_free(res);
}

/* doctor_check_spf - spf.exists, spf.multiple, then syntax, limits, pass, all, ptr */
void doctor_check_spf(doctor_ctx *c)
{
    const char *d = c->o->domain;
    size_t count;
    char *txt = NULL;
    doctor_check *k;
    if (doctor_spf_fetch(c, &count, &txt) < 0) {
        k = doctor_add(c->rep, "spf.exists", DOCTOR_WARN, "could not look up TXT of %s (DNS error)", d);
        doctor_fix(k, "try again; if it persists, check the domain's name servers");
        return;
    }
    if (count == 0) {
        k = doctor_add(c->rep, "spf.exists", DOCTOR_FAIL, "no SPF record (TXT \"v=spf1 ...\") at %s", d);
        if (c->nmx)
            doctor_fix(k, "%s. IN TXT \"v=spf1 mx -all\"  (the MX hosts may send; add ip4:/ip6: of other senders)", d);
        else
            doctor_fix(k, "%s. IN TXT \"v=spf1 %s%s -all\"", d, strchr(c->ip, ':') ? "ip6:" : "ip4:",
                       c->ip[0] ? c->ip : "<server IP>");
        return;
    }
    doctor_add(c->rep, "spf.exists", DOCTOR_OK, "%s", txt);
    if (count > 1) {
        k = doctor_add(c->rep, "spf.multiple", DOCTOR_FAIL, "%zu SPF records at %s", count, d);
        doctor_fix(k, "merge them into one TXT record starting with v=spf1 and delete the others");
        free(txt);
        return;
    }
    doctor_add(c->rep, "spf.multiple", DOCTOR_OK, "exactly one record");
    spf_record *rec = NULL;
    char err[256];
    if (spf_record_parse(txt, strlen(txt), &rec, err, sizeof err) < 0) {
        k = doctor_add(c->rep, "spf.syntax", DOCTOR_FAIL, "%s", err);
        doctor_fix(k, "correct the record (RFC 7208 section 12 grammar); try it with: pochta spf check IP "
                      "postmaster@%s HELO --zone FILE", d);
        free(txt);
        return;
    }
    doctor_spf_limits(c);
    doctor_spf_pass(c);
    doctor_spf_terms(c, rec, txt);
    spf_record_free(rec);
    free(txt);
}

/* doctor_dkim_fetch - the key record text of selector (caller frees); NULL with *st set when none */
static char *doctor_dkim_fetch(doctor_ctx *c, const char *sel, dns_status *st)
{
    char *name = xasprintf("%s._domainkey.%s", sel, c->o->domain);
    dns_answer *a = NULL;
    char *txt = NULL;
    *st = doctor_lookup(c, name, DNS_T_TXT, &a);
    for (size_t i = 0; a && *st == DNS_OK && i < a->count && !txt; i++)
        if (a->rr[i].type == DNS_T_TXT)
            txt = xasprintf("%.*s", (int)a->rr[i].len, a->rr[i].text);
    if (*st == DNS_OK && !txt)
        *st = DNS_NODATA;
    dns_answer_free(a);
    free(name);
    return txt;
}

/* doctor_dkim_match - dkim.match for the first selector against our private key */
static void doctor_dkim_match(doctor_ctx *c, const char *sel, const dkim_keyrec *kr)
{
    doctor_check *k;
    if (!c->o->dkim_key) {
        doctor_add(c->rep, "dkim.match", DOCTOR_SKIP, "no private key to compare (give --dkim-key FILE)");
        return;
    }
    char err[256];
    dkim_key *key = dkim_key_load(c->o->dkim_key, err, sizeof err);
    int m = key ? dkim_keyrec_matches(kr, key) : -1;
    if (!key) {
        k = doctor_add(c->rep, "dkim.match", DOCTOR_FAIL, "cannot read our key: %s", err);
        doctor_fix(k, "check the path and that the file is a PEM private key (pochta dkim keygen writes one)");
    } else if (m == 1) {
        doctor_add(c->rep, "dkim.match", DOCTOR_OK, "%s._domainkey.%s is the public half of %s", sel, c->o->domain,
                   c->o->dkim_key);
    } else {
        buf rec;
        buf_init(&rec, 8192);
        dkim_key_record(key, &rec);
        k = doctor_add(c->rep, "dkim.match", DOCTOR_FAIL, "the key published at %s._domainkey.%s is not the public "
                       "half of %s", sel, c->o->domain, c->o->dkim_key);
        doctor_fix(k, "publish the key the server signs with: %s._domainkey.%s. IN TXT \"%s\"", sel, c->o->domain,
                   buf_cstr(&rec));
        buf_free(&rec);
    }
    dkim_key_free(key);
}

typedef struct doctor_dkim_acc {
    buf missing, tempfail, bad, small, weak, sizes; /* selector lists per finding */
} doctor_dkim_acc;

/* doctor_dkim_one - parse and size one found key record; 0 when usable */
static int doctor_dkim_one(const char *sel, const char *txt, dkim_keyrec *kr, doctor_dkim_acc *a)
{
    if (dkim_keyrec_parse(txt, strlen(txt), kr) < 0) {
        buf_printf(&a->bad, "%s%s: %s", a->bad.len ? "; " : "", sel, kr->error);
        return -1;
    }
    buf_printf(&a->sizes, "%s%s: %s %d bits%s", a->sizes.len ? ", " : "", sel,
               kr->type == DKIM_KEY_ED25519 ? "ed25519" : "rsa", kr->bits, kr->testing ? " (t=y testing)" : "");
    if (kr->type == DKIM_KEY_RSA && kr->bits < 1024)
        buf_printf(&a->small, "%s%s: %d bits", a->small.len ? ", " : "", sel, kr->bits);
    else if (kr->type == DKIM_KEY_RSA && kr->bits < 2048)
        buf_printf(&a->weak, "%s%s: %d bits", a->weak.len ? ", " : "", sel, kr->bits);
    return 0;
}

/* doctor_dkim_selectors - the selectors to check: given ones, else the common ones that have a key */
static size_t doctor_dkim_selectors(doctor_ctx *c, const char **out, int *guessed)
{
    *guessed = c->o->nselectors == 0;
    if (!*guessed) {
        for (size_t i = 0; i < c->o->nselectors; i++)
            out[i] = c->o->selectors[i];
        return c->o->nselectors;
    }
    size_t n = 0;
    for (size_t i = 0; i < sizeof doctor_common_selectors / sizeof doctor_common_selectors[0]; i++) {
        dns_status st;
        char *txt = doctor_dkim_fetch(c, doctor_common_selectors[i], &st);
        if (txt && n < DOCTOR_MAX_SELECTORS)
            out[n++] = doctor_common_selectors[i];
        free(txt);
    }
    return n;
}

/* doctor_dkim_report - dkim.key, dkim.parse, dkim.size from what was collected */
static void doctor_dkim_report(doctor_ctx *c, doctor_dkim_acc *a, const char **sels, size_t n, int guessed)
{
    const char *d = c->o->domain;
    doctor_check *k;
    if (a->missing.len) {
        k = doctor_add(c->rep, "dkim.key", DOCTOR_FAIL, "no key record at %s", buf_cstr(&a->missing));
        doctor_fix(k, "publish the record printed by: pochta dkim keygen %s --selector %s", d, sels[0]);
    } else if (a->tempfail.len) {
        k = doctor_add(c->rep, "dkim.key", DOCTOR_WARN, "could not look up %s (DNS error)", buf_cstr(&a->tempfail));
        doctor_fix(k, "try again; if it persists, check the domain's name servers");
    } else {
        doctor_add(c->rep, "dkim.key", DOCTOR_OK, "key found for selector%s %s%s%s", n > 1 ? "s" : "", sels[0],
                   n > 1 ? " and others" : "", guessed ? " (found among the common selectors)" : "");
    }
    if (a->bad.len) {
        k = doctor_add(c->rep, "dkim.parse", DOCTOR_FAIL, "%s", buf_cstr(&a->bad));
        doctor_fix(k, "republish the record exactly as pochta dkim keygen prints it: \"v=DKIM1; k=rsa; p=...\" "
                      "with the base64 key unbroken");
    } else if (a->sizes.len) {
        doctor_add(c->rep, "dkim.parse", DOCTOR_OK, "%s", buf_cstr(&a->sizes));
    }
    if (a->small.len) {
        k = doctor_add(c->rep, "dkim.size", DOCTOR_FAIL, "RSA key too short: %s (receivers refuse < 1024)",
                       buf_cstr(&a->small));
        doctor_fix(k, "make a 2048-bit key: pochta dkim keygen %s --selector NEW, publish it, then switch", d);
    } else if (a->weak.len) {
        k = doctor_add(c->rep, "dkim.size", DOCTOR_WARN, "RSA key of %s (2048 recommended)", buf_cstr(&a->weak));
        doctor_fix(k, "make a 2048-bit key under a new selector (pochta dkim keygen %s --selector NEW), publish it, "
                      "sign with it, then remove the old record", d);
    } else if (a->sizes.len) {
        doctor_add(c->rep, "dkim.size", DOCTOR_OK, "key size fine");
    }
}

/* doctor_check_dkim - dkim.key, dkim.parse, dkim.size, dkim.match */
void doctor_check_dkim(doctor_ctx *c)
{
    const char *sels[DOCTOR_MAX_SELECTORS];
    int guessed;
    size_t n = doctor_dkim_selectors(c, sels, &guessed);
    if (n == 0) {
        doctor_check *k = doctor_add(c->rep, "dkim.key", DOCTOR_WARN, "no DKIM key at the common selectors "
                                     "(pochta, default, selector1, google, ...)");
        doctor_fix(k, "give the selector you sign with (--selector S); to start signing: pochta dkim keygen %s "
                      "and publish the record it prints", c->o->domain);
        return;
    }
    doctor_dkim_acc a;
    buf *all[] = {&a.missing, &a.tempfail, &a.bad, &a.small, &a.weak, &a.sizes};
    for (size_t i = 0; i < 6; i++)
        buf_init(all[i], 2048);
    dkim_keyrec first;
    int have_first = 0;
    for (size_t i = 0; i < n; i++) {
        dns_status st;
        char *txt = doctor_dkim_fetch(c, sels[i], &st);
        dkim_keyrec kr;
        buf *dst = st == DNS_TEMPFAIL || st == DNS_PERMFAIL ? &a.tempfail : &a.missing;
        if (!txt) {
            buf_printf(dst, "%s%s._domainkey.%s", dst->len ? ", " : "", sels[i], c->o->domain);
        } else if (doctor_dkim_one(sels[i], txt, &kr, &a) == 0 && i == 0) {
            first = kr;
            have_first = 1;
        } else {
            dkim_keyrec_free(&kr);
        }
        free(txt);
    }
    doctor_dkim_report(c, &a, sels, n, guessed);
    if (have_first) {
        doctor_dkim_match(c, sels[0], &first);
        dkim_keyrec_free(&first);
    }
    for (size_t i = 0; i < 6; i++)
        buf_free(all[i]);
}

/* doctor_dmarc_fetch - the DMARC records at _dmarc.name: count and the first (caller frees); -1 on DNS failure */
static int doctor_dmarc_fetch(doctor_ctx *c, const char *name, size_t *count, char **txt)
{
    char *q = xasprintf("_dmarc.%s", name);
    dns_answer *a = NULL;
    dns_status st = doctor_lookup(c, q, DNS_T_TXT, &a);
    *count = 0;
    *txt = NULL;
    for (size_t i = 0; a && st == DNS_OK && i < a->count; i++)
        if (a->rr[i].type == DNS_T_TXT && a->rr[i].len >= 8 && strncasecmp(a->rr[i].text, "v=DMARC1", 8) == 0 &&
            ++*count == 1)
            *txt = xasprintf("%.*s", (int)a->rr[i].len, a->rr[i].text);
    dns_answer_free(a);
    free(q);
    return st == DNS_TEMPFAIL || st == DNS_PERMFAIL ? -1 : 0;
}

/* doctor_dmarc_report - dmarc.policy, dmarc.rua, dmarc.sp of a parsed record found at where */
static void doctor_dmarc_report(doctor_ctx *c, const dmarc_record *rec, const char *where)
{
    doctor_check *k;
    if (rec->p == DMARC_POLICY_NONE) {
        k = doctor_add(c->rep, "dmarc.policy", DOCTOR_WARN, "p=none at %s: monitoring only", where);
        doctor_fix(k, "once the rua= reports show your own mail passing, move to p=quarantine, then p=reject");
    } else if (rec->pct < 100) {
        k = doctor_add(c->rep, "dmarc.policy", DOCTOR_WARN, "p=%s applies to only pct=%u%% of failing mail",
                       dmarc_policy_name(rec->p), rec->pct);
        doctor_fix(k, "raise pct to 100 (or remove pct=) once reports look clean");
    } else {
        doctor_add(c->rep, "dmarc.policy", DOCTOR_OK, "p=%s", dmarc_policy_name(rec->p));
    }
    if (!rec->rua[0]) {
        k = doctor_add(c->rep, "dmarc.rua", DOCTOR_WARN, "no rua= address for aggregate reports");
        doctor_fix(k, "add rua=mailto:dmarc-reports@%s to the record at _dmarc.%s", c->o->domain, where);
    } else {
        doctor_add(c->rep, "dmarc.rua", DOCTOR_OK, "reports go to %s", rec->rua);
    }
    if (rec->sp < rec->p) {
        k = doctor_add(c->rep, "dmarc.sp", DOCTOR_WARN, "sp=%s is weaker than p=%s", dmarc_policy_name(rec->sp),
                       dmarc_policy_name(rec->p));
        doctor_fix(k, "remove sp= (subdomains then get p=%s) unless a subdomain really needs the weaker policy",
                   dmarc_policy_name(rec->p));
    } else {
        doctor_add(c->rep, "dmarc.sp", DOCTOR_OK, "subdomains get %s", dmarc_policy_name(rec->sp));
    }
}

/* doctor_check_dmarc - dmarc.exists, dmarc.parse and the policy checks */
void doctor_check_dmarc(doctor_ctx *c)
{
    const char *d = c->o->domain;
    char org[256];
    const char *where = d;
    size_t count;
    char *txt;
    doctor_check *k;
    int rc = doctor_dmarc_fetch(c, d, &count, &txt);
    if (rc == 0 && count == 0 && dmarc_org_domain(d, org, sizeof org) == 0 && strcasecmp(org, d) != 0) {
        where = org;
        rc = doctor_dmarc_fetch(c, org, &count, &txt);
    }
    if (rc < 0) {
        k = doctor_add(c->rep, "dmarc.exists", DOCTOR_WARN, "could not look up _dmarc.%s (DNS error)", where);
        doctor_fix(k, "try again; if it persists, check the domain's name servers");
    } else if (count == 0) {
        k = doctor_add(c->rep, "dmarc.exists", DOCTOR_FAIL, "no DMARC record at _dmarc.%s", d);
        doctor_fix(k, "_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@%s\"", d, d);
    } else if (count > 1) {
        k = doctor_add(c->rep, "dmarc.exists", DOCTOR_FAIL, "%zu DMARC records at _dmarc.%s: receivers ignore "
                       "them all", count, where);
        doctor_fix(k, "keep exactly one TXT record starting with v=DMARC1 at _dmarc.%s", where);
    }
    if (rc < 0 || count != 1) {
        free(txt);
        return;
    }
    doctor_add(c->rep, "dmarc.exists", DOCTOR_OK, "_dmarc.%s: %s", where, txt);
    dmarc_record rec;
    char err[128];
    if (dmarc_record_parse(txt, strlen(txt), &rec, err, sizeof err) < 0) {
        k = doctor_add(c->rep, "dmarc.parse", DOCTOR_FAIL, "%s", err);
        doctor_fix(k, "_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@%s\"  (v= first, "
                      "then p=none|quarantine|reject)", where, d);
    } else {
        doctor_add(c->rep, "dmarc.parse", DOCTOR_OK, "valid");
        doctor_dmarc_report(c, &rec, where);
    }
    free(txt);
}
