/*
 * smtp_sasl - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms against the account database, for the submission services.
 *
 * Rules:
 *   - AUTH is offered in EHLO and accepted only on the submission services
 *     and only under TLS: before TLS, 538 5.7.11 (RFC 4954 4, 6).
 *     Port 25 answers 503 5.5.1 (it is not a login service).
 *   - The password check (yescrypt, deliberately slow) runs on a worker of
 *     srv->auth_wq; the session waits without reading.
 *   - Failed logins are counted per client IP and per account for
 *     auth_fail_window; past auth_fail_max_ip / auth_fail_max_user the
 *     next attempts get 454 4.7.0 without a password check, so guessing
 *     stops. A wrong password is 535 5.7.8. A database problem is
 *     454 4.7.0 too (temporary).
 *   - Logs say user, mechanism and result; never the password, never the
 *     base64 data.
 *
 * Limits: a SASL response line is a command line (SMTP_CMD_LINE_MAX, 512
 * octets), enough for PLAIN with a 254-byte user name and a 120-byte
 * password; longer lines end the exchange with 500 5.5.6. The throttle
 * table holds at most SASL_THROTTLE_MAX keys (oldest windows expire first).
 */
#include "smtp/smtp_session.h"
#include "smtp/smtp_submit.h"

#include "config/config.h"
#include "event/workq.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mail/smtp_cmd.h"
#include "store/accounts.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SASL_FIELD_MAX 256        /* user name or password bytes */
#define SASL_THROTTLE_BUCKETS 1024
#define SASL_THROTTLE_MAX 20000   /* keys remembered (~6 MB); beyond it new keys are not counted */
#define SASL_SESSION_FAILURES_MAX 3 /* failed AUTH attempts before the session is closed */

typedef enum { SASL_PLAIN, SASL_LOGIN } smtp_sasl_mech;

/* One password check handed to a worker; outlives the session if it must. */
typedef struct smtp_sasl_job {
    smtp_session *s;          /* NULL once the session went away */
    smtp_server *srv;
    char user[SASL_FIELD_MAX + 1];
    char pass[SASL_FIELD_MAX + 1];
    const char *mech;
    acct_status result;
} smtp_sasl_job;

/* The exchange of one session (s->sasl). */
typedef struct smtp_sasl {
    smtp_sasl_mech mech;
    int step;                 /* LOGIN: 0 = want user name, 1 = want password */
    smtp_state back;          /* state to return to */
    char user[SASL_FIELD_MAX + 1];
    smtp_sasl_job *job;       /* check in flight */
} smtp_sasl;

typedef struct smtp_sasl_fail {
    struct smtp_sasl_fail *next;
    time_t start;             /* window start */
    unsigned count;
    char key[SASL_FIELD_MAX + 8];
} smtp_sasl_fail;

struct smtp_sasl_throttle {
    smtp_sasl_fail *bucket[SASL_THROTTLE_BUCKETS];
    size_t n;
};

/* smtp_sasl_throttle_new - empty counters */
struct smtp_sasl_throttle *smtp_sasl_throttle_new(void)
{
    return xcalloc(1, sizeof(struct smtp_sasl_throttle));
}

/* smtp_sasl_throttle_free - drop every counter */
void smtp_sasl_throttle_free(struct smtp_sasl_throttle *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < SASL_THROTTLE_BUCKETS; i++)
        while (t->bucket[i]) {
            smtp_sasl_fail *f = t->bucket[i];
            t->bucket[i] = f->next;
            free(f);
        }
    free(t);
}

/* smtp_sasl_find - counter for key (expired ones are dropped on the way); NULL if none */
static smtp_sasl_fail *smtp_sasl_find(struct smtp_sasl_throttle *t, const char *key, unsigned window, int create)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    smtp_sasl_fail **link = &t->bucket[h % SASL_THROTTLE_BUCKETS];
    time_t now = time(NULL);
    while (*link) {
        smtp_sasl_fail *f = *link;
        if (now >= f->start + (time_t)window) {
            *link = f->next;
            free(f);
            t->n--;
            continue;
        }
        if (strcmp(f->key, key) == 0)
            return f;
        link = &f->next;
    }
    if (!create || t->n >= SASL_THROTTLE_MAX)
        return NULL;
    smtp_sasl_fail *f = xcalloc(1, sizeof *f);
    snprintf(f->key, sizeof f->key, "%s", key);
    f->start = now;
    *link = f;
    t->n++;
    return f;
}

