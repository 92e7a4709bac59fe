/*
 * smtp_cmd - one SMTP command line into an smtp_cmd (see smtp_cmd.h).
 *
 * Shape: find the verb (case-insensitive table), trim the argument, then
 * one handler per argument grammar: none, required text, VRFY/EXPN string,
 * AUTH, BDAT, and MAIL/RCPT (path, then ESMTP parameters through a table
 * of {keyword, verb, handler}). Every refusal sets cmd->error to a static
 * text that names the problem, for the reply.
 */
#include "mail/smtp_cmd.h"
#include "lib/hex.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* verb table; order does not matter, names are compared case-insensitively */
static const struct {
    const char *name;
    smtp_cmd_verb verb;
} smtp_verbs[] = {
    {"HELO", SMTP_CMD_HELO}, {"EHLO", SMTP_CMD_EHLO}, {"MAIL", SMTP_CMD_MAIL},
    {"RCPT", SMTP_CMD_RCPT}, {"DATA", SMTP_CMD_DATA}, {"BDAT", SMTP_CMD_BDAT},
    {"RSET", SMTP_CMD_RSET}, {"NOOP", SMTP_CMD_NOOP}, {"QUIT", SMTP_CMD_QUIT},
    {"HELP", SMTP_CMD_HELP}, {"VRFY", SMTP_CMD_VRFY}, {"EXPN", SMTP_CMD_EXPN},
    {"STARTTLS", SMTP_CMD_STARTTLS}, {"AUTH", SMTP_CMD_AUTH},
};

/* cmd_fail - record why and return the status */
static smtp_parse_status cmd_fail(smtp_cmd *cmd, smtp_parse_status st, const char *why)
{
    cmd->error = why;
    return st;
}

/* smtp_cmd_verb_name - the verb as written in replies and logs */
const char *smtp_cmd_verb_name(smtp_cmd_verb v)
{
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (smtp_verbs[i].verb == v)
            return smtp_verbs[i].name;
    return "UNKNOWN";
}

/* smtp_xtext_decode - xtext = *( xchar / hexchar ), xchar = %d33-42 / %d44-60 / %d62-126,
 * hexchar = "+" 2HEXDIG (RFC 3461 4; lower-case hex tolerated) */
int smtp_xtext_decode(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            int hi = hex_digit(s[i + 1]), lo = hi < 0 ? -1 : hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            s[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c >= 33 && c <= 126 && c != '=') {
            s[o++] = (char)c;
        } else {
            return -1;
        }
    }
    s[o] = '\0';
    return o > INT_MAX ? -1 : (int)o;
}

/* smtp_xtext_encode - the inverse of smtp_xtext_decode, upper-case hex as RFC 3461 4 writes it */
int smtp_xtext_encode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (outlen == 0)
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = c >= 33 && c <= 126 && c != '+' && c != '=';
        if (o + (plain ? 1 : 3) >= outlen || o > INT_MAX - 3) {
            out[0] = '\0';
            return -1;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '+';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return (int)o;
}

/* cmd_printable - every byte in [lo, 126]? */
static int cmd_printable(const char *s, unsigned char lo)
{
    for (; *s; s++)
        if ((unsigned char)*s < lo || (unsigned char)*s > 126)
            return 0;
    return 1;
}

/* cmd_param_size - SIZE=1*20DIGIT (RFC 1870 3) */
static smtp_parse_status cmd_param_size(smtp_cmd *cmd, char *val)
{
    if (!val || !*val || strspn(val, "0123456789") != strlen(val) || strlen(val) > 20)
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "SIZE needs a number of octets");
    errno = 0;
    unsigned long long v = strtoull(val, NULL, 10);
    if (errno == ERANGE || v > LLONG_MAX)
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "SIZE value too large");
    cmd->size = (long long)v;
    return SMTP_PARSE_OK;
}

