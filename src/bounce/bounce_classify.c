/*
 * bounce_classify - give one failure a reason from Sisimai's taxonomy,
 * hard/soft, and a status: the rules of bounce_rules.def (PCRE2, matched in
 * order, first match wins) decide from the server's words; when they find
 * nothing the enhanced status decides (RFC 3463 subjects and details, plus
 * the RFC 7372 / RFC 7505 / RFC 8689 codes); when the bounce carried no
 * enhanced status a Sisimai-style x.0.9NN one is derived from the reason.
 *
 * The rule tables are compiled once by bounce_init() and only read after,
 * so classification is safe from several threads.
 */
#include "bounce/bounce_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct bounce_rule {
    const char *reason;
    const char *lang;
    const char *pattern;
    pcre2_code *re;
} bounce_rule;

static bounce_rule bounce_rules[] = {
#define RULE(reason, lang, pat) {#reason, lang, pat, NULL},
#include "bounce/bounce_rules.def"
#undef RULE
};
#define BOUNCE_NRULES (sizeof bounce_rules / sizeof bounce_rules[0])

typedef struct bounce_reason_row {
    const char *name;
    int hard;
    int pseudo;
    const char *en, *ru;
} bounce_reason_row;

static const bounce_reason_row bounce_reasons[] = {
#define REASON(name, hard, pseudo, en, ru) {#name, hard, pseudo, en, ru},
#include "bounce/bounce_reasons.def"
#undef REASON
};
#define BOUNCE_NREASONS (sizeof bounce_reasons / sizeof bounce_reasons[0])

/* status subject.detail -> reason when the words said nothing (RFC 3463 and later registrations) */
static const struct {
    const char *tail;   /* ".1.1" */
    const char *reason;
} bounce_status_map[] = {
    {".1.1", "userunknown"}, {".1.2", "hostunknown"}, {".1.3", "userunknown"},
    {".1.4", "userunknown"}, {".1.5", "userunknown"}, {".1.6", "hasmoved"},
    {".1.7", "rejected"},    {".1.8", "rejected"},    {".1.9", "rejected"},
    {".1.10", "notaccept"},  {".2.0", "filtered"},    {".2.1", "suspend"},
    {".2.2", "mailboxfull"}, {".2.3", "exceedlimit"}, {".2.4", "systemerror"},
    {".3.0", "systemerror"}, {".3.1", "systemfull"},  {".3.2", "notaccept"},
    {".3.3", "systemerror"}, {".3.4", "mesgtoobig"},  {".3.5", "systemerror"},
    {".4.0", "networkerror"}, {".4.1", "networkerror"}, {".4.2", "networkerror"},
    {".4.3", "systemerror"}, {".4.4", "hostunknown"}, {".4.5", "systemfull"},
    {".4.6", "networkerror"}, {".4.7", "expired"},    {".5.0", "syntaxerror"},
    {".5.1", "syntaxerror"}, {".5.2", "syntaxerror"}, {".5.3", "exceedlimit"},
    {".5.4", "syntaxerror"}, {".5.5", "syntaxerror"}, {".6.0", "contenterror"},
    {".6.1", "contenterror"}, {".6.2", "contenterror"}, {".6.3", "contenterror"},
    {".6.4", "contenterror"}, {".6.5", "contenterror"}, {".6.9", "contenterror"},
    {".7.1", "rejected"},    {".7.2", "systemerror"}, {".7.3", "securityerror"},
    {".7.4", "securityerror"}, {".7.5", "securityerror"}, {".7.6", "securityerror"},
    {".7.7", "securityerror"}, {".7.8", "securityerror"}, {".7.9", "securityerror"},
    {".7.10", "securityerror"}, {".7.11", "securityerror"}, {".7.13", "suspend"},
    {".7.14", "suspend"},    {".7.15", "securityerror"}, {".7.16", "securityerror"},
    {".7.17", "suspend"},    {".7.18", "suspend"},    {".7.20", "authfailure"},
    {".7.21", "authfailure"}, {".7.22", "authfailure"}, {".7.23", "authfailure"},
    {".7.24", "authfailure"}, {".7.25", "requireptr"}, {".7.26", "authfailure"},
    {".7.27", "notaccept"},  {".7.28", "spamdetected"}, {".7.29", "authfailure"},
    {".7.30", "securityerror"},
};

