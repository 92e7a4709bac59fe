/*
 * pop3_commands - the POP3 command table and one handler per command
 * (RFC 1939 4-7, CAPA RFC 2449, STLS RFC 2595, AUTH PLAIN RFC 5034 with
 * RFC 4616, response codes RFC 2449 8 and RFC 3206).
 *
 * The table says in which states a command is allowed; outside them the
 * client gets an -ERR saying what to do first. Message numbers are those
 * of the login snapshot (pop3_maildrop.h); a deleted message keeps its
 * number and is refused until RSET.
 */
#include "pop3/pop3_session.h"

#include "config/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P_(st) (1u << (st))
#define IN_AUTH P_(POP3_STATE_AUTHORIZATION)
#define IN_TRANS P_(POP3_STATE_TRANSACTION)
#define POP3_SASL_MAX 768 /* decoded AUTH PLAIN message: authzid, authcid, password (RFC 4616 2: 255 each) */

typedef void (*pop3_handler)(pop3_session *s, char *arg);

typedef struct pop3_command {
    const char *name;
    unsigned states;
    pop3_handler run;
} pop3_command;

/* pop3_cmd_msgno - parse a message number argument into a 0-based index; -1 after replying */
static long pop3_cmd_msgno(pop3_session *s, const char *arg, const char *verb, int want_alive)
{
    const pop3_maildrop *d = s->drop;
    char *end;
    if (arg[0] < '0' || arg[0] > '9') {
        pop3_session_error(s, "-ERR Syntax: %s msg, where msg is a message number from 1 to %zu", verb, d->n);
        return -1;
    }
    unsigned long long v = strtoull(arg, &end, 10);
    if (*end != '\0' && *end != ' ') {
        pop3_session_error(s, "-ERR Syntax: %s msg, where msg is a message number from 1 to %zu", verb, d->n);
        return -1;
    }
    if (v == 0 || v > d->n) {
        pop3_session_error(s, "-ERR No such message, only %zu messages in maildrop", d->n);
        return -1;
    }
    if (want_alive && d->msg[v - 1].deleted) {
        pop3_session_error(s, "-ERR Message %llu is deleted (RSET undeletes it)", v);
        return -1;
    }
    return (long)(v - 1);
}

/* pop3_cmd_capa - CAPA (RFC 2449 5): what we offer in this state */
static void pop3_cmd_capa(pop3_session *s, char *arg)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);
    int login = s->state == POP3_STATE_AUTHORIZATION && pop3_session_login_allowed(s);
    int stls = s->state == POP3_STATE_AUTHORIZATION && s->srv->tls && !(s->flags & POP3_FLAG_TLS);
    evbuffer_add_printf(out, "+OK Capability list follows\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
                        "AUTH-RESP-CODE\r\nPIPELINING\r\n%s%s%sIMPLEMENTATION pochta\r\n.\r\n",
                        login ? "USER\r\n" : "", login ? "SASL PLAIN\r\n" : "", stls ? "STLS\r\n" : "");
}

/* pop3_cmd_cleartext_refused - -ERR when credentials would travel unencrypted; 1 if refused */
static int pop3_cmd_cleartext_refused(pop3_session *s)
{
    if (pop3_session_login_allowed(s))
        return 0;
    log_info(s->id, "event=login_refused service=pop3 reason=cleartext client=%s", s->ip);
    pop3_session_error(s, "-ERR [AUTH] Plain-text login is refused on an unencrypted connection: send STLS "
                       "first, or use the POP3S port (implicit TLS)");
    return 1;
}

/* pop3_cmd_user - USER name (RFC 1939 7); answered +OK for every name so it reveals nothing */
static void pop3_cmd_user(pop3_session *s, char *arg)
{
    if (pop3_cmd_cleartext_refused(s))
        return;
    if (!arg[0] || strlen(arg) > 254) {
        pop3_session_error(s, "-ERR Syntax: USER name, where name is your full address (at most 254 octets)");
        return;
    }
    free(s->user);
    s->user = xstrdup(arg);
    pop3_session_reply(s, "+OK Send your password with PASS");
}

