/*
 * pop3_work - the parts of a POP3 session that block, run on the server's
 * worker queue (event/workq.h): the yescrypt password check, listing the
 * Maildir and granting POP-before-SMTP, reading a message for RETR/TOP,
 * and applying deletions at QUIT (RFC 1939 6, UPDATE state).
 *
 * Each job keeps its session alive (s->jobs); a session whose client left
 * meanwhile is only marked gone and is freed when its last job finishes,
 * so a job never touches freed memory and a QUIT's deletions complete.
 * Each worker thread has its own accounts handle (SQLite handles are per
 * thread), opened on first use and closed when the thread ends.
 */
#include "pop3/pop3_session.h"

#include "config/config.h"
#include "deliver/maildir.h"
#include "event/workq.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/accounts.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pop3_job {
    pop3_session *s;
    const pochta_config *cfg;
    char ip[64];
    char address[256];
    char method[16];
    char *password;             /* wiped and freed by the worker */
    acct_status st;
    acct_user user;
    int granted;                /* POP-before-SMTP grant written */
    pop3_maildrop *drop;        /* open: the listing */
    int rc;
    char err[512];
    size_t index;               /* read: message (0-based) */
    long lines;                 /* read: TOP lines, or -1 for RETR */
    buf data;
    size_t removed;             /* update */
} pop3_job;

static pthread_key_t pop3_acct_key;
static pthread_once_t pop3_acct_once = PTHREAD_ONCE_INIT;

/* pop3_acct_close - thread exit: close that worker's accounts handle */
static void pop3_acct_close(void *a)
{
    accounts_close(a);
}

/* pop3_acct_key_init - create the per-thread key once per process */
static void pop3_acct_key_init(void)
{
    pthread_key_create(&pop3_acct_key, pop3_acct_close);
}

/* pop3_thread_accounts - this worker's accounts handle; NULL when the database cannot be opened */
static accounts *pop3_thread_accounts(const pochta_config *cfg)
{
    pthread_once(&pop3_acct_once, pop3_acct_key_init);
    accounts *a = pthread_getspecific(pop3_acct_key);
    if (a)
        return a;
    char err[512];
    a = accounts_open(cfg->db_path, err, sizeof err);
    if (!a) {
        log_error(NULL, "event=pop3_error error=\"%s\"", err);
        return NULL;
    }
    pthread_setspecific(pop3_acct_key, a);
    return a;
}

/* pop3_job_new - a job bound to s (which now waits for it) */
static pop3_job *pop3_job_new(pop3_session *s)
{
    pop3_job *j = xcalloc(1, sizeof *j);
    j->s = s;
    j->cfg = s->srv->cfg;
    snprintf(j->ip, sizeof j->ip, "%s", s->ip);
    s->jobs++;
    pop3_session_wait(s);
    return j;
}

/* pop3_job_end - free the job; 1 when its session is gone (nothing more to do) */
static int pop3_job_end(pop3_job *j)
{
    pop3_session *s = j->s;
    pop3_maildrop_free(j->drop);
    buf_free(&j->data);
    free(j);
    return pop3_session_job_done(s);
}

/* pop3_work_open_run - worker: list the Maildir and grant POP-before-SMTP */
static void pop3_work_open_run(void *arg)
{
    pop3_job *j = arg;
    char root[4096];
    if (maildir_path(j->cfg->mail_dir, j->address, root, sizeof root) < 0) {
        snprintf(j->err, sizeof j->err, "address cannot name a mailbox");
        j->rc = -1;
        return;
    }
    j->rc = pop3_maildrop_open(root, &j->drop, j->err, sizeof j->err);
    if (j->rc == 0 && j->cfg->pop_before_smtp > 0) {
        accounts *a = pop3_thread_accounts(j->cfg);
        j->granted = a && accounts_relay_grant(a, j->ip, (long long)time(NULL) + j->cfg->pop_before_smtp) == ACCT_OK;
    }
}