/* statuses whose meaning is unambiguous: they decide before the words do */
static const struct {
    const char *tail;
    const char *reason;
} bounce_decisive_map[] = {
    {".1.6", "hasmoved"},    {".1.7", "rejected"},     {".1.8", "rejected"},
    {".1.10", "notaccept"},  {".2.2", "mailboxfull"},  {".2.3", "exceedlimit"},
    {".3.4", "mesgtoobig"},
    {".6.0", "contenterror"}, {".7.13", "suspend"},    {".7.25", "requireptr"},
    {".7.26", "authfailure"}, {".7.509", "authfailure"}, {".7.606", "blocked"},
};

const char *bounce_status_decisive(const char *status)
{
    const char *tail = status ? strchr(status, '.') : NULL;
    if (!tail || status[0] == '2')
        return NULL;
    for (size_t i = 0; i < sizeof bounce_decisive_map / sizeof bounce_decisive_map[0]; i++)
        if (strcmp(tail, bounce_decisive_map[i].tail) == 0)
            return bounce_decisive_map[i].reason;
    return NULL;
}

pcre2_code *bounce_re_compile(const char *pat)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                   PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                   &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        fprintf(stderr, "bounce: rule does not compile at offset %zu: %s: %s\n", (size_t)off,
                (const char *)msg, pat);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* match data is reused per thread (a rule pass runs hundreds of matches); freed at thread exit */
#define BOUNCE_MD_PAIRS 16
static pthread_key_t bounce_md_key;
static pthread_once_t bounce_md_once = PTHREAD_ONCE_INIT;

/* md_key_init - create the thread key whose destructor frees the match data */
static void md_key_init(void)
{
    (void)pthread_key_create(&bounce_md_key, (void (*)(void *))pcre2_match_data_free);
}

/* md_get - this thread's match data, created on first use */
static pcre2_match_data *md_get(void)
{
    pthread_once(&bounce_md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(bounce_md_key);
    if (!md) {
        md = pcre2_match_data_create(BOUNCE_MD_PAIRS, NULL);
        if (md)
            (void)pthread_setspecific(bounce_md_key, md);
    }
    return md;
}

bool bounce_re_find(const pcre2_code *re, const char *s, size_t len, size_t start, size_t *ov, size_t nov)
{
    pcre2_match_data *md = md_get();
    if (!md)
        return false;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, start, 0, md, NULL);
    if (rc >= 0 && ov) {
        PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
        uint32_t n = pcre2_get_ovector_count(md);
        if (rc == 0) /* more groups than the match data holds: the first pairs are set */
            rc = (int)n;
        for (size_t i = 0; i < 2 * nov; i++)
            ov[i] = i < 2u * n && (int)(i / 2) < rc ? v[i] : PCRE2_UNSET;
    }
    return rc >= 0;
}

static pcre2_code *re_status, *re_status2, *re_reply, *re_pair, *re_prefix, *re_email;

int bounce_rules_init(void)
{
    for (size_t i = 0; i < BOUNCE_NRULES; i++) {
        if (bounce_rules[i].re)
            continue;
        bounce_rules[i].re = bounce_re_compile(bounce_rules[i].pattern);
        if (!bounce_rules[i].re)
            return -1;
    }

    /* an enhanced status not inside an IP address or a version number */
    re_status = bounce_re_compile("(?<![\\d.])([45])\\.([0-7])\\.(\\d{1,3})(?![\\d]|\\.\\d)");
    re_status2 = bounce_re_compile("(?<![\\d.])(2)\\.([0-7])\\.(\\d{1,3})(?![\\d]|\\.\\d)");
    /* a reply code: three digits standing alone, not a year or part of a number */
    re_reply = bounce_re_compile("(?<![\\d.\\-/#])([245][0-5]\\d)(?:[ \\-,]|$)(?![\\d]{2}[:/\\-])");
    re_pair = bounce_re_compile("(?<![\\d.])([45][0-5]\\d)[ \\-]+['\"(]?#?([245]\\.[0-7]\\.\\d{1,3})(?![\\d]|\\.\\d)");
    re_prefix = bounce_re_compile("(?<![\\w.])[245]\\d\\d[ \\-]#?[245]\\.\\d{1,3}\\.\\d{1,3} ");
    re_email = bounce_re_compile("[^\\s<>\"'(),;:\\[\\]]+@[a-z0-9.-]+");
    return re_status && re_status2 && re_reply && re_pair && re_prefix && re_email ? 0 : -1;
}