/* pop3_cmd_pass - PASS password (the rest of the line: passwords may hold spaces) */
static void pop3_cmd_pass(pop3_session *s, char *arg)
{
    if (pop3_cmd_cleartext_refused(s))
        return;
    if (!s->user) {
        pop3_session_error(s, "-ERR Send USER with your address first, then PASS");
        return;
    }
    char *user = s->user;
    s->user = NULL; /* RFC 1939: a failed PASS starts over with USER */
    pop3_work_login(s, user, arg, "user");
    free(user);
}

/* pop3_cmd_plain - decode and check an AUTH PLAIN message (RFC 4616), then log in */
static void pop3_cmd_plain(pop3_session *s, const char *b64)
{
    unsigned char msg[POP3_SASL_MAX + 4];
    size_t n = strlen(b64);
    if (n == 1 && b64[0] == '=')
        n = 0;
    if (n % 4 != 0 || n / 4 * 3 > POP3_SASL_MAX) {
        pop3_session_error(s, "-ERR [AUTH] Malformed AUTH PLAIN response: not valid base64 (RFC 4648)");
        return;
    }
    int len = n ? EVP_DecodeBlock(msg, (const unsigned char *)b64, (int)n) : 0;
    if (len < 0) {
        pop3_session_error(s, "-ERR [AUTH] Malformed AUTH PLAIN response: not valid base64 (RFC 4648)");
        return;
    }
    for (size_t k = n; k > 0 && b64[k - 1] == '='; k--)
        len--; /* EVP_DecodeBlock counts the padding */
    msg[len < 0 ? 0 : len] = '\0';
    const char *authz = (const char *)msg;
    const char *authc = memchr(msg, '\0', (size_t)len) ? authz + strlen(authz) + 1 : NULL;
    const char *pass = authc && authc < (const char *)msg + len ? authc + strlen(authc) + 1 : NULL;
    if (!pass || pass > (const char *)msg + len || !authc[0]) {
        explicit_bzero(msg, sizeof msg);
        pop3_session_error(s, "-ERR [AUTH] Malformed AUTH PLAIN response: want authzid NUL authcid NUL password");
        return;
    }
    if (authz[0] && strcasecmp(authz, authc) != 0) {
        explicit_bzero(msg, sizeof msg);
        pop3_session_error(s, "-ERR [AUTH] Cannot log in as another user: leave the authorization identity empty");
        return;
    }
    pop3_work_login(s, authc, pass, "plain");
    explicit_bzero(msg, sizeof msg);
}

/* pop3_cmd_auth - AUTH (RFC 5034): PLAIN only; bare AUTH lists the mechanisms */
static void pop3_cmd_auth(pop3_session *s, char *arg)
{
    if (!arg[0]) {
        pop3_session_reply(s, "+OK Mechanisms follow\r\nPLAIN\r\n.");
        return;
    }
    if (pop3_cmd_cleartext_refused(s))
        return;
    char *sp = strchr(arg, ' ');
    if (sp)
        *sp++ = '\0';
    if (strcasecmp(arg, "PLAIN") != 0) {
        pop3_session_error(s, "-ERR [AUTH] Unsupported mechanism %.40s: this server offers PLAIN", arg);
        return;
    }
    if (sp && *sp) {
        pop3_cmd_plain(s, sp);
        return;
    }
    pop3_session_set_state(s, POP3_STATE_SASL);
    pop3_session_reply(s, "+ ");
}

/* pop3_commands_sasl - the response line after "+ " */
void pop3_commands_sasl(pop3_session *s, char *line, size_t len)
{
    pop3_session_set_state(s, POP3_STATE_AUTHORIZATION);
    if (len == 1 && line[0] == '*') {
        pop3_session_error(s, "-ERR [AUTH] Authentication cancelled by the client");
        return;
    }
    pop3_cmd_plain(s, line);
}