/* cmd_param_body - BODY=7BIT / 8BITMIME (RFC 6152) / BINARYMIME (RFC 3030) */
static smtp_parse_status cmd_param_body(smtp_cmd *cmd, char *val)
{
    if (val && strcasecmp(val, "7BIT") == 0)
        cmd->body = SMTP_BODY_7BIT;
    else if (val && strcasecmp(val, "8BITMIME") == 0)
        cmd->body = SMTP_BODY_8BITMIME;
    else if (val && strcasecmp(val, "BINARYMIME") == 0)
        cmd->body = SMTP_BODY_BINARYMIME;
    else
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "BODY must be 7BIT, 8BITMIME or BINARYMIME");
    return SMTP_PARSE_OK;
}

/* cmd_param_smtputf8 - SMTPUTF8 takes no value (RFC 6531 3.4) */
static smtp_parse_status cmd_param_smtputf8(smtp_cmd *cmd, char *val)
{
    if (val)
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "SMTPUTF8 takes no value");
    cmd->smtputf8 = 1;
    return SMTP_PARSE_OK;
}

/* cmd_param_ret - RET=FULL / HDRS (RFC 3461 4.3) */
static smtp_parse_status cmd_param_ret(smtp_cmd *cmd, char *val)
{
    if (val && strcasecmp(val, "FULL") == 0)
        cmd->ret = SMTP_RET_FULL;
    else if (val && strcasecmp(val, "HDRS") == 0)
        cmd->ret = SMTP_RET_HDRS;
    else
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "RET must be FULL or HDRS");
    return SMTP_PARSE_OK;
}

/* cmd_param_envid - ENVID=xtext, at most 100 characters, printable once decoded (RFC 3461 4.4) */
static smtp_parse_status cmd_param_envid(smtp_cmd *cmd, char *val)
{
    if (!val || !*val || strlen(val) > SMTP_ENVID_MAX)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "ENVID needs 1 to 100 characters of xtext");
    if (smtp_xtext_decode(val) < 0 || !cmd_printable(val, 32))
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "ENVID is not valid xtext");
    cmd->envid = val;
    return SMTP_PARSE_OK;
}

/* cmd_param_auth - AUTH=xtext mailbox or "<>" (RFC 4954 5) */
static smtp_parse_status cmd_param_auth(smtp_cmd *cmd, char *val)
{
    if (!val || !*val || smtp_xtext_decode(val) <= 0 || !cmd_printable(val, 32))
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "AUTH= needs an xtext mailbox or <>");
    cmd->auth_param = val;
    return SMTP_PARSE_OK;
}

/* smtp_notify_parse - NOTIFY=NEVER / 1#(SUCCESS / FAILURE / DELAY) (RFC 3461 4.1) */
int smtp_notify_parse(const char *val, const char **why)
{
    static const char *const words[] = {"NEVER", "SUCCESS", "FAILURE", "DELAY"};
    static const int bits[] = {SMTP_NOTIFY_NEVER, SMTP_NOTIFY_SUCCESS, SMTP_NOTIFY_FAILURE, SMTP_NOTIFY_DELAY};
    *why = "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY";
    int flags = 0;
    for (const char *p = val; p;) { /* an empty item ("", "A,,B", "A,") matches no word */
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int bit = 0;
        for (size_t i = 0; i < sizeof bits / sizeof bits[0] && !bit; i++)
            if (n == strlen(words[i]) && strncasecmp(p, words[i], n) == 0)
                bit = bits[i];
        if (!bit)
            return -1;
        flags |= bit;
        p = comma ? comma + 1 : NULL;
    }
    if ((flags & SMTP_NOTIFY_NEVER) && flags != SMTP_NOTIFY_NEVER) {
        *why = "NOTIFY=NEVER cannot be combined with other values";
        return -1;
    }
    return flags;
}