const char *bounce_rules_match(const char *text, size_t len)
{
    for (size_t i = 0; i < BOUNCE_NRULES; i++)
        if (bounce_rules[i].re && bounce_re_find(bounce_rules[i].re, text, len, 0, NULL, 1))
            return bounce_rules[i].reason;
    return NULL;
}

void bounce_find_codes(const char *text, char status[16], char reply[4])
{
    size_t ov[6], len = strlen(text);
    status[0] = reply[0] = '\0';
    if (bounce_re_find(re_pair, text, len, 0, ov, 3)) {
        /* a reply quoted inside another ("554 4.4.7 expired <421 4.4.2 timed out>") is the cause: take the last */
        size_t last[6];
        memcpy(last, ov, sizeof last);
        while (bounce_re_find(re_pair, text, len, last[1], ov, 3) && last[1] < len)
            memcpy(last, ov, sizeof last);
        snprintf(reply, 4, "%.*s", (int)(last[3] - last[2]), text + last[2]);
        snprintf(status, 16, "%.*s", (int)(last[5] - last[4]), text + last[4]);
        return;
    }
    if (bounce_re_find(re_status, text, len, 0, ov, 1) || bounce_re_find(re_status2, text, len, 0, ov, 1))
        snprintf(status, 16, "%.*s", (int)(ov[1] - ov[0]), text + ov[0]);
    if (bounce_re_find(re_reply, text, len, 0, ov, 2))
        snprintf(reply, 4, "%.*s", (int)(ov[3] - ov[2]), text + ov[2]);
}

/* x.N.0 of a temporary failure says only "something, try later": no reason of its own (as Sisimai reads them) */
static const char *const bounce_temp_vague[] = {".3.0", ".4.0", ".5.0", ".7.0"};

const char *bounce_status_reason(const char *status)
{
    if (!status || !status[0])
        return NULL;
    if (status[0] == '2')
        return "delivered";
    const char *tail = strchr(status, '.');
    if (!tail)
        return NULL;
    for (size_t i = 0; status[0] == '4' && i < sizeof bounce_temp_vague / sizeof bounce_temp_vague[0]; i++)
        if (strcmp(tail, bounce_temp_vague[i]) == 0)
            return NULL;
    for (size_t i = 0; i < sizeof bounce_status_map / sizeof bounce_status_map[0]; i++)
        if (strcmp(tail, bounce_status_map[i].tail) == 0)
            return bounce_status_map[i].reason;
    return NULL;
}

/* reason_row - the taxonomy row of name, or NULL */
static const bounce_reason_row *reason_row(const char *name)
{
    for (size_t i = 0; name && i < BOUNCE_NREASONS; i++)
        if (strcmp(bounce_reasons[i].name, name) == 0)
            return &bounce_reasons[i];
    return NULL;
}

void bounce_pseudo_status(const char *reason, char cls, char out[16])
{
    const bounce_reason_row *r = reason_row(reason);
    out[0] = '\0';
    if (r && r->pseudo)
        snprintf(out, 16, "%c.0.%d", cls, r->pseudo);
}

bool bounce_reason_hard(const char *reason, char status_class)
{
    const bounce_reason_row *r = reason_row(reason);
    return r && r->hard && status_class != '4';
}

const char *bounce_reason_summary(const char *reason, const char *lang)
{
    const bounce_reason_row *r = reason_row(reason);
    if (!r)
        r = reason_row("undefined");
    return lang && strcmp(lang, "ru") == 0 ? r->ru : r->en;
}

static char *unprefix(const char *diag);

/* strip_addresses - diag with every e-mail address replaced by "ADDRESS" (a local part such as
 * "spam@" or "filtered@" must not trigger a rule); caller frees */