/* pop3_work_open_done - loop: enter TRANSACTION with the listing */
static void pop3_work_open_done(void *arg)
{
    pop3_job *j = arg;
    pop3_session *s = j->s;
    if (s->flags & POP3_FLAG_GONE) {
        pop3_job_end(j);
        return;
    }
    if (j->rc < 0) {
        log_error(s->id, "event=maildrop_error user=%s error=\"%s\"", j->address, j->err);
        pop3_server_unlock(s->srv, s->mailbox);
        free(s->mailbox);
        s->mailbox = NULL;
        pop3_session_reply(s, "-ERR [SYS/TEMP] Cannot read your mailbox right now; try again later");
    } else {
        s->drop = j->drop;
        j->drop = NULL;
        pop3_session_set_state(s, POP3_STATE_TRANSACTION);
        log_info(s->id, "event=login service=pop3 user=%s method=%s tls=%s messages=%zu octets=%llu "
                 "pop_before_smtp=%s", j->address, j->method, (s->flags & POP3_FLAG_TLS) ? "yes" : "no",
                 s->drop->n, s->drop->total, j->granted ? "granted" : "off");
        pop3_session_reply(s, "+OK Logged in as %s: %zu messages (%llu octets)", j->address, s->drop->n,
                           s->drop->total);
    }
    if (!pop3_job_end(j))
        pop3_session_resume(s);
}

/* pop3_work_login_run - worker: check the password (yescrypt) */
static void pop3_work_login_run(void *arg)
{
    pop3_job *j = arg;
    accounts *a = pop3_thread_accounts(j->cfg);
    j->st = a ? accounts_user_authenticate(a, j->address, j->password, &j->user) : ACCT_TEMPFAIL;
    explicit_bzero(j->password, strlen(j->password));
    free(j->password);
    j->password = NULL;
}

/* pop3_work_login_failed - count the failure; answer after a growing delay, close after too many */
static void pop3_work_login_failed(pop3_session *s, pop3_job *j)
{
    unsigned from_ip = pop3_server_fail(s->srv, s->ip);
    s->auth_fails++;
    log_info(s->id, "event=login_failed service=pop3 user=%s method=%s client=%s failures=%u", j->address,
             j->method, s->ip, from_ip);
    if (s->auth_fails >= POP3_MAX_AUTH_FAILS)
        pop3_session_delay_reply(s, s->auth_fails, 1, "-ERR [AUTH] Authentication failed; too many failed "
                                 "logins, closing connection");
    else
        pop3_session_delay_reply(s, s->auth_fails, 0, "-ERR [AUTH] Authentication failed: wrong user name or "
                                 "password (the user name is the full address, e.g. alice@example.org)");
}

/* pop3_work_login_done - loop: refuse, or lock the mailbox and list it */
static void pop3_work_login_done(void *arg)
{
    pop3_job *j = arg;
    pop3_session *s = j->s;
    if (s->flags & POP3_FLAG_GONE) {
        pop3_job_end(j);
        return;
    }
    if (j->st == ACCT_TEMPFAIL) {
        pop3_session_reply(s, "-ERR [SYS/TEMP] Account database unavailable; try again later");
    } else if (j->st != ACCT_OK) {
        pop3_work_login_failed(s, j);
    } else if (j->user.disabled) {
        log_info(s->id, "event=login_refused service=pop3 user=%s reason=disabled", j->address);
        pop3_session_reply(s, "-ERR [SYS/PERM] Mailbox %s is disabled and may not log in; ask the "
                           "postmaster to enable it", j->address);
    } else if (pop3_server_lock(s->srv, j->address) < 0) {
        log_info(s->id, "event=login_refused service=pop3 user=%s reason=in_use", j->address);
        pop3_session_reply(s, "-ERR [IN-USE] Mailbox %s is open in another POP3 session; end that session "
                           "(or wait for it to time out) and try again", j->address);
    } else {
        s->mailbox = xstrdup(j->address);
        pop3_job *o = pop3_job_new(s);
        snprintf(o->address, sizeof o->address, "%s", j->address);
        snprintf(o->method, sizeof o->method, "%s", j->method);
        workq_submit(s->srv->wq, pop3_work_open_run, pop3_work_open_done, o);
        pop3_job_end(j);
        return;
    }
    /* a failed login waits for its delayed reply, which resumes the session */
    if (!pop3_job_end(j) && !s->delayed_reply)
        pop3_session_resume(s);
}

