/*
 * config - parse and check pochta.conf (API in config.h).
 *
 * One table (config_keys, shared with config_print.c through
 * config_internal.h) names every key, its type, its default and the field
 * it fills; the parser, the printer and the default-file writer all walk
 * that table, so a new key is one line here plus the struct field.
 *
 * Limits: a line may hold CONFIG_MAX_LINE bytes; a key may appear once.
 * Errors are "FILE:LINE: problem"; cross-field errors (certificate without
 * key, missing state_dir) name the line of the key concerned.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Long enough for any path we accept; longer lines are surely a mistake. */
#define CONFIG_MAX_LINE 4096

#define F(field) offsetof(pochta_config, field)

/* hostname stays first: config_print.c checks init options with config_keys[0]. */
const config_key config_keys[] = {
    {"hostname", CK_STR, F(hostname), NULL, 0, 0, "our name in banners, HELO and Received: (required)"},
    {"state_dir", CK_PATH, F(state_dir), NULL, 0, 0, "queue/, mail/ and pochta.db live here (default: the config file's directory)"},
    {"smtp_listen", CK_LISTEN, F(smtp_listen), "0.0.0.0:25", 0, 0, "ADDR:PORT of the port-25 service, or off"},
    {"submission_listen", CK_LISTEN, F(submission_listen), NULL, 0, 0, "ADDR:PORT of STARTTLS submission, or off"},
    {"submissions_listen", CK_LISTEN, F(submissions_listen), NULL, 0, 0, "ADDR:PORT of implicit-TLS submission, or off"},
    {"pop3_listen", CK_LISTEN, F(pop3_listen), NULL, 0, 0, "ADDR:PORT of POP3, or off"},
    {"dns_server", CK_LISTEN, F(dns_server), NULL, 0, 0, "ADDR:PORT of a recursive resolver, or system (resolv.conf)"},
    {"tls_cert", CK_PATH, F(tls_cert), NULL, 0, 0, "PEM certificate chain; unset = no STARTTLS"},
    {"tls_key", CK_PATH, F(tls_key), NULL, 0, 0, "PEM private key of tls_cert"},
    {"max_message_size", CK_SIZE, F(max_message_size), "10M", 1024, SIZE_MAX, "largest message accepted (k/M/G)"},
    {"max_recipients", CK_UINT, F(max_recipients), "100", 1, 100000, "recipients per transaction"},
    {"max_errors", CK_UINT, F(max_errors), "10", 1, 1000, "client errors before 421 and close"},
    {"idle_timeout", CK_DURATION, F(idle_timeout), "300", 1, 86400, "how long a client may stay silent (s/m/h/d)"},
    {"data_timeout", CK_DURATION, F(data_timeout), "600", 1, 86400, "longest pause inside DATA (s/m/h/d)"},
    {"max_connections", CK_UINT, F(max_connections), "1000", 1, 1000000, "simultaneous connections, whole server"},
    {"max_conn_per_ip", CK_UINT, F(max_conn_per_ip), "20", 1, 1000000, "simultaneous connections from one IP"},
    {"greet_pause_ms", CK_UINT, F(greet_pause_ms), "0", 0, 60000, "early-talker window before the banner, ms (0 = off)"},
    {"queue_workers", CK_UINT, F(queue_workers), "4", 1, 256, "fsync and delivery worker threads"},
    {"retry_min", CK_DURATION, F(retry_min), "300", 1, 30 * 86400, "first retry after a temporary failure (s/m/h/d)"},
    {"retry_max", CK_DURATION, F(retry_max), "4h", 1, 30 * 86400, "cap of the growing retry interval (s/m/h/d)"},
    {"queue_lifetime", CK_DURATION, F(queue_lifetime), "5d", 60, 60 * 86400, "give up and bounce after (s/m/h/d)"},
    {"log", CK_LOG, F(log_syslog), "stderr", 0, 0, "stderr or syslog"},
    {"log_level", CK_LOGLEVEL, F(log_level), "info", 0, 0, "debug, info, warn or error"},
};
const size_t config_nkeys = sizeof config_keys / sizeof config_keys[0];

