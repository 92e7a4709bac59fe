/*
 * bounce_json - write a parsed bounce as JSON (RFC 8259) for
 * `pochta bounce parse --json` and for applications reading exports:
 *   {"kind": ..., "reporting_mta": ..., "recipients": [{recipient, status,
 *    reply_code, reason, hard_bounce, action, diagnostic, remote_mta,
 *    smtp_command, explanation}], "original": {message_id, from, to, subject}}
 * Strings are UTF-8 already; control characters are escaped.
 */
#include "bounce/bounce.h"

#include <stdio.h>

void bounce_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* json_kv - write ,"key":"value" (comma unless first) */
static void json_kv(FILE *out, const char *key, const char *value, int first)
{
    fprintf(out, "%s\"%s\": ", first ? "" : ", ", key);
    bounce_json_string(out, value);
}

static const char *const bounce_kind_names[] = {"none", "dsn", "autoreply", "feedback"};

void bounce_report_json(FILE *out, const bounce_report *r)
{
    fprintf(out, "{\"kind\": \"%s\", ", bounce_kind_names[r->kind]);
    json_kv(out, "reporting_mta", r->reporting_mta, 1);
    fputs(", \"recipients\": [", out);
    for (size_t i = 0; i < r->nrcpt; i++) {
        const bounce_rcpt *rc = &r->rcpt[i];
        fputs(i ? ", {" : "{", out);
        json_kv(out, "recipient", rc->recipient, 1);
        json_kv(out, "status", rc->status, 0);
        json_kv(out, "reply_code", rc->reply_code, 0);
        json_kv(out, "reason", rc->reason, 0);
        fprintf(out, ", \"hard_bounce\": %s", rc->hard ? "true" : "false");
        json_kv(out, "action", rc->action, 0);
        json_kv(out, "diagnostic", rc->diagnostic, 0);
        json_kv(out, "remote_mta", rc->remote_mta, 0);
        json_kv(out, "smtp_command", rc->smtp_command, 0);
        json_kv(out, "explanation", bounce_reason_summary(rc->reason, "en"), 0);
        fputc('}', out);
    }
    fputs("], \"original\": {", out);
    json_kv(out, "message_id", r->original.message_id, 1);
    json_kv(out, "from", r->original.from, 0);
    json_kv(out, "to", r->original.to, 0);
    json_kv(out, "subject", r->original.subject, 0);
    fputs("}}\n", out);
}
