/*
 * cli_fmt - formatting helpers of the queue and trace commands (API in
 * cli_fmt.h). cli_kv reads back what lib/log's log_quote() wrote:
 * "..." with \" \\ and \xNN escapes, or a bare word up to a space.
 */
#include "cli/cli_fmt.h"
#include "lib/hex.h"

#include <stdio.h>
#include <string.h>

/* cli_fmt_duration - the two largest units of a duration */
char *cli_fmt_duration(long long secs, char *out, size_t outlen)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(out, outlen, "%llds", secs);
    else if (secs < 3600)
        snprintf(out, outlen, "%lldm%02llds", secs / 60, secs % 60);
    else if (secs < 86400)
        snprintf(out, outlen, "%lldh%02lldm", secs / 3600, secs % 3600 / 60);
    else
        snprintf(out, outlen, "%lldd%02lldh", secs / 86400, secs % 86400 / 3600);
    return out;
}

/* cli_fmt_time - local wall-clock time */
char *cli_fmt_time(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0 && outlen)
        out[0] = '\0';
    return out;
}

/* cli_fmt_size - bytes in the largest fitting unit */
char *cli_fmt_size(size_t bytes, char *out, size_t outlen)
{
    if (bytes < 1024)
        snprintf(out, outlen, "%zu B", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(out, outlen, "%.1f KB", (double)bytes / 1024);
    else
        snprintf(out, outlen, "%.1f MB", (double)bytes / (1024 * 1024));
    return out;
}

/* cli_kv_quoted - unescape a quoted value starting after its opening quote */
static void cli_kv_quoted(const char *p, char *out, size_t outlen)
{
    size_t o = 0;
    while (*p && *p != '"' && o + 1 < outlen) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
            out[o++] = p[1];
            p += 2;
        } else if (*p == '\\' && p[1] == 'x' && hex_digit(p[2]) >= 0 && hex_digit(p[3]) >= 0) {
            char c = (char)(hex_digit(p[2]) * 16 + hex_digit(p[3]));
            out[o++] = c == '\r' || c == '\n' ? ' ' : c;
            p += 4;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* cli_kv_bare - a bare value: up to a space, or an <address> up to "> " or the end */
static void cli_kv_bare(const char *p, char *out, size_t outlen)
{
    size_t n = 0;
    if (*p == '<') {
        const char *e = p + 1;
        while (*e && !(e[0] == '>' && (e[1] == ' ' || e[1] == '\0')))
            e++;
        n = (size_t)(e - p) + (*e ? 1 : 0);
    } else {
        while (p[n] && p[n] != ' ')
            n++;
    }
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* cli_kv - find " key=" (or key= at the start) outside quoted values and read its value */
int cli_kv(const char *line, const char *key, char *out, size_t outlen)
{
    size_t k = strlen(key);
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    const char *p = line;
    while (*p) {
        if (*p == '"') { /* skip a quoted value whole: a key inside it is text, not a key */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
            continue;
        }
        if ((p == line || p[-1] == ' ') && strncmp(p, key, k) == 0 && p[k] == '=') {
            p += k + 1;
            if (*p == '"')
                cli_kv_quoted(p + 1, out, outlen);
            else
                cli_kv_bare(p, out, outlen);
            return 1;
        }
        p++;
    }
    return 0;
}