/* cmd_param_notify - the NOTIFY= parameter of RCPT */
static smtp_parse_status cmd_param_notify(smtp_cmd *cmd, char *val)
{
    const char *why;
    int flags = smtp_notify_parse(val ? val : "", &why);
    if (flags < 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, why);
    cmd->notify = flags;
    return SMTP_PARSE_OK;
}

/* cmd_param_orcpt - ORCPT=addr-type ";" xtext, kept as given (RFC 3461 4.2) */
static smtp_parse_status cmd_param_orcpt(smtp_cmd *cmd, char *val)
{
    static const char bad[] = "ORCPT must be addr-type;xtext (e.g. rfc822;user@example.org)";
    char *semi = val ? strchr(val, ';') : NULL;
    if (!semi || semi == val || semi[1] == '\0' || strlen(val) > SMTP_ORCPT_MAX)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, bad);
    for (const char *p = val; p < semi; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return cmd_fail(cmd, SMTP_PARSE_SYNTAX, bad);
    /* validate the xtext on a copy: the value itself is handed on undecoded */
    char tmp[SMTP_CMD_LINE_MAX];
    size_t n = strlen(semi + 1);
    memcpy(tmp, semi + 1, n + 1);
    if (smtp_xtext_decode(tmp) <= 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "ORCPT address is not valid xtext");
    cmd->orcpt = val;
    return SMTP_PARSE_OK;
}

/* parameter table: keyword, the verb it belongs to, its handler, the text for a repeat */
static const struct {
    const char *name;
    smtp_cmd_verb verb;
    smtp_parse_status (*fn)(smtp_cmd *, char *);
    const char *dup;
} smtp_params[] = {
    {"SIZE", SMTP_CMD_MAIL, cmd_param_size, "SIZE given twice; give each parameter once"},
    {"BODY", SMTP_CMD_MAIL, cmd_param_body, "BODY given twice; give each parameter once"},
    {"SMTPUTF8", SMTP_CMD_MAIL, cmd_param_smtputf8, "SMTPUTF8 given twice; give each parameter once"},
    {"RET", SMTP_CMD_MAIL, cmd_param_ret, "RET given twice; give each parameter once"},
    {"ENVID", SMTP_CMD_MAIL, cmd_param_envid, "ENVID given twice; give each parameter once"},
    {"AUTH", SMTP_CMD_MAIL, cmd_param_auth, "AUTH given twice; give each parameter once"},
    {"NOTIFY", SMTP_CMD_RCPT, cmd_param_notify, "NOTIFY given twice; give each parameter once"},
    {"ORCPT", SMTP_CMD_RCPT, cmd_param_orcpt, "ORCPT given twice; give each parameter once"},
};

/* cmd_keyword_valid - esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int cmd_keyword_valid(const char *k)
{
    if (!*k || *k == '-')
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '-'))
            return 0;
    return 1;
}

/* cmd_one_param - look up one keyword[=value] for this verb and run its handler */
static smtp_parse_status cmd_one_param(smtp_cmd *cmd, char *kw, char *val, unsigned *seen)
{
    if (!cmd_keyword_valid(kw))
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "malformed parameter keyword");
    if (val && strchr(val, '=')) /* an empty value is left to the handler, which names the parameter */
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "malformed parameter value");
    for (size_t i = 0; i < sizeof smtp_params / sizeof smtp_params[0]; i++) {
        if (strcasecmp(kw, smtp_params[i].name) != 0 || smtp_params[i].verb != cmd->verb)
            continue;
        if (*seen & (1u << i)) /* a known parameter twice is a syntax error (501), not an unknown one (555) */
            return cmd_fail(cmd, SMTP_PARSE_SYNTAX, smtp_params[i].dup);
        *seen |= 1u << i;
        return smtp_params[i].fn(cmd, val);
    }
    if (cmd->verb == SMTP_CMD_MAIL)
        return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM,
                        "unknown MAIL parameter (supported: SIZE BODY SMTPUTF8 RET ENVID AUTH)");
    return cmd_fail(cmd, SMTP_PARSE_BAD_PARAM, "unknown RCPT parameter (supported: NOTIFY ORCPT)");
}

