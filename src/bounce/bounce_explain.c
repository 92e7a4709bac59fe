/*
 * bounce_explain - `pochta explain`'s engine: match the reply against the
 * help-desk cases of bounce_explain.def (PCRE2, caseless, in order), else
 * classify it (bounce_classify) and take the per-reason HELP row. The
 * tables are compiled once at bounce_init() and only read afterwards.
 */
#include "bounce/bounce_explain.h"
#include "bounce/bounce_internal.h"

#include <stdio.h>
#include <string.h>

typedef enum { SENDER, SENDER_ADMIN, RCPT, RCPT_ADMIN, NOBODY } explain_who;

static const char *const explain_who_en[] = {
    "the sender", "the sender's mail administrator", "the recipient",
    "the recipient's mail administrator", "nobody: the servers retry by themselves",
};
static const char *const explain_who_ru[] = {
    "отправитель", "администратор почты отправителя", "получатель",
    "администратор почты получателя", "никто: серверы повторят сами",
};

typedef struct explain_row {
    const char *id, *reason;
    explain_who who;
    const char *pattern, *mean_en, *fix_en, *mean_ru, *fix_ru;
    pcre2_code *re;
} explain_row;

typedef struct help_row {
    const char *reason;
    explain_who who;
    const char *fix_en, *fix_ru;
} help_row;

#define HELP(reason, who, en, ru)
static explain_row explain_rows[] = {
#define EXPLAIN(id, reason, who, pat, me, fe, mr, fr) {#id, #reason, who, pat, me, fe, mr, fr, NULL},
#include "bounce/bounce_explain.def"
#undef EXPLAIN
};
#undef HELP

#define EXPLAIN(id, reason, who, pat, me, fe, mr, fr)
static const help_row help_rows[] = {
#define HELP(reason, who, en, ru) {#reason, who, en, ru},
#include "bounce/bounce_explain.def"
#undef HELP
};
#undef EXPLAIN

int bounce_explain_init(void)
{
    for (size_t i = 0; i < sizeof explain_rows / sizeof explain_rows[0]; i++) {
        if (explain_rows[i].re)
            continue;
        explain_rows[i].re = bounce_re_compile(explain_rows[i].pattern);
        if (!explain_rows[i].re)
            return -1;
    }
    return 0;
}

/* explain_help - the fallback row of reason (the "undefined" row if none) */
static const help_row *explain_help(const char *reason)
{
    const help_row *undef = NULL;
    for (size_t i = 0; i < sizeof help_rows / sizeof help_rows[0]; i++) {
        if (strcmp(help_rows[i].reason, reason) == 0)
            return &help_rows[i];
        if (strcmp(help_rows[i].reason, "undefined") == 0)
            undef = &help_rows[i];
    }
    return undef;
}

int bounce_explain(const char *text, const char *lang, bounce_explanation *out)
{
    char cut[BOUNCE_EXPLAIN_MAX_INPUT + 1];
    bool ru = lang && strcmp(lang, "ru") == 0;
    memset(out, 0, sizeof *out);
    if (bounce_init() < 0)
        return -1;
    snprintf(cut, sizeof cut, "%s", text ? text : "");
    bounce_class c;
    bounce_classify(cut, NULL, NULL, &c);
    memcpy(out->status, c.status, sizeof out->status);
    memcpy(out->reply_code, c.reply_code, sizeof out->reply_code);
    size_t len = strlen(cut);
    for (size_t i = 0; i < sizeof explain_rows / sizeof explain_rows[0]; i++) {
        const explain_row *row = &explain_rows[i];
        if (!bounce_re_find(row->re, cut, len, 0, NULL, 1))
            continue;
        out->id = row->id;
        out->reason = row->reason;
        out->who = ru ? explain_who_ru[row->who] : explain_who_en[row->who];
        out->meaning = ru ? row->mean_ru : row->mean_en;
        out->fix = ru ? row->fix_ru : row->fix_en;
        out->hard = bounce_reason_hard(row->reason, c.status[0] ? c.status[0] : '5');
        return 0;
    }
    const help_row *h = explain_help(c.reason);
    out->id = "reason";
    out->reason = c.reason;
    out->hard = c.hard;
    out->who = ru ? explain_who_ru[h->who] : explain_who_en[h->who];
    out->meaning = bounce_reason_summary(c.reason, ru ? "ru" : "en");
    out->fix = ru ? h->fix_ru : h->fix_en;
    return 0;
}
