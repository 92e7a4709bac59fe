/*
 * dkim_testlib - helpers for the DKIM/DMARC unit tests: read shared test
 * data (POCHTA_SHARED, default /work/shared), convert LF to CRLF, load
 * chasquid-style fake DNS files into a dns_static resolver.
 * Header-only (static functions) because each test is its own executable.
 */
#ifndef POCHTA_TESTS_DKIM_TESTLIB_H
#define POCHTA_TESTS_DKIM_TESTLIB_H

#include "auth/dkim.h"
#include "dns/dns.h"
#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tl_shared_path - POCHTA_SHARED/rel into out */
static inline const char *tl_shared_path(const char *rel, char *out, size_t outlen)
{
    const char *root = getenv("POCHTA_SHARED");
    snprintf(out, outlen, "%s/%s", root && *root ? root : "/work/shared", rel);
    return out;
}

/* tl_read - whole file into b (initialised here, caller frees); 0 or -1 */
static inline int tl_read(const char *path, buf *b)
{
    buf_init(b, 64u << 20);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_append(b, chunk, n);
    fclose(fp);
    return 0;
}

/* tl_read_shared_crlf - shared file with LF converted to CRLF (b initialised here) */
static inline int tl_read_shared_crlf(const char *rel, buf *b)
{
    char path[1024];
    buf raw;
    buf_init(b, 64u << 20);
    if (tl_read(tl_shared_path(rel, path, sizeof path), &raw) < 0) {
        buf_free(&raw);
        return -1;
    }
    dkim_crlf(raw.data ? raw.data : "", raw.len, b);
    buf_free(&raw);
    return 0;
}

/* tl_trim - strip spaces and tabs at both ends in place */
static inline char *tl_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/*
 * tl_load_chasquid_dns - blocks "name: value" with "\\\n" continuations,
 * blank-line separated; TEMPERROR -> timeout, PERMERROR/NOTFOUND -> no
 * record (our static resolver cannot play a permanent failure, and both
 * give permerror). Returns the number of records or -1.
 */
static inline int tl_load_chasquid_dns(dns_resolver *r, const char *rel)
{
    char path[1024];
    buf raw;
    if (tl_read(tl_shared_path(rel, path, sizeof path), &raw) < 0) {
        buf_free(&raw);
        return -1;
    }
    buf j;
    buf_init(&j, 1u << 20);
    for (size_t i = 0; i < raw.len; i++) {
        if (raw.data[i] == '\\' && i + 1 < raw.len && raw.data[i + 1] == '\n') {
            i++;
            continue;
        }
        buf_append_char(&j, raw.data[i]);
    }
    int count = 0;
    char *line = j.data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *name = tl_trim(line), *val = tl_trim(colon + 1);
            if (strcmp(val, "TEMPERROR") == 0) {
                dns_static_timeout(r, name);
            } else if (strcmp(val, "PERMERROR") != 0 && strcmp(val, "NOTFOUND") != 0) {
                dns_static_add(r, name, DNS_T_TXT, 0, val, strlen(val));
                count++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    buf_free(&j);
    buf_free(&raw);
    return count;
}

#endif