/* cmd_params - Mail-parameters / Rcpt-parameters: esmtp-param *(SP esmtp-param) */
static smtp_parse_status cmd_params(smtp_cmd *cmd, char *p)
{
    unsigned seen = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            return SMTP_PARSE_OK;
        char *kw = p, *val = NULL;
        while (*p && *p != ' ' && *p != '=')
            p++;
        if (*p == '=') {
            *p++ = '\0';
            val = p;
            while (*p && *p != ' ')
                p++;
        }
        if (*p)
            *p++ = '\0';
        smtp_parse_status st = cmd_one_param(cmd, kw, val, &seen);
        if (st != SMTP_PARSE_OK)
            return st;
    }
}

/* cmd_mail_rcpt - "FROM:" / "TO:" path [SP parameters] */
static smtp_parse_status cmd_mail_rcpt(smtp_cmd *cmd, char *arg)
{
    int mail = cmd->verb == SMTP_CMD_MAIL;
    const char *prefix = mail ? "FROM:" : "TO:";
    size_t plen = strlen(prefix);
    const char *usage = mail ? "use MAIL FROM:<address> [parameters]" : "use RCPT TO:<address> [parameters]";
    if (strncasecmp(arg, prefix, plen) != 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
    char *p = arg + plen;
    if (*p == ' ')
        p++; /* "MAIL FROM: <a@b>" is common enough to accept */
    /* UTF-8 is allowed here and reported in path.local_utf8/domain_utf8; see smtp_cmd.h */
    int flags = MAIL_ADDR_ALLOW_UTF8 | (mail ? MAIL_ADDR_ALLOW_NULL : MAIL_ADDR_ALLOW_POSTMASTER);
    size_t rest = strlen(p), used = 0;
    mail_addr_status ast;
    const char *err = NULL;
    if (rest == 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
    if (*p == '<') {
        ast = mail_addr_parse_path(p, rest, flags, &cmd->path, &used, &err);
    } else {
        /* no <>: tolerated like Postfix (strict_rfc821_envelopes=no); the token ends at SP */
        used = strcspn(p, " ");
        ast = mail_addr_parse(p, used, flags & ~MAIL_ADDR_ALLOW_NULL, &cmd->path, &err);
        cmd->bare_path = 1;
    }
    if (ast != MAIL_ADDR_OK)
        return cmd_fail(cmd, SMTP_PARSE_BAD_ADDR, err ? err : "bad address");
    p += used;
    if (*p && *p != ' ')
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "unexpected text after the address");
    return cmd_params(cmd, p);
}

/* cmd_unquote - VRFY/EXPN String = Atom / Quoted-string: unquote in place, 0 when malformed */
static int cmd_unquote(char *s)
{
    size_t o = 0, i = 1;
    for (; s[i] && s[i] != '"'; i++) {
        if (s[i] == '\\') {
            if (!s[i + 1])
                return 0;
            i++;
        }
        s[o++] = s[i];
    }
    if (s[i] != '"' || s[i + 1] != '\0')
        return 0;
    s[o] = '\0';
    return 1;
}

/* cmd_auth - AUTH mechanism [SP initial-response] (RFC 4954 4) */
static smtp_parse_status cmd_auth(smtp_cmd *cmd, char *arg)
{
    static const char usage[] = "use AUTH mechanism [initial-response]";
    size_t m = strcspn(arg, " ");
    if (m == 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
    for (size_t i = 0; i < m; i++) {
        char c = arg[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "malformed SASL mechanism name");
    }
    cmd->auth_mech_len = m;
    if (arg[m]) {
        char *ir = arg + m + strspn(arg + m, " ");
        if (strchr(ir, ' ') || !cmd_printable(ir, 33))
            return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
        cmd->auth_initial = ir;
    }
    return SMTP_PARSE_OK;
}

/* cmd_bdat - BDAT chunk-size [SP "LAST"] (RFC 3030 2), chunk-size = 1*DIGIT */
static smtp_parse_status cmd_bdat(smtp_cmd *cmd, char *arg)
{
    static const char usage[] = "use BDAT chunk-size [LAST]";
    size_t d = strspn(arg, "0123456789");
    if (d == 0 || d > 20 || (arg[d] && arg[d] != ' '))
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
    char *rest = arg + d + strspn(arg + d, " ");
    if (*rest && strcasecmp(rest, "LAST") != 0)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, usage);
    errno = 0;
    unsigned long long v = strtoull(arg, NULL, 10);
    if (errno == ERANGE)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "BDAT chunk size too large");
    cmd->chunk_size = v;
    cmd->last = *rest != '\0';
    return SMTP_PARSE_OK;
}

