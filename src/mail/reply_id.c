/*
 * reply_id - the remote queue ID in a 250 reply (API and the recognised
 * forms in reply_id.h). Pure function over bytes: unit-tested in
 * tests/unit/mail/test_reply_id.c and fuzzed by fuzz/fuzz_reply_id.c.
 */
#include "mail/reply_id.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* reply_id_char - 1 when c may be part of a queue ID */
static int reply_id_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '@';
}

/* reply_find - first case-insensitive occurrence of needle in [p, p+n); NULL when absent */
static const char *reply_find(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(p + i, needle, k) == 0)
            return p + i;
    return NULL;
}

/* reply_token - copy the ID token starting at p (bounded by end); 1 when it is usable */
static int reply_token(const char *p, const char *end, char *out, size_t outlen)
{
    size_t n = 0;
    while (p + n < end && reply_id_char(p[n]))
        n++;
    while (n > 0 && (p[n - 1] == '.' || p[n - 1] == '-'))
        n--; /* "queued as ABC." : the full stop ends the sentence */
    if (n == 0 || n >= outlen || n >= REPLY_ID_MAX)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* reply_after - the token after the first occurrence of key; 1 when found */
static int reply_after(const char *p, size_t n, const char *key, char *out, size_t outlen)
{
    const char *at = reply_find(p, n, key);
    if (!at)
        return 0;
    at += strlen(key);
    while (at < p + n && *at == ' ')
        at++;
    return reply_token(at, p + n, out, outlen);
}

/* reply_sendmail - "250 2.0.0 ID Message accepted": the word after the code(s) */
static int reply_sendmail(const char *p, size_t n, char *out, size_t outlen)
{
    const char *m = reply_find(p, n, " Message accepted");
    if (!m)
        return 0;
    const char *s = m;
    while (s > p && s[-1] != ' ')
        s--;
    if (s == p || !reply_token(s, m, out, outlen) || (size_t)(m - s) != strlen(out))
        return 0;
    /* the word must not be the enhanced code itself ("250 2.0.0 Message accepted") */
    return strchr(out, '.') == NULL || !isdigit((unsigned char)out[0]) || strlen(out) > 7;
}

/* reply_gsmtp - "250 2.0.0 OK  1700000000 ID - gsmtp": the word before " - gsmtp" */
static int reply_gsmtp(const char *p, size_t n, char *out, size_t outlen)
{
    const char *g = reply_find(p, n, " - gsmtp");
    if (!g)
        return 0;
    const char *s = g;
    while (s > p && s[-1] != ' ')
        s--;
    return s > p && reply_token(s, g, out, outlen) && (size_t)(g - s) == strlen(out);
}

/* reply_queue_id - try each known form, most specific first */
int reply_queue_id(const char *reply, size_t len, char *out, size_t outlen)
{
    if (!reply || outlen == 0)
        return 0;
    out[0] = '\0';
    if (len < 3 || reply[0] != '2')
        return 0; /* only a success reply names a queue ID */
    if (reply_after(reply, len, "queued as", out, outlen) || reply_after(reply, len, "InternalId=", out, outlen) ||
        reply_after(reply, len, " id=", out, outlen) || reply_gsmtp(reply, len, out, outlen) ||
        reply_sendmail(reply, len, out, outlen))
        return 1;
    out[0] = '\0';
    return 0;
}
