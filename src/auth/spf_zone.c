/*
 * spf_zone - the test-zone file reader of spf_zone.h.
 *
 * Records go straight into a dns_static resolver. dns_static can only make
 * a whole name time out, but the RFC 7208 suite has names that answer TXT
 * and time out for the rest, so the resolver handed out is a thin wrapper:
 * a lookup of a (name, type) that should time out is passed to the static
 * resolver as a lookup of SPF_ZONE_SENTINEL, a name marked to time out;
 * everything else is passed through unchanged.
 */
#include "auth/spf_zone.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SPF_ZONE_SENTINEL - the name every partial timeout is answered from */
#define SPF_ZONE_SENTINEL "timeout.spf-zone.invalid"

typedef struct zone_partial {
    struct zone_partial *next;
    char *name;          /* lower case, no trailing dot (owned) */
    uint16_t types[16];  /* types with records: these answer; others time out */
    size_t ntypes;
} zone_partial;

typedef struct zone_res {
    dns_resolver iface;  /* first: a dns_resolver * is a zone_res * */
    dns_resolver *inner; /* the dns_static resolver (owned) */
    zone_partial *partial;
} zone_res;

/* zone_norm - lower-case copy of name without a trailing dot (caller frees) */
static char *zone_norm(const char *name)
{
    char *n = xstrdup(name);
    size_t len = strlen(n);
    if (len > 0 && n[len - 1] == '.')
        n[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        n[i] = (char)tolower((unsigned char)n[i]);
    return n;
}

/* zone_times_out - whether (name, type) is a partial timeout */
static int zone_times_out(const zone_res *z, const char *name, uint16_t type)
{
    if (!z->partial)
        return 0;
    char *n = zone_norm(name);
    int out = 0;
    for (const zone_partial *p = z->partial; p && !out; p = p->next)
        if (strcmp(p->name, n) == 0) {
            out = 1;
            for (size_t i = 0; i < p->ntypes; i++)
                if (p->types[i] == type)
                    out = 0;
        }
    free(n);
    return out;
}

/* zone_lookup - pass through, or ask the sentinel for a partial timeout */
static dns_query *zone_lookup(dns_resolver *r, const char *name, uint16_t type, dns_callback cb, void *arg)
{
    zone_res *z = (zone_res *)r;
    const char *ask = zone_times_out(z, name, type) ? SPF_ZONE_SENTINEL : name;
    return dns_lookup(z->inner, ask, type, cb, arg);
}

/* zone_cancel - queries belong to the inner resolver */
static void zone_cancel(dns_resolver *r, dns_query *q)
{
    dns_cancel(((zone_res *)r)->inner, q);
}

/* zone_free - free the inner resolver and the partial-timeout list */
static void zone_free(dns_resolver *r)
{
    zone_res *z = (zone_res *)r;
    dns_resolver_free(z->inner);
    while (z->partial) {
        zone_partial *n = z->partial->next;
        free(z->partial->name);
        free(z->partial);
        z->partial = n;
    }
    free(z);
}

/* zone_field - next field of the line at *p into out (unescaped); 1, 0 at the line's end, -1 on bad syntax */
static int zone_field(const char **p, const char *end, buf *out)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    buf_reset(out);
    if (s == end) {
        *p = s;
        return 0;
    }
    int quoted = *s == '"';
    s += quoted;
    while (s < end && (quoted ? *s != '"' : (*s != ' ' && *s != '\t'))) {
        char c = *s++;
        if (c == '\\') {
            if (s == end)
                return -1;
            if (isdigit((unsigned char)*s)) {
                if (end - s < 3 || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
                    return -1;
                int v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
                if (v > 255)
                    return -1;
                c = (char)v;
                s += 3;
            } else {
                c = *s++;
            }
        }
        if (buf_append_char(out, c) != BUF_OK)
            return -1;
    }
    if (quoted && (s == end || *s++ != '"'))
        return -1;
    *p = s;
    return 1;
}

/* zone_mark_type - note that name has a record of type (for partial timeouts) */
static void zone_mark_type(zone_partial **types, const char *name, uint16_t type)
{
    char *n = zone_norm(name);
    zone_partial *p = *types;
    while (p && strcmp(p->name, n) != 0)
        p = p->next;
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->name = n;
        p->next = *types;
        *types = p;
    } else {
        free(n);
    }
    for (size_t i = 0; i < p->ntypes; i++)
        if (p->types[i] == type)
            return;
    if (p->ntypes < sizeof p->types / sizeof p->types[0])
        p->types[p->ntypes++] = type;
}