static char *strip_addresses(const char *diag)
{
    size_t len = strlen(diag), ov[2], pos = 0;
    buf out;
    buf_init(&out, len + 16);
    while (pos < len && bounce_re_find(re_email, diag, len, pos, ov, 1)) {
        (void)buf_append(&out, diag + pos, ov[0] - pos);
        (void)buf_append_str(&out, "ADDRESS");
        pos = ov[1];
    }
    (void)buf_append(&out, diag + pos, len - pos);
    return buf_steal(&out, NULL);
}

/*
 * bounce_unprefix - the text the rules read: addresses replaced by "ADDRESS"
 * and without the "550-5.7.1 " / "550 5.7.1 " prefixes that multi-line
 * replies repeat on every line (RFC 5321 4.2.1), except the first, so words
 * split across lines match again. Caller frees.
 */
char *bounce_unprefix(const char *diag)
{
    char *noaddr = strip_addresses(diag);
    char *out = unprefix(noaddr);
    free(noaddr);
    return out;
}

/* unprefix - the prefix removal of bounce_unprefix */
static char *unprefix(const char *diag)
{
    size_t len = strlen(diag), ov[2], pos = 0, first_end = 0;
    buf out;
    buf_init(&out, len + 1);
    bool seen = false;
    while (pos < len && bounce_re_find(re_prefix, diag, len, pos, ov, 1)) {
        if (!seen) {
            seen = true;
            first_end = ov[1];
            (void)buf_append(&out, diag, first_end);
        } else {
            (void)buf_append(&out, diag + pos, ov[0] - pos);
        }
        pos = ov[1];
    }
    (void)buf_append(&out, diag + pos, len - pos);
    return buf_steal(&out, NULL);
}

/*
 * reasons a local delivery program's output (an X-Unix diagnostic, RFC 3464
 * 2.3.6) can establish; any other verdict in such output ("No such user"
 * from procmail) is the program's failure, mailererror, not the address's
 */
static const char *const bounce_local_reasons[] = {
    "mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected", "virusdetected",
    "policyviolation", "norelaying", "systemerror", "networkerror", "suspend", "contenterror",
    "systemfull", "notaccept", "expired", "failedstarttls", "securityerror", "mailererror",
};

/* local_reason - reason for the X-Unix diagnostic diag given what the rules found */
static const char *local_reason(const char *reason)
{
    for (size_t i = 0; reason && i < sizeof bounce_local_reasons / sizeof bounce_local_reasons[0]; i++)
        if (strcmp(reason, bounce_local_reasons[i]) == 0)
            return reason;
    return "mailererror";
}

/* is_generic - whether status says nothing beyond its class (x.0.0) */
static bool is_generic(const char *s)
{
    return !s[0] || strcmp(s + 1, ".0.0") == 0;
}

void bounce_classify(const char *diag, const char *status, const char *reply, bounce_class *out)
{
    char fstatus[16], freply[4];
    memset(out, 0, sizeof *out);
    if (!diag)
        diag = "";
    bounce_find_codes(diag, fstatus, freply);
    /* the server's own words are more precise than the reporter's summary Status: field */
    snprintf(out->status, sizeof out->status, "%s", status && status[0] ? status : fstatus);
    if (!is_generic(fstatus) || !out->status[0])
        snprintf(out->status, sizeof out->status, "%s", fstatus[0] ? fstatus : out->status);
    snprintf(out->reply_code, sizeof out->reply_code, "%s", reply && reply[0] ? reply : freply);
    if (out->status[0] == '2') {
        out->reason = "delivered";
        return;
    }
    out->reason = bounce_status_decisive(out->status);
    if (!out->reason) {
        char *clean = bounce_unprefix(diag);
        out->reason = bounce_rules_match(clean, strlen(clean));
        if (strncasecmp(diag + strspn(diag, " \t"), "x-unix;", 7) == 0)
            out->reason = local_reason(out->reason);
        out->by_rule = out->reason != NULL;
        free(clean);
    }
    if (!out->reason)
        out->reason = bounce_status_reason(out->status);
    if (!out->reason)
        out->reason = "undefined";
    char cls = out->status[0] ? out->status[0] : out->reply_code[0] == '4' ? '4' : '5';
    if (!out->status[0])
        bounce_pseudo_status(out->reason, cls, out->status);
    out->hard = bounce_reason_hard(out->reason, cls);
}