/* pop3_cmd_stls - STLS (RFC 2595 4) */
static void pop3_cmd_stls(pop3_session *s, char *arg)
{
    if (!s->srv->tls) {
        pop3_session_error(s, "-ERR STLS is not available: no certificate is configured");
        return;
    }
    if (s->flags & POP3_FLAG_TLS) {
        pop3_session_error(s, "-ERR TLS is already active");
        return;
    }
    /* RFC 2595 4: input pipelined after STLS came in clear text; drop it. */
    struct evbuffer *in = bufferevent_get_input(s->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    free(s->user);
    s->user = NULL;
    pop3_session_reply(s, "+OK Begin TLS negotiation");
    if (pop3_session_start_tls(s) < 0)
        pop3_session_close(s, "-ERR [SYS/TEMP] TLS not available due to a local problem; try again later");
}

/* pop3_cmd_stat - STAT: messages not deleted and their octets */
static void pop3_cmd_stat(pop3_session *s, char *arg)
{
    size_t n = 0;
    unsigned long long octets = 0;
    for (size_t i = 0; i < s->drop->n; i++)
        if (!s->drop->msg[i].deleted) {
            n++;
            octets += s->drop->msg[i].size;
        }
    pop3_session_reply(s, "+OK %zu %llu", n, octets);
}

/* pop3_cmd_list_uidl - LIST and UIDL share their shape: one message, or every live one */
static void pop3_cmd_list_uidl(pop3_session *s, char *arg, int uidl)
{
    const pop3_maildrop *d = s->drop;
    if (arg[0]) {
        long i = pop3_cmd_msgno(s, arg, uidl ? "UIDL" : "LIST", 1);
        if (i < 0)
            return;
        if (uidl)
            pop3_session_reply(s, "+OK %ld %s", i + 1, d->msg[i].uid);
        else
            pop3_session_reply(s, "+OK %ld %zu", i + 1, d->msg[i].size);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(s->bev);
    evbuffer_add_printf(out, "+OK %s\r\n", uidl ? "Unique-ID listing follows" : "Scan listing follows");
    for (size_t i = 0; i < d->n; i++) {
        if (d->msg[i].deleted)
            continue;
        if (uidl)
            evbuffer_add_printf(out, "%zu %s\r\n", i + 1, d->msg[i].uid);
        else
            evbuffer_add_printf(out, "%zu %zu\r\n", i + 1, d->msg[i].size);
    }
    evbuffer_add(out, ".\r\n", 3);
}

/* pop3_cmd_list - LIST [msg] */
static void pop3_cmd_list(pop3_session *s, char *arg)
{
    pop3_cmd_list_uidl(s, arg, 0);
}

/* pop3_cmd_uidl - UIDL [msg] */
static void pop3_cmd_uidl(pop3_session *s, char *arg)
{
    pop3_cmd_list_uidl(s, arg, 1);
}

/* pop3_cmd_retr - RETR msg: read on a worker, then send */
static void pop3_cmd_retr(pop3_session *s, char *arg)
{
    long i = pop3_cmd_msgno(s, arg, "RETR", 1);
    if (i >= 0)
        pop3_work_read(s, (size_t)i, -1);
}

/* pop3_cmd_top - TOP msg n: headers, blank line, n body lines */
static void pop3_cmd_top(pop3_session *s, char *arg)
{
    long i = pop3_cmd_msgno(s, arg, "TOP", 1);
    if (i < 0)
        return;
    const char *sp = strchr(arg, ' ');
    char *end;
    long lines = sp ? strtol(sp + 1, &end, 10) : -1;
    if (!sp || sp[1] < '0' || sp[1] > '9' || *end != '\0' || lines < 0) {
        pop3_session_error(s, "-ERR Syntax: TOP msg n, where n is the number of body lines (0 or more)");
        return;
    }
    pop3_work_read(s, (size_t)i, lines);
}

/* pop3_cmd_dele - DELE msg: mark only; QUIT applies it */
static void pop3_cmd_dele(pop3_session *s, char *arg)
{
    long i = pop3_cmd_msgno(s, arg, "DELE", 0);
    if (i < 0)
        return;
    if (s->drop->msg[i].deleted) {
        pop3_session_error(s, "-ERR Message %ld is already deleted", i + 1);
        return;
    }
    s->drop->msg[i].deleted = 1;
    pop3_session_reply(s, "+OK Message %ld deleted (removed at QUIT; RSET undoes it)", i + 1);
}

/* pop3_cmd_rset - RSET: undelete everything */
static void pop3_cmd_rset(pop3_session *s, char *arg)
{
    size_t n = 0;
    unsigned long long octets = 0;
    for (size_t i = 0; i < s->drop->n; i++) {
        s->drop->msg[i].deleted = 0;
        n++;
        octets += s->drop->msg[i].size;
    }
    pop3_session_reply(s, "+OK Maildrop has %zu messages (%llu octets)", n, octets);
}

/* pop3_cmd_noop - NOOP */
static void pop3_cmd_noop(pop3_session *s, char *arg)
{
    pop3_session_reply(s, "+OK");
}

/* pop3_cmd_quit - QUIT: UPDATE in TRANSACTION (RFC 1939 6), else just close */
static void pop3_cmd_quit(pop3_session *s, char *arg)
{
    if (s->state != POP3_STATE_TRANSACTION) {
        pop3_session_close(s, "+OK %s POP3 server signing off", s->srv->cfg->hostname);
        return;
    }
    pop3_session_set_state(s, POP3_STATE_UPDATE);
    pop3_work_update(s);
}

static const pop3_command pop3_commands[] = {
    {"CAPA", IN_AUTH | IN_TRANS, pop3_cmd_capa},
    {"USER", IN_AUTH, pop3_cmd_user},
    {"PASS", IN_AUTH, pop3_cmd_pass},
    {"AUTH", IN_AUTH, pop3_cmd_auth},
    {"STLS", IN_AUTH, pop3_cmd_stls},
    {"STAT", IN_TRANS, pop3_cmd_stat},
    {"LIST", IN_TRANS, pop3_cmd_list},
    {"UIDL", IN_TRANS, pop3_cmd_uidl},
    {"RETR", IN_TRANS, pop3_cmd_retr},
    {"TOP", IN_TRANS, pop3_cmd_top},
    {"DELE", IN_TRANS, pop3_cmd_dele},
    {"RSET", IN_TRANS, pop3_cmd_rset},
    {"NOOP", IN_TRANS, pop3_cmd_noop},
    {"QUIT", IN_AUTH | IN_TRANS, pop3_cmd_quit},
};

/* pop3_commands_dispatch - split verb and argument, check the state, run the handler */
void pop3_commands_dispatch(pop3_session *s, char *line, size_t len)
{
    char *arg = line;
    while (*arg && *arg != ' ')
        arg++;
    if (*arg)
        *arg++ = '\0';
    const pop3_command *c = NULL;
    for (size_t i = 0; i < sizeof pop3_commands / sizeof pop3_commands[0]; i++)
        if (strcasecmp(line, pop3_commands[i].name) == 0)
            c = &pop3_commands[i];
    if (!c) {
        pop3_session_error(s, "-ERR Unknown command %.20s: try CAPA for the list", line);
        return;
    }
    if (!(c->states & P_(s->state))) {
        if (s->state == POP3_STATE_AUTHORIZATION)
            pop3_session_error(s, "-ERR %s needs a login first: send USER and PASS, or AUTH PLAIN", c->name);
        else
            pop3_session_error(s, "-ERR %s is not valid now: you are already logged in", c->name);
        return;
    }
    c->run(s, arg);
}