/* cmd_dispatch - the argument grammar of each verb */
static smtp_parse_status cmd_dispatch(smtp_cmd *cmd, char *arg)
{
    switch (cmd->verb) {
    case SMTP_CMD_HELO:
    case SMTP_CMD_EHLO:
        return *arg ? SMTP_PARSE_OK : cmd_fail(cmd, SMTP_PARSE_SYNTAX, "a host name is required");
    case SMTP_CMD_MAIL:
    case SMTP_CMD_RCPT:
        return cmd_mail_rcpt(cmd, arg);
    case SMTP_CMD_VRFY:
    case SMTP_CMD_EXPN:
        if (*arg == '"' && !cmd_unquote(arg))
            return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "malformed quoted string");
        return *arg ? SMTP_PARSE_OK : cmd_fail(cmd, SMTP_PARSE_SYNTAX, "an argument is required");
    case SMTP_CMD_AUTH:
        return cmd_auth(cmd, arg);
    case SMTP_CMD_BDAT:
        return cmd_bdat(cmd, arg);
    case SMTP_CMD_NOOP:
    case SMTP_CMD_HELP:
        return SMTP_PARSE_OK;
    case SMTP_CMD_DATA:
    case SMTP_CMD_RSET:
    case SMTP_CMD_QUIT:
    case SMTP_CMD_STARTTLS:
        return *arg ? cmd_fail(cmd, SMTP_PARSE_SYNTAX, "this command takes no argument") : SMTP_PARSE_OK;
    case SMTP_CMD_UNKNOWN:
        break;
    }
    return cmd_fail(cmd, SMTP_PARSE_UNKNOWN, "command not recognized");
}

/* smtp_cmd_parse - verb, trimmed argument, then the verb's own grammar */
smtp_parse_status smtp_cmd_parse(char *line, size_t len, smtp_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->verb = SMTP_CMD_UNKNOWN;
    cmd->size = -1;
    cmd->arg = line + len;
    size_t vlen = strcspn(line, " ");
    if (vlen > len)
        vlen = len;
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (strlen(smtp_verbs[i].name) == vlen && strncasecmp(line, smtp_verbs[i].name, vlen) == 0)
            cmd->verb = smtp_verbs[i].verb;
    if (cmd->verb == SMTP_CMD_UNKNOWN)
        return cmd_fail(cmd, SMTP_PARSE_UNKNOWN, vlen ? "command not recognized" : "empty command");
    /* RFC 5321 4.5.3.1.4: 512 octets with CRLF */
    if (len > SMTP_CMD_LINE_MAX - 2)
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "command line too long (512 octets at most)");
    if (memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\n', len))
        return cmd_fail(cmd, SMTP_PARSE_SYNTAX, "NUL, CR or LF inside the command line");
    char *arg = line + vlen;
    arg += strspn(arg, " ");
    char *end = line + len;
    while (end > arg && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    cmd->arg = arg;
    return cmd_dispatch(cmd, arg);
}