/* pop3_work_login - check address/password off the loop, then log in */
void pop3_work_login(pop3_session *s, const char *address, const char *password, const char *method)
{
    if (pop3_server_failures(s->srv, s->ip) >= POP3_FAIL_MAX) {
        pop3_session_error(s, "-ERR [SYS/TEMP] Too many failed logins from %s; wait %d minutes and try again",
                           s->ip, POP3_FAIL_WINDOW / 60);
        return;
    }
    pop3_job *j = pop3_job_new(s);
    snprintf(j->address, sizeof j->address, "%s", address);
    for (char *p = j->address; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"')
            *p = '?'; /* never a valid address (accounts refuses it); keeps log lines whole */
    }
    snprintf(j->method, sizeof j->method, "%s", method);
    j->password = xstrdup(password);
    workq_submit(s->srv->wq, pop3_work_login_run, pop3_work_login_done, j);
}

/* pop3_work_read_run - worker: the message, dot-stuffed */
static void pop3_work_read_run(void *arg)
{
    pop3_job *j = arg;
    j->rc = pop3_maildrop_read(j->s->drop, j->index, j->lines, &j->data, j->err, sizeof j->err);
}

/* pop3_work_read_done - loop: send it as a multi-line response */
static void pop3_work_read_done(void *arg)
{
    pop3_job *j = arg;
    pop3_session *s = j->s;
    if (s->flags & POP3_FLAG_GONE) {
        pop3_job_end(j);
        return;
    }
    size_t n = j->index + 1;
    if (j->rc == 1) {
        pop3_session_reply(s, "-ERR Message %zu was removed by another client meanwhile", n);
    } else if (j->rc < 0) {
        log_error(s->id, "event=read_error user=%s msg=%zu error=\"%s\"", s->mailbox, n, j->err);
        pop3_session_reply(s, "-ERR [SYS/TEMP] Message %zu cannot be read right now; try again later", n);
    } else {
        struct evbuffer *out = bufferevent_get_output(s->bev);
        if (j->lines < 0)
            evbuffer_add_printf(out, "+OK %zu octets\r\n", s->drop->msg[j->index].size);
        else
            evbuffer_add_printf(out, "+OK Top of message %zu follows\r\n", n);
        evbuffer_add(out, j->data.data ? j->data.data : "", j->data.len);
        evbuffer_add(out, ".\r\n", 3);
    }
    if (!pop3_job_end(j))
        pop3_session_resume(s);
}

/* pop3_work_read - RETR (lines < 0) or TOP of message i */
void pop3_work_read(pop3_session *s, size_t i, long lines)
{
    pop3_job *j = pop3_job_new(s);
    j->index = i;
    j->lines = lines;
    workq_submit(s->srv->wq, pop3_work_read_run, pop3_work_read_done, j);
}

/* pop3_work_update_run - worker: remove the messages marked deleted */
static void pop3_work_update_run(void *arg)
{
    pop3_job *j = arg;
    j->rc = pop3_maildrop_expunge(j->s->drop, &j->removed, j->err, sizeof j->err);
}

/* pop3_work_update_done - loop: say goodbye and close (the client may have left already) */
static void pop3_work_update_done(void *arg)
{
    pop3_job *j = arg;
    pop3_session *s = j->s;
    log_info(s->id, "event=update user=%s deleted=%zu result=%s%s%s%s", s->mailbox, j->removed,
             j->rc < 0 ? "partial" : "ok", j->err[0] ? " error=\"" : "", j->err, j->err[0] ? "\"" : "");
    if (s->flags & POP3_FLAG_GONE) {
        pop3_job_end(j);
        return;
    }
    if (j->rc < 0)
        pop3_session_close(s, "-ERR [SYS/TEMP] Some deleted messages not removed (%zu were); they will show "
                           "again next time", j->removed);
    else
        pop3_session_close(s, "+OK %s POP3 server signing off (%zu messages deleted)", s->srv->cfg->hostname,
                           j->removed);
    pop3_job_end(j);
}

/* pop3_work_update - QUIT in TRANSACTION: apply deletions, then close */
void pop3_work_update(pop3_session *s)
{
    pop3_job *j = pop3_job_new(s);
    workq_submit(s->srv->wq, pop3_work_update_run, pop3_work_update_done, j);
}
