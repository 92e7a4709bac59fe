/*
 * spf_header - presenting an SPF result: the result names of RFC 7208 2.6,
 * the default explanation (6.2) and the Received-SPF header field (9.1).
 *
 * Received-SPF: RESULT (COMMENT) key=value; key=value...
 * Values that are not a dot-atom are written as quoted-strings; the comment
 * escapes "(", ")" and "\" as quoted-pairs (RFC 5322 3.2.2), and any byte
 * outside printable ASCII becomes "?", so a hostile HELO or sender cannot
 * break the header.
 */
#include "auth/spf.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SPF_HEADER_MAX - bytes of a Received-SPF field; inputs are bounded by SMTP line limits */
#define SPF_HEADER_MAX 4096

static const char *const spf_names[] = {
    [SPF_NONE] = "none",           [SPF_NEUTRAL] = "neutral",     [SPF_PASS] = "pass",
    [SPF_FAIL] = "fail",           [SPF_SOFTFAIL] = "softfail",   [SPF_TEMPERROR] = "temperror",
    [SPF_PERMERROR] = "permerror",
};

/* spf_result_name - the RFC 7208 name of code */
const char *spf_result_name(spf_result_code code)
{
    if ((unsigned)code < sizeof spf_names / sizeof spf_names[0])
        return spf_names[code];
    return "permerror";
}

/* spf_result_parse - code for a result name, -1 when unknown */
int spf_result_parse(const char *name)
{
    for (size_t i = 0; i < sizeof spf_names / sizeof spf_names[0]; i++)
        if (strcasecmp(name, spf_names[i]) == 0)
            return (int)i;
    return -1;
}

/* spf_result_free - free a result and its strings */
void spf_result_free(spf_result *res)
{
    if (!res)
        return;
    free(res->domain);
    free(res->sender);
    free(res->mechanism);
    free(res->explanation);
    free(res->problem);
    free(res->ip);
    free(res->helo);
    free(res->mail_from);
    free(res->receiver);
    free(res);
}

/* spf_default_explanation - 6.2: the text for a fail without a usable exp= */
char *spf_default_explanation(const spf_result *res)
{
    return xasprintf("domain of %s does not designate %s as permitted sender", res->sender ? res->sender : "",
                     res->ip ? res->ip : "");
}

/* spf_put_comment_text - s inside a comment: ( ) \ escaped, non-printables as '?' */
static void spf_put_comment_text(buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '(' || c == ')' || c == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, isprint(c) ? (char)c : '?');
    }
}

/* spf_is_dot_atom - RFC 5322 dot-atom (so the value needs no quotes) */
static int spf_is_dot_atom(const char *s)
{
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    if (!*s || *s == '.')
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' ? p[1] == '.' || p[1] == '\0' : !(isalnum(c) || strchr(atext, c)))
            return 0;
    }
    return 1;
}

/* spf_put_pair - "; key=value" (or the first pair without "; ") */
static void spf_put_pair(buf *b, int *first, const char *key, const char *value)
{
    buf_printf(b, "%s%s=", *first ? " " : "; ", key);
    *first = 0;
    if (spf_is_dot_atom(value)) {
        buf_append_str(b, value);
        return;
    }
    buf_append_char(b, '"');
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, isprint(c) ? (char)c : '?');
    }
    buf_append_char(b, '"');
}

/* spf_put_comment - the words of 9.1's comment for each result */
static void spf_put_comment(buf *b, const spf_result *res)
{
    const char *who = res->sender ? res->sender : "";
    buf_append_str(b, " (");
    spf_put_comment_text(b, res->receiver);
    buf_append_str(b, ": ");
    const char *pre = "domain of ", *mid = NULL, *post = NULL;
    switch (res->code) {
    case SPF_PASS: mid = " designates "; post = " as permitted sender"; break;
    case SPF_FAIL: mid = " does not designate "; post = " as permitted sender"; break;
    case SPF_SOFTFAIL: pre = "domain of transitioning "; mid = " does not designate "; post = " as permitted sender"; break;
    case SPF_NEUTRAL: pre = ""; break;
    case SPF_NONE: post = " does not provide an SPF record"; break;
    case SPF_TEMPERROR: pre = "temporary error checking domain of "; break;
    case SPF_PERMERROR: pre = "permanent error in SPF record of domain of "; break;
    }
    if (res->code == SPF_NEUTRAL) {
        spf_put_comment_text(b, res->ip);
        buf_append_str(b, " is neither permitted nor denied by domain of ");
        spf_put_comment_text(b, who);
    } else {
        buf_append_str(b, pre);
        spf_put_comment_text(b, who);
        if (mid) {
            buf_append_str(b, mid);
            spf_put_comment_text(b, res->ip);
        }
        if (post)
            buf_append_str(b, post);
    }
    buf_append_char(b, ')');
}

/* spf_received_header - the whole field as one line (caller frees) */
char *spf_received_header(const spf_result *res)
{
    buf b;
    int first = 1;
    buf_init(&b, SPF_HEADER_MAX);
    buf_printf(&b, "Received-SPF: %s", spf_result_name(res->code));
    spf_put_comment(&b, res);
    spf_put_pair(&b, &first, "client-ip", res->ip ? res->ip : "");
    spf_put_pair(&b, &first, "envelope-from", res->mail_from ? res->mail_from : "");
    spf_put_pair(&b, &first, "helo", res->helo ? res->helo : "");
    spf_put_pair(&b, &first, "receiver", res->receiver ? res->receiver : "unknown");
    spf_put_pair(&b, &first, "identity", res->identity == SPF_ID_HELO ? "helo" : "mailfrom");
    if (res->mechanism && strcmp(res->mechanism, "default") != 0)
        spf_put_pair(&b, &first, "mechanism", res->mechanism);
    if (res->problem)
        spf_put_pair(&b, &first, "problem", res->problem);
    if (!b.data)
        return xstrdup("Received-SPF: permerror");
    return buf_steal(&b, NULL);
}