/* smtp_sasl_key - "ip:ADDR" or "user:NAME" (lower case) into out */
static void smtp_sasl_key(char *out, size_t outlen, const char *kind, const char *v)
{
    int n = snprintf(out, outlen, "%s:", kind);
    for (size_t i = 0; v[i] && (size_t)n + 1 < outlen; i++, n++)
        out[n] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] - 'A' + 'a' : v[i]);
    out[n] = '\0';
}

/* smtp_sasl_blocked - seconds until kind/v may try again, or 0 when not throttled */
static long smtp_sasl_blocked(smtp_server *srv, const char *kind, const char *v, unsigned max)
{
    char key[SASL_FIELD_MAX + 8];
    smtp_sasl_key(key, sizeof key, kind, v);
    unsigned window = srv->cfg->auth_fail_window;
    smtp_sasl_fail *f = smtp_sasl_find(srv->throttle, key, window, 0);
    if (!f || f->count < max)
        return 0;
    long left = (long)(f->start + (time_t)window - time(NULL));
    return left > 0 ? left : 1;
}

/* smtp_sasl_count_failure - one more failure for kind/v */
static void smtp_sasl_count_failure(smtp_server *srv, const char *kind, const char *v)
{
    char key[SASL_FIELD_MAX + 8];
    smtp_sasl_key(key, sizeof key, kind, v);
    smtp_sasl_fail *f = smtp_sasl_find(srv->throttle, key, srv->cfg->auth_fail_window, 1);
    if (f)
        f->count++;
}

/* smtp_sasl_refuse - a failed AUTH attempt: its reply, or 421 and close when it is the
 * session's SASL_SESSION_FAILURES_MAX-th */