/* config_errf - format "FILE:LINE: problem" (line 0: "FILE: problem") into err */
static int config_errf(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int config_errf(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    else
        snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

/* config_parse_scaled - decimal with an optional one-letter unit; mult[i] pairs with units[i] */
static int config_parse_scaled(const char *v, const char *units, const unsigned long long *mult,
                               unsigned long long *out)
{
    if (*v < '0' || *v > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno == ERANGE)
        return -1;
    unsigned long long m = 1;
    if (*end) {
        const char *u = end[1] == '\0' ? strchr(units, *end) : NULL;
        if (!u || !*end)
            return -1;
        m = mult[u - units];
    }
    if (n > ULLONG_MAX / m)
        return -1;
    *out = n * m;
    return 0;
}

/* config_check_listen - accept "A.B.C.D:PORT", "[V6]:PORT" and "*:PORT" */
int config_check_listen(const char *v)
{
    const char *colon;
    char host[64];
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':' || (size_t)(close - v - 1) >= sizeof host)
            return -1;
        memcpy(host, v + 1, (size_t)(close - v - 1));
        host[close - v - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -1;
        colon = close + 1;
    } else {
        colon = strchr(v, ':');
        if (!colon || strchr(colon + 1, ':') || (size_t)(colon - v) >= sizeof host)
            return -1;
        memcpy(host, v, (size_t)(colon - v));
        host[colon - v] = '\0';
        struct in_addr a4;
        if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, &a4) != 1)
            return -1;
    }
    const char *p = colon + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 5)
        return -1;
    char *end;
    long port = strtol(p, &end, 10);
    return (*end || port < 1 || port > 65535) ? -1 : 0;
}

/* config_abspath - value made absolute against base dir (caller frees) */
static char *config_abspath(const char *base, const char *v)
{
    return v[0] == '/' ? xstrdup(v) : xasprintf("%s/%s", base, v);
}

/* config_is_unset - values that mean "this optional setting is off" */
static int config_is_unset(const char *v)
{
    return !*v || strcmp(v, "off") == 0 || strcmp(v, "none") == 0 || strcmp(v, "system") == 0;
}

static const char config_size_units[] = "kKMG";
static const unsigned long long config_size_mult[] = {1024ULL, 1024ULL, 1024ULL * 1024, 1024ULL * 1024 * 1024};
static const char config_dur_units[] = "smhd";
static const unsigned long long config_dur_mult[] = {1, 60, 3600, 86400};

/* config_set - store value v of key k into cfg; NULL or a problem text */
const char *config_set(pochta_config *cfg, const config_key *k, const char *v, const char *base)
{
    char *field = (char *)cfg + k->offset;
    unsigned long long n;
    switch (k->type) {
    case CK_STR:
        if (!*v)
            return "empty value";
        if (strlen(v) > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(v))
            return "bad host name";
        *(char **)field = xstrdup(v);
        return NULL;
    case CK_PATH:
        if (config_is_unset(v))
            return NULL;
        *(char **)field = config_abspath(base, v);
        return NULL;
    case CK_LISTEN:
        if (config_is_unset(v))
            return NULL;
        if (config_check_listen(v) < 0)
            return "bad address: want ADDR:PORT, [IPV6]:PORT or *:PORT";
        *(char **)field = xstrdup(v);
        return NULL;
    case CK_SIZE:
        if (config_parse_scaled(v, config_size_units, config_size_mult, &n) < 0)
            return "bad size: want a number with optional k, M or G";
        if (n < k->min || n > k->max)
            return "size out of range";
        *(size_t *)field = (size_t)n;
        return NULL;
    case CK_UINT:
    case CK_DURATION:
        if (k->type == CK_UINT ? config_parse_scaled(v, "", NULL, &n) < 0
                               : config_parse_scaled(v, config_dur_units, config_dur_mult, &n) < 0)
            return k->type == CK_UINT ? "bad number" : "bad duration: want a number with optional s, m, h or d";
        if (n < k->min || n > k->max)
            return "value out of range";
        *(unsigned *)field = (unsigned)n;
        return NULL;
    case CK_LOG:
        if (strcmp(v, "stderr") != 0 && strcmp(v, "syslog") != 0)
            return "bad value: want stderr or syslog";
        *(int *)field = strcmp(v, "syslog") == 0;
        return NULL;
    case CK_LOGLEVEL:
        for (int i = 0; i < 4; i++)
            if (strcmp(v, config_level_names[i]) == 0) {
                *(int *)field = i;
                return NULL;
            }
        return "bad value: want debug, info, warn or error";
    }
    return "internal: unknown key type";
}

const char *const config_level_names[4] = {"debug", "info", "warn", "error"};

