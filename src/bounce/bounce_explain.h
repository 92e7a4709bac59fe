/*
 * bounce_explain - turn one SMTP reply or error line into a reason, what
 * it means, who has to act and how to fix it, in English or Russian. The
 * knowledge is data (bounce_explain.def): specific help-desk cases first,
 * then the classifier's reason with a per-reason fallback.
 */
#ifndef POCHTA_BOUNCE_BOUNCE_EXPLAIN_H
#define POCHTA_BOUNCE_BOUNCE_EXPLAIN_H

#include <stdbool.h>

#define BOUNCE_EXPLAIN_MAX_INPUT 4096

/* bounce_explanation - static strings (never freed) plus codes found in the text */
typedef struct bounce_explanation {
    const char *id;        /* EXPLAIN row id, or "reason" for the per-reason fallback */
    const char *reason;    /* taxonomy name */
    bool hard;             /* permanent for the address */
    const char *who;       /* who acts, in the chosen language */
    const char *meaning;
    const char *fix;
    char status[16];
    char reply_code[4];
} bounce_explanation;

/*
 * bounce_explain - explain text (an SMTP reply, an Outlook error number,
 * a log line) in lang "en" or "ru" (anything else: English). Text longer
 * than BOUNCE_EXPLAIN_MAX_INPUT is cut. Returns 0, or -1 if the rules
 * could not be loaded.
 */
int bounce_explain(const char *text, const char *lang, bounce_explanation *out);

#endif