static void smtp_sasl_refuse(smtp_session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void smtp_sasl_refuse(smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    if (++s->auth_failures >= SASL_SESSION_FAILURES_MAX) {
        log_info(s->id, "event=auth_close client=%s failures=%u", s->ip, s->auth_failures);
        smtp_session_close(s, 421, "4.7.0", "%s Too many failed AUTH attempts in this session; closing "
                           "connection", s->srv->cfg->hostname);
        return;
    }
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    smtp_session_reply(s, code, enh, "%s", text);
    smtp_session_error(s);
}

/* smtp_sasl_ehlo - AUTH is announced on submission under TLS only (RFC 4954 4 + our policy) */
const char *smtp_sasl_ehlo(smtp_session *s)
{
    if (s->service == SMTP_SERVICE_MX || !(s->flags & SMTP_FLAG_TLS) || !s->srv->auth_wq)
        return "";
    return "AUTH PLAIN LOGIN\n";
}

/* smtp_sasl_end - leave the exchange, back to the state before AUTH */
static void smtp_sasl_end(smtp_session *s)
{
    smtp_sasl *x = s->sasl;
    if (!x)
        return;
    if (s->state == SMTP_STATE_AUTH)
        smtp_session_set_state(s, x->back);
    s->sasl = NULL;
    explicit_bzero(x, sizeof *x);
    free(x);
}

/* smtp_sasl_abandon - session gone: a running check finishes without it */
void smtp_sasl_abandon(smtp_session *s)
{
    if (s->sasl && s->sasl->job)
        s->sasl->job->s = NULL;
    smtp_sasl_end(s);
}

/* smtp_sasl_decode - base64 of a response into out (NUL-terminated); length or -1 */
static int smtp_sasl_decode(const char *in, size_t len, char *out, size_t outmax)
{
    if (len % 4 != 0 || len / 4 * 3 > outmax)
        return -1;
    if (len == 0) {
        out[0] = '\0';
        return 0;
    }
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as data bytes: take them off. */
    n -= (in[len - 1] == '=') + (in[len - 2] == '=');
    out[n] = '\0';
    return n;
}

/* smtp_sasl_reply_fail - 535 after a failed check, and count it */
static void smtp_sasl_reply_fail(smtp_session *s, const char *user, const char *mech)
{
    smtp_sasl_count_failure(s->srv, "ip", s->ip);
    smtp_sasl_count_failure(s->srv, "user", user);
    log_info(s->id, "event=auth result=fail mech=%s user=%s client=%s", mech, user, s->ip);
    smtp_sasl_refuse(s, 535, "5.7.8", "Authentication credentials invalid: check the user name "
                       "(your full address) and the password");
}

/* smtp_sasl_check_work - worker: the yescrypt comparison */
static void smtp_sasl_check_work(void *arg)
{
    smtp_sasl_job *j = arg;
    smtp_submit_handles *h = smtp_submit_pool_get(j->srv);
    j->result = h ? accounts_user_check_password(h->accounts, j->user, j->pass) : ACCT_TEMPFAIL;
    if (h)
        smtp_submit_pool_put(j->srv, h);
    explicit_bzero(j->pass, sizeof j->pass);
}

/* smtp_sasl_check_done - loop: answer the AUTH */
static void smtp_sasl_check_done(void *arg)
{
    smtp_sasl_job *j = arg;
    smtp_session *s = j->s;
    if (!s) {
        free(j);
        return;
    }
    s->sasl->job = NULL;
    smtp_sasl_end(s);
    if (j->result == ACCT_OK) {
        s->auth_user = xstrdup(j->user);
        for (char *p = s->auth_user; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        log_info(s->id, "event=auth result=ok mech=%s user=%s client=%s", j->mech, s->auth_user, s->ip);
        smtp_session_reply(s, 235, "2.7.0", "Authentication successful");
    } else if (j->result == ACCT_TEMPFAIL) {
        log_info(s->id, "event=auth result=tempfail mech=%s user=%s", j->mech, j->user);
        smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure (account database); "
                           "try again later");
    } else {
        smtp_sasl_reply_fail(s, j->user, j->mech);
    }
    free(j);
    smtp_session_resume(s);
}

/* smtp_sasl_check - user and password are known: throttle, then check on a worker */
static void smtp_sasl_check(smtp_session *s, const char *user, const char *pass)
{
    const char *mech = s->sasl->mech == SASL_PLAIN ? "PLAIN" : "LOGIN";
    long wait = smtp_sasl_blocked(s->srv, "user", user, s->srv->cfg->auth_fail_max_user);
    if (wait) {
        log_info(s->id, "event=auth result=throttled scope=account mech=%s user=%s client=%s", mech, user, s->ip);
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 454, "4.7.0", "Too many failed logins for this account; try again in %ld "
                           "minutes", (wait + 59) / 60);
        return;
    }
    smtp_sasl_job *j = xcalloc(1, sizeof *j);
    j->s = s;
    j->srv = s->srv;
    j->mech = mech;
    snprintf(j->user, sizeof j->user, "%s", user);
    snprintf(j->pass, sizeof j->pass, "%s", pass);
    s->sasl->job = j;
    s->flags |= SMTP_FLAG_WAITING;
    bufferevent_disable(s->bev, EV_READ);
    workq_submit(s->srv->auth_wq, smtp_sasl_check_work, smtp_sasl_check_done, j);
}

/* smtp_sasl_plain - RFC 4616 message "authzid NUL authcid NUL passwd" */
static void smtp_sasl_plain(smtp_session *s, const char *msg, int n)
{
    const char *authz = msg, *end = msg + n;
    const char *nul1 = memchr(authz, '\0', (size_t)n);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
    if (!nul2 || nul1[1] == '\0' || nul2 + 1 == end) {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 501, "5.5.2", "Malformed PLAIN response: want base64 of "
                           "\"\\0user\\0password\" (RFC 4616)");
        return;
    }
    const char *user = nul1 + 1, *pass = nul2 + 1;
    if (*authz && strcasecmp(authz, user) != 0) {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 535, "5.7.8", "Authentication credentials invalid: logging in on behalf of "
                           "another user (authorization identity) is not supported");
        return;
    }
    smtp_sasl_check(s, user, pass);
}