/* zone_record - one "NAME TYPE DATA" line after NAME; 0 or -1 with err */
static int zone_record(zone_res *z, zone_partial **seen, const char *name, const char **p, const char *end,
                       buf *f, char *err, size_t errlen)
{
    if (zone_field(p, end, f) <= 0) {
        snprintf(err, errlen, "missing type");
        return -1;
    }
    if (strcasecmp(buf_cstr(f), "TIMEOUT") == 0) {
        zone_partial *t = xcalloc(1, sizeof *t); /* resolved against the records once all are read */
        t->name = zone_norm(name);
        t->next = z->partial;
        z->partial = t;
        return 0;
    }
    uint16_t type = dns_type_parse(buf_cstr(f));
    if (!type || type == DNS_T_SOA) {
        snprintf(err, errlen, "unknown type '%s'", buf_cstr(f));
        return -1;
    }
    unsigned long pref = 0;
    if (type == DNS_T_MX) {
        char *e;
        if (zone_field(p, end, f) <= 0 || (errno = 0, pref = strtoul(buf_cstr(f), &e, 10), *e) || errno ||
            pref > 65535) {
            snprintf(err, errlen, "MX needs PREF TARGET");
            return -1;
        }
    }
    buf data;
    buf_init(&data, SPF_ZONE_MAX_FIELD);
    int rc, n = 0;
    while ((rc = zone_field(p, end, f)) > 0 && buf_append(&data, f->data, f->len) == BUF_OK)
        n++;
    int text = type == DNS_T_TXT || type == DNS_T_SPF;
    if (rc < 0 || (!text && n != 1)) {
        snprintf(err, errlen, rc < 0 ? "bad quoting or escape" : "expected one value");
        buf_free(&data);
        return -1;
    }
    dns_static_add(z->inner, name, type, (uint16_t)pref, data.data ? data.data : "", data.len);
    zone_mark_type(seen, name, type);
    buf_free(&data);
    return 0;
}

/* zone_settle - turn TIMEOUT lines into whole-name or partial timeouts */
static void zone_settle(zone_res *z, zone_partial *seen)
{
    zone_partial **pp = &z->partial;
    while (*pp) {
        zone_partial *t = *pp, *s = seen;
        while (s && strcmp(s->name, t->name) != 0)
            s = s->next;
        if (!s) { /* no records at all: the static resolver times the whole name out */
            dns_static_timeout(z->inner, t->name);
            *pp = t->next;
            free(t->name);
            free(t);
            continue;
        }
        memcpy(t->types, s->types, sizeof t->types);
        t->ntypes = s->ntypes;
        pp = &t->next;
    }
}

/* spf_zone_parse - read every line of text */
dns_resolver *spf_zone_parse(struct event_base *base, const char *text, size_t len, char *err, size_t errlen)
{
    zone_res *z = xcalloc(1, sizeof *z);
    z->iface.lookup = zone_lookup;
    z->iface.cancel = zone_cancel;
    z->iface.free = zone_free;
    z->inner = dns_static_new(base);
    dns_static_timeout(z->inner, SPF_ZONE_SENTINEL);
    zone_partial *seen = NULL;
    buf name, f;
    buf_init(&name, SPF_ZONE_MAX_FIELD);
    buf_init(&f, SPF_ZONE_MAX_FIELD);
    const char *p = text, *end = text + len;
    int ok = 1;
    char why[160];
    for (unsigned line = 1; p < end && ok; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        const char *q = p;
        p = nl ? nl + 1 : end;
        int rc = zone_field(&q, eol, &name);
        if (rc == 0 || (rc > 0 && name.data[0] == '#' && q[-1] != '"'))
            continue;
        if (rc < 0 || zone_record(z, &seen, buf_cstr(&name), &q, eol, &f, why, sizeof why) < 0) {
            snprintf(err, errlen, "line %u: %s", line, rc < 0 ? "bad quoting or escape" : why);
            ok = 0;
        }
    }
    zone_settle(z, seen);
    while (seen) {
        zone_partial *n = seen->next;
        free(seen->name);
        free(seen);
        seen = n;
    }
    buf_free(&name);
    buf_free(&f);
    if (!ok) {
        zone_free(&z->iface);
        return NULL;
    }
    return &z->iface;
}

/* spf_zone_load - read the file (bounded) and parse it */
dns_resolver *spf_zone_load(struct event_base *base, const char *path, char *err, size_t errlen)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf b;
    buf_init(&b, SPF_ZONE_MAX_FILE);
    char chunk[8192];
    size_t n;
    int big = 0;
    while (!big && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        big = buf_append(&b, chunk, n) != BUF_OK;
    int bad = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    dns_resolver *r = NULL;
    if (big || bad)
        snprintf(err, errlen, "%s: %s", path, big ? "file too big" : "read error");
    else
        r = spf_zone_parse(base, b.data ? b.data : "", b.len, err, errlen);
    buf_free(&b);
    return r;
}
