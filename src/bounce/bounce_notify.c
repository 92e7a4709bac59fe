/*
 * bounce_notify - bounce notifications that arrive as JSON instead of a
 * report: Amazon SES (directly or wrapped in an SNS envelope, where the
 * inner JSON is an escaped string, so every quote may carry a backslash).
 * Reads notificationType Bounce / Delivery, the bounced recipients with
 * their status, action and diagnosticCode, and for deliveries the
 * recipients with the smtpResponse. No JSON library: the fields are found
 * by pattern, bounded by the object they sit in.
 */
#include "bounce/bounce_internal.h"
#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define Q "\\\\?\""   /* a quote, maybe escaped inside an SNS Message string */

static pcre2_code *re_type, *re_email, *re_status, *re_diag, *re_action, *re_rcpts, *re_smtp, *re_str;

/* notify_init - compile the patterns once */
static bool notify_init(void)
{
    if (re_str)
        return true;
    re_type = bounce_re_compile("notificationType" Q "\\s*:\\s*" Q "(Bounce|Delivery)");
    re_email = bounce_re_compile("emailAddress" Q "\\s*:\\s*" Q "([^\"\\\\]+)");
    re_status = bounce_re_compile("(?<!\\w)status" Q "\\s*:\\s*" Q "([245]\\.\\d\\.\\d{1,3})");
    re_diag = bounce_re_compile("diagnosticCode" Q "\\s*:\\s*" Q "((?:[^\"\\\\]|\\\\[^\"])*)");
    re_action = bounce_re_compile("(?<!\\w)action" Q "\\s*:\\s*" Q "(\\w+)");
    re_rcpts = bounce_re_compile("(?<!\\w)recipients" Q "\\s*:\\s*\\[([^\\]]*)\\]");
    re_smtp = bounce_re_compile("smtpResponse" Q "\\s*:\\s*" Q "((?:[^\"\\\\]|\\\\[^\"])*)");
    re_str = bounce_re_compile(Q "([^\"\\\\]+@[^\"\\\\]+)" Q);
    return re_type && re_email && re_status && re_diag && re_action && re_rcpts && re_smtp && re_str;
}

/* notify_field - capture 1 of re in s[from..to) into out (cap n), or "" */
static void notify_field(const pcre2_code *re, const char *s, size_t from, size_t to, char *out, size_t n)
{
    size_t ov[4];
    out[0] = '\0';
    if (bounce_re_find(re, s, to, from, ov, 2) && ov[2] != PCRE2_UNSET)
        snprintf(out, n, "%.*s", (int)(ov[3] - ov[2]), s + ov[2]);
}

/* notify_bounce - one recipient per emailAddress, its fields up to the next one */
static size_t notify_bounce(const char *s, size_t len, bounce_report *r)
{
    size_t ov[4], pos = 0, added = 0;
    while (bounce_re_find(re_email, s, len, pos, ov, 2)) {
        size_t start = ov[0], next[4];
        size_t end = bounce_re_find(re_email, s, len, ov[1], next, 2) ? next[0] : len;
        bounce_rcpt *rc = bounce_rcpt_add(r, s + ov[2], ov[3] - ov[2]);
        pos = ov[1];
        if (!rc)
            break;
        char diag[BOUNCE_MAX_DIAG];
        /* fields may come before or after emailAddress inside the object: look from the object's start */
        size_t obj = start;
        while (obj > 0 && s[obj - 1] != '{' && start - obj < 400)
            obj--;
        notify_field(re_status, s, obj, end, rc->status, sizeof rc->status);
        notify_field(re_action, s, obj, end, rc->action, sizeof rc->action);
        notify_field(re_diag, s, obj, end, diag, sizeof diag);
        free(rc->diagnostic);
        rc->diagnostic = bounce_one_line(diag, strlen(diag));
        added++;
    }
    return added;
}

/* notify_delivery - the recipients of a delivery notification, all with the smtpResponse */
static size_t notify_delivery(const char *s, size_t len, bounce_report *r)
{
    size_t ov[4], ov2[4], added = 0;
    char resp[BOUNCE_MAX_DIAG];
    notify_field(re_smtp, s, 0, len, resp, sizeof resp);
    if (!bounce_re_find(re_rcpts, s, len, 0, ov, 2))
        return 0;
    size_t pos = ov[2], end = ov[3];
    while (pos < end && bounce_re_find(re_str, s, end, pos, ov2, 2)) {
        bounce_rcpt *rc = bounce_rcpt_add(r, s + ov2[2], ov2[3] - ov2[2]);
        pos = ov2[1];
        if (!rc)
            break;
        free(rc->diagnostic);
        rc->diagnostic = bounce_one_line(resp, strlen(resp));
        snprintf(rc->action, sizeof rc->action, "%s", "delivered");
        added++;
    }
    return added;
}

bool bounce_notify_is(const char *s, size_t len)
{
    return notify_init() && bounce_re_find(re_type, s, len, 0, NULL, 1);
}

size_t bounce_notify_read(const char *s, size_t len, bounce_report *r)
{
    size_t ov[4];
    if (!notify_init() || !bounce_re_find(re_type, s, len, 0, ov, 2))
        return 0;
    return s[ov[2]] == 'B' ? notify_bounce(s, len, r) : notify_delivery(s, len, r);
}