/* smtp_sasl_response - one decoded client response for the current step */
static void smtp_sasl_response(smtp_session *s, const char *line, size_t len)
{
    char dec[SASL_FIELD_MAX * 2 + 4];
    int n = smtp_sasl_decode(line, len, dec, sizeof dec - 1);
    if (n < 0 || (s->sasl->mech == SASL_LOGIN && (size_t)n != strlen(dec))) {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 501, "5.5.2", "Cannot decode the AUTH response: send base64 (RFC 4954 4)");
        return;
    }
    smtp_sasl *x = s->sasl;
    if (x->mech == SASL_PLAIN)
        smtp_sasl_plain(s, dec, n);
    else if (x->step == 0 && n > 0 && n <= SASL_FIELD_MAX) {
        memcpy(x->user, dec, (size_t)n + 1);
        x->step = 1;
        smtp_session_set_state(s, SMTP_STATE_AUTH);
        smtp_session_reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
    } else if (x->step == 1 && n <= SASL_FIELD_MAX) {
        smtp_sasl_check(s, x->user, dec);
    } else {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 501, "5.5.2", "Empty or overlong user name or password in LOGIN");
    }
    explicit_bzero(dec, sizeof dec);
}

/* smtp_sasl_input - a line in SMTP_STATE_AUTH */
void smtp_sasl_input(smtp_session *s, char *line, size_t len)
{
    if (len == SIZE_MAX) {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 500, "5.5.6", "Authentication exchange line too long (the limit is %d "
                           "octets); exchange cancelled", SMTP_CMD_LINE_MAX);
        return;
    }
    if (len == 1 && line[0] == '*') {
        smtp_sasl_end(s);
        smtp_sasl_refuse(s, 501, "5.0.0", "Authentication cancelled");
        return;
    }
    smtp_sasl_response(s, line, len);
    explicit_bzero(line, len);
}

/* smtp_sasl_refusal - the checks before any exchange; 1 when AUTH was refused (reply sent) */
static int smtp_sasl_refusal(smtp_session *s)
{
    const char *why = NULL;
    int code = 503;
    const char *enh = "5.5.1";
    if (s->service == SMTP_SERVICE_MX || !s->srv->auth_wq) {
        why = "AUTH is not offered on this port; use the submission port (587 or 465)";
    } else if (!(s->flags & SMTP_FLAG_TLS)) {
        code = 538, enh = "5.7.11";
        why = "Encryption required for requested authentication mechanism: send STARTTLS first";
    } else if (s->auth_user) {
        why = "Already authenticated; AUTH is allowed once per session (RFC 4954 4)";
    } else if (s->state != SMTP_STATE_HELO || !(s->flags & SMTP_FLAG_EHLO)) {
        why = s->state == SMTP_STATE_GREETED ? "send EHLO first" : "AUTH is not allowed inside a mail transaction";
    }
    if (why) {
        smtp_sasl_refuse(s, code, enh, "%s", why);
        return 1;
    }
    long wait = smtp_sasl_blocked(s->srv, "ip", s->ip, s->srv->cfg->auth_fail_max_ip);
    if (wait) {
        log_info(s->id, "event=auth result=throttled scope=ip client=%s", s->ip);
        smtp_sasl_refuse(s, 454, "4.7.0", "Too many failed logins from %s; try again in %ld minutes",
                           s->ip, (wait + 59) / 60);
        return 1;
    }
    return 0;
}

/* smtp_sasl_auth - AUTH mechanism [initial-response] */
void smtp_sasl_auth(smtp_session *s, smtp_cmd *cmd)
{
    if (smtp_sasl_refusal(s))
        return;
    smtp_sasl_mech mech;
    if (cmd->auth_mech_len == 5 && strncasecmp(cmd->arg, "PLAIN", 5) == 0)
        mech = SASL_PLAIN;
    else if (cmd->auth_mech_len == 5 && strncasecmp(cmd->arg, "LOGIN", 5) == 0)
        mech = SASL_LOGIN;
    else {
        smtp_sasl_refuse(s, 504, "5.5.4", "Unrecognized authentication type; use PLAIN or LOGIN");
        return;
    }
    smtp_sasl *x = xcalloc(1, sizeof *x);
    x->mech = mech;
    x->back = s->state;
    s->sasl = x;
    const char *ir = cmd->auth_initial;
    if (ir) {
        /* RFC 4954 4: "=" is an empty initial response. */
        smtp_sasl_response(s, strcmp(ir, "=") == 0 ? "" : ir, strcmp(ir, "=") == 0 ? 0 : strlen(ir));
        return;
    }
    smtp_session_set_state(s, SMTP_STATE_AUTH);
    smtp_session_reply(s, 334, NULL, mech == SASL_PLAIN ? "" : "VXNlcm5hbWU6"); /* "Username:" */
}