/* config_find_key - table entry for name, or NULL */
static const config_key *config_find_key(const char *name)
{
    for (size_t i = 0; i < config_nkeys; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

/* config_trim - strip surrounding blanks in place; returns the new start */
static char *config_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* config_strip_comment - cut "# ..." at line start or after a blank */
static void config_strip_comment(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
}

/* config_parse_line - one line; lines[] records where each key was set */
static int config_parse_line(pochta_config *cfg, char *line, int lineno, int *lines, const char *base,
                             char *err, size_t errlen)
{
    config_strip_comment(line);
    char *s = config_trim(line);
    if (!*s)
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return config_errf(err, errlen, cfg->path, lineno, "expected 'key = value'");
    *eq = '\0';
    char *key = config_trim(s), *val = config_trim(eq + 1);
    const config_key *k = config_find_key(key);
    if (!k)
        return config_errf(err, errlen, cfg->path, lineno, "unknown key '%.64s'", key);
    size_t idx = (size_t)(k - config_keys);
    if (lines[idx])
        return config_errf(err, errlen, cfg->path, lineno, "duplicate key '%s' (first set on line %d)",
                           k->name, lines[idx]);
    lines[idx] = lineno;
    const char *problem = config_set(cfg, k, val, base);
    if (problem)
        return config_errf(err, errlen, cfg->path, lineno, "%s: %s '%.128s'", k->name, problem, val);
    return 0;
}

/* config_read - read every line of path into cfg */
static int config_read(pochta_config *cfg, int *lines, const char *base, char *err, size_t errlen)
{
    FILE *f = fopen(cfg->path, "r");
    if (!f)
        return config_errf(err, errlen, cfg->path, 0, "cannot open: %s", strerror(errno));
    char *line = xmalloc(CONFIG_MAX_LINE + 2);
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, CONFIG_MAX_LINE + 2, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n > CONFIG_MAX_LINE && line[n - 1] != '\n')
            rc = config_errf(err, errlen, cfg->path, lineno, "line longer than %d bytes", CONFIG_MAX_LINE);
        else if (n && line[n - 1] != '\n' && !feof(f)) /* fgets stopped early: a NUL inside */
            rc = config_errf(err, errlen, cfg->path, lineno, "NUL byte in line");
        else
            rc = config_parse_line(cfg, line, lineno, lines, base, err, errlen);
    }
    if (rc == 0 && ferror(f))
        rc = config_errf(err, errlen, cfg->path, 0, "read error: %s", strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* config_defaults - fill every key the file did not set */
static void config_defaults(pochta_config *cfg, const int *lines, const char *base)
{
    for (size_t i = 0; i < config_nkeys; i++)
        if (!lines[i] && config_keys[i].def)
            (void)config_set(cfg, &config_keys[i], config_keys[i].def, base);
    if (!cfg->state_dir)
        cfg->state_dir = xstrdup(base);
}

/* config_line_of - line where key name was set (0 = default) */
static int config_line_of(const int *lines, const char *name)
{
    return lines[config_find_key(name) - config_keys];
}

/* config_check - cross-field rules, after defaults are in */
static int config_check(pochta_config *cfg, const int *lines, char *err, size_t errlen)
{
    struct stat st;
    if (!cfg->hostname)
        return config_errf(err, errlen, cfg->path, 0, "missing required key 'hostname'");
    if (stat(cfg->state_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "state_dir"),
                           "state_dir '%s' is not a directory", cfg->state_dir);
    if (cfg->tls_cert && !cfg->tls_key)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "tls_cert"), "tls_cert without tls_key");
    if (cfg->tls_key && !cfg->tls_cert)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "tls_key"), "tls_key without tls_cert");
    if (cfg->tls_cert && access(cfg->tls_cert, R_OK) < 0)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "tls_cert"), "cannot read tls_cert '%s': %s",
                           cfg->tls_cert, strerror(errno));
    if (cfg->tls_key && access(cfg->tls_key, R_OK) < 0)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "tls_key"), "cannot read tls_key '%s': %s",
                           cfg->tls_key, strerror(errno));
    if (cfg->retry_min > cfg->retry_max)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "retry_min"),
                           "retry_min (%u s) is larger than retry_max (%u s)", cfg->retry_min, cfg->retry_max);
    return 0;
}

/* config_base_dir - absolute directory holding path (caller frees) */
static char *config_base_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path))) : xstrdup(".");
    char *real = realpath(dir, NULL);
    if (real) {
        free(dir);
        return real; /* from malloc: freed with free() like ours */
    }
    return dir;
}

int config_load(const char *path, pochta_config *cfg, char *err, size_t errlen)
{
    int lines[sizeof config_keys / sizeof config_keys[0]] = {0};
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    char *base = config_base_dir(path);
    int rc = config_read(cfg, lines, base, err, errlen);
    if (rc == 0) {
        config_defaults(cfg, lines, base);
        rc = config_check(cfg, lines, err, errlen);
    }
    free(base);
    if (rc < 0) {
        config_free(cfg);
        return -1;
    }
    cfg->queue_dir = xasprintf("%s/queue", cfg->state_dir);
    cfg->mail_dir = xasprintf("%s/mail", cfg->state_dir);
    cfg->db_path = xasprintf("%s/pochta.db", cfg->state_dir);
    return 0;
}

void config_free(pochta_config *cfg)
{
    char **strs[] = {&cfg->path, &cfg->hostname, &cfg->state_dir, &cfg->queue_dir, &cfg->mail_dir,
                     &cfg->db_path, &cfg->smtp_listen, &cfg->submission_listen, &cfg->submissions_listen,
                     &cfg->pop3_listen, &cfg->dns_server, &cfg->tls_cert, &cfg->tls_key};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}
