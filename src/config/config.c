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

#include "lib/cidr.h"
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
    {"pop3s_listen", CK_LISTEN, F(pop3s_listen), NULL, 0, 0, "ADDR:PORT of POP3 over implicit TLS (995-style), or off"},
    {"pop3_cleartext_login", CK_CHOICE, F(pop3_cleartext_login), "refuse", 0, 0, "POP3 USER/PASS and AUTH before STLS: refuse or allow"},
    {"pop_before_smtp", CK_DURATION, F(pop_before_smtp), "0", 0, 86400, "a POP3 login lets that IP relay this long (s/m/h/d; 0 = off)"},
    {"quota_full_reply", CK_CHOICE, F(quota_full_reply), "defer", 0, 0, "full mailbox at RCPT: defer (452 4.2.2) or reject (552 5.2.2)"},
    {"dns_server", CK_LISTEN, F(dns_server), NULL, 0, 0, "ADDR:PORT of a recursive resolver, or system (resolv.conf)"},
    {"dns_timeout_ms", CK_UINT, F(dns_timeout_ms), "5000", 100, 60000, "deadline of one DNS query in ms; a query past it is a temporary failure (4xx, never 5xx)"},
    {"tls_cert", CK_PATH, F(tls_cert), NULL, 0, 0, "PEM certificate chain; unset = no STARTTLS"},
    {"tls_key", CK_PATH, F(tls_key), NULL, 0, 0, "PEM private key of tls_cert"},
    {"trusted_networks", CK_NETS, F(trusted_networks), NULL, 0, 0, "networks that may relay without AUTH, e.g. 127.0.0.1/32, ::1 (default none)"},
    {"max_message_size", CK_SIZE, F(max_message_size), "10M", 1024, SIZE_MAX, "largest message accepted (k/M/G)"},
    {"max_recipients", CK_UINT, F(max_recipients), "100", 1, 100000, "recipients per transaction"},
    {"max_errors", CK_UINT, F(max_errors), "10", 1, 1000, "client errors before 421 and close"},
    {"idle_timeout", CK_DURATION, F(idle_timeout), "300", 1, 86400, "how long a client may stay silent (s/m/h/d)"},
    {"data_timeout", CK_DURATION, F(data_timeout), "600", 1, 86400, "longest pause inside DATA (s/m/h/d)"},
    {"max_connections", CK_UINT, F(max_connections), "1000", 1, 1000000, "simultaneous connections, whole server"},
    {"max_conn_per_ip", CK_UINT, F(max_conn_per_ip), "20", 1, 1000000, "simultaneous connections from one IP"},
    {"greet_pause_ms", CK_UINT, F(greet_pause_ms), "0", 0, 60000, "early-talker window before the banner, ms (0 = off)"},
    {"send_limit_per_day", CK_UINT, F(send_limit_per_day), "500", 0, 100000000, "messages one authenticated user may send per day (0 = no limit)"},
    {"auth_fail_max_ip", CK_UINT, F(auth_fail_max_ip), "10", 1, 1000000, "failed logins from one IP before AUTH is refused for auth_fail_window"},
    {"auth_fail_max_user", CK_UINT, F(auth_fail_max_user), "10", 1, 1000000, "failed logins for one account before its AUTH is refused for auth_fail_window"},
    {"auth_fail_window", CK_DURATION, F(auth_fail_window), "15m", 1, 86400, "how long failed logins are remembered (s/m/h/d)"},
    {"queue_workers", CK_UINT, F(queue_workers), "4", 1, 256, "fsync and delivery worker threads"},
    {"retry_min", CK_DURATION, F(retry_min), "300", 1, 30 * 86400, "first retry after a temporary failure (s/m/h/d)"},
    {"retry_max", CK_DURATION, F(retry_max), "4h", 1, 30 * 86400, "cap of the growing retry interval (s/m/h/d)"},
    {"queue_lifetime", CK_DURATION, F(queue_lifetime), "5d", 60, 60 * 86400, "give up and bounce after (s/m/h/d)"},
    {"remote_smtp_port", CK_UINT, F(remote_smtp_port), "25", 1, 65535, "TCP port of remote mail servers (25; another value only for tests and smarthost setups)"},
    {"delay_warning", CK_DURATION, F(delay_warning), "4h", 0, 30 * 86400, "send the sender one \"delayed\" notice (DSN) when a message still waits after this long (0 = never)"},
    {"dkim_key_dir", CK_PATH, F(dkim_key_dir), NULL, 0, 0, "directory of DKIM signing keys DOMAIN.SELECTOR.pem (as `pochta dkim keygen --out` writes them); default state_dir/dkim"},
    {"msglog_retention", CK_DURATION, F(msglog_retention), "30d", 0, 3650 * 86400, "keep message-log rows (pochta log/trace, refusals included) this long (s/m/h/d; 0 = forever)"},
    {"msglog_max_rows", CK_UINT, F(msglog_max_rows), "1000000", 0, 1000000000, "at most this many message-log rows; the oldest go first (0 = no cap)"},
    {"remote_destination_concurrency", CK_UINT, F(remote_destination_concurrency), "20", 1, 1000, "simultaneous outbound SMTP sessions per recipient domain; more wait up to 30 s, then are deferred (4.4.5)"},
    {"remote_connection_reuse_time", CK_DURATION, F(remote_connection_reuse_time), "5s", 0, 300, "keep an outbound SMTP connection this long after a delivery, for the next message to the same server (s/m; 0 = one connection per message)"},
    {"remote_timeout", CK_DURATION, F(remote_timeout), "5m", 1, 3600, "deadline of one connect, read or write in outbound SMTP (s/m/h)"},
    {"authserv_id", CK_STR, F(authserv_id), NULL, 0, 0, "our name in Authentication-Results (default: hostname)"},
    {"spf_fail_action", CK_CHOICE, F(spf_fail_action), "reject", 0, 0, "SPF fail at MAIL FROM or HELO: reject (550 5.7.23) or mark (header only)"},
    {"spf_temperror_action", CK_CHOICE, F(spf_temperror_action), "defer", 0, 0, "SPF DNS error at MAIL FROM: defer (451 4.4.3) or mark"},
    {"dmarc_policy", CK_CHOICE, F(dmarc_policy), "enforce", 0, 0, "enforce the sender's DMARC p=/sp= (reject, Junk) or monitor (headers and records only)"},
    {"dmarc_temperror_action", CK_CHOICE, F(dmarc_temperror_action), "defer", 0, 0, "DMARC DNS error at end of data: defer (451 4.4.3) or accept"},
    {"auth_trusted_forwarders", CK_NETS, F(auth_trusted_forwarders), NULL, 0, 0, "forwarders whose mail SPF/DMARC never refuse (results still recorded), e.g. 192.0.2.0/24"},
    {"policy_mode", CK_CHOICE, F(policy_mode), "enforce", 0, 0, "envelope policy: enforce, warn (log what would be refused, refuse nothing) or off"},
    {"policy_connect", CK_TEXT, F(policy_stage[0]), "conn_rate client_ptr client_fcrdns client_dynamic:warn dnsbl", 0, 0, "checks at connect, in order: CHECK[:reject|defer|warn] ... (see pochta.conf(5))"},
    {"policy_helo", CK_TEXT, F(policy_stage[1]), "helo_syntax helo_fqdn helo_not_self helo_resolves", 0, 0, "checks of the HELO/EHLO name, in order"},
    {"policy_mail", CK_TEXT, F(policy_stage[2]), "msg_rate sender_fqdn sender_domain own_domain_forgery", 0, 0, "checks of MAIL FROM, in order (connect and HELO refusals are given here too)"},
    {"policy_rcpt", CK_TEXT, F(policy_stage[3]), "rcpt_fqdn rcpt_rate greylist", 0, 0, "checks of each accepted local recipient, in order"},
    {"policy_data", CK_TEXT, F(policy_stage[4]), "bounce_multi_rcpt", 0, 0, "checks at DATA/BDAT, in order"},
    {"policy_whitelist", CK_TEXT, F(policy_whitelist), NULL, 0, 0, "clients (CIDR), domains (client name, HELO, sender domain; .example = subdomains) and sender addresses that skip every check"},
    {"policy_exempt", CK_TEXT, F(policy_exempt), NULL, 0, 0, "per-check whitelist: CHECK:ENTRY ..., e.g. greylist:192.0.2.0/24 helo_resolves:partner.example"},
    {"greylist_delay", CK_DURATION, F(greylist_delay), "5m", 0, 86400, "greylisting: a retry is accepted after this (s/m/h/d)"},
    {"greylist_window", CK_DURATION, F(greylist_window), "2d", 60, 30 * 86400, "greylisting: a retry must come within this after the first attempt"},
    {"greylist_expire", CK_DURATION, F(greylist_expire), "35d", 60, 365 * 86400, "greylisting: passed senders and known clients are remembered this long since last seen"},
    {"greylist_auto_whitelist", CK_UINT, F(greylist_auto_whitelist), "5", 0, 1000000, "greylisting: passed triplets after which a client network is never greylisted again (0 = never)"},
    {"dnsbl_zones", CK_TEXT, F(dnsbl_zones), NULL, 0, 0, "DNS blocklists: ZONE[=CODE|LOW-HIGH...][*WEIGHT] ..., e.g. zen.spamhaus.org=127.0.0.2-127.0.0.11*2 (off when none)"},
    {"dnsbl_allowlists", CK_TEXT, F(dnsbl_allowlists), NULL, 0, 0, "DNS allowlists: ZONE[=CODES] ...; a listed client skips dnsbl and greylisting"},
    {"dnsbl_threshold", CK_UINT, F(dnsbl_threshold), "1", 1, 1000, "summed weight of the listing zones that refuses a client"},
    {"doctor_dnsbl", CK_TEXT, F(doctor_dnsbl), "zen.spamhaus.org bl.spamcop.net b.barracudacentral.org", 0, 0, "IP blocklists pochta doctor checks our server against (none = skip)"},
    {"doctor_uribl", CK_TEXT, F(doctor_uribl), "dbl.spamhaus.org multi.uribl.com multi.surbl.org", 0, 0, "domain blocklists pochta doctor checks our domain against (none = skip)"},
    {"rate_connections", CK_UINT, F(rate_connections), "60", 0, 1000000, "connections per client IP per minute, then 421 4.7.0 (0 = no limit; trusted_networks are exempt)"},
    {"rate_messages", CK_UINT, F(rate_messages), "120", 0, 1000000, "MAIL commands per client IP per minute, then 450 4.7.1 (0 = no limit)"},
    {"rate_recipients", CK_UINT, F(rate_recipients), "600", 0, 1000000, "accepted recipients per client IP per minute, then 452 4.7.1 (0 = no limit)"},
    {"bounce_suppress_after", CK_UINT, F(bounce_suppress_after), "3", 1, 1000, "hard bounces before an address is put on the suppression list (userunknown/hostunknown: at the first)"},
    {"callout_positive_ttl", CK_DURATION, F(callout_positive_ttl), "7d", 60, 365 * 86400, "sender_verify (a policy_mail check, off unless listed): how long an address the sender's MX accepted is remembered"},
    {"callout_negative_ttl", CK_DURATION, F(callout_negative_ttl), "3h", 60, 30 * 86400, "sender_verify: how long an address the sender's MX refused is remembered"},
    {"callout_rate", CK_UINT, F(callout_rate), "10", 1, 10000, "sender_verify: probes per sender domain per minute (more are deferred)"},
    {"callout_timeout", CK_DURATION, F(callout_timeout), "30", 1, 600, "sender_verify: longest probe dialogue (s/m)"},
    {"callout_port", CK_UINT, F(callout_port), "25", 1, 65535, "sender_verify: TCP port of the sender's MX"},
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

/* Words a CK_CHOICE key accepts, "|"-separated; the first is not special (the row's default is). */
static const struct {
    const char *key, *words;
} config_choices[] = {
    {"spf_fail_action", "reject|mark"},
    {"spf_temperror_action", "defer|mark"},
    {"dmarc_policy", "enforce|monitor"},
    {"dmarc_temperror_action", "defer|accept"},
    {"policy_mode", "enforce|warn|off"},
    {"pop3_cleartext_login", "refuse|allow"},
    {"quota_full_reply", "defer|reject"},
};

/* config_choice_ok - whether v is one of the words listed for key name; *words gets the list */
static int config_choice_ok(const char *name, const char *v, const char **words)
{
    size_t n = strlen(v);
    *words = "";
    for (size_t i = 0; i < sizeof config_choices / sizeof config_choices[0]; i++) {
        if (strcmp(config_choices[i].key, name) != 0)
            continue;
        *words = config_choices[i].words;
        for (const char *w = config_choices[i].words; *w;) {
            size_t wl = strcspn(w, "|");
            if (wl == n && strncmp(w, v, n) == 0)
                return 1;
            w += wl + (w[wl] == '|');
        }
    }
    return 0;
}

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
    case CK_CHOICE: {
        static char why[160];
        const char *words;
        if (!config_choice_ok(k->name, v, &words)) {
            snprintf(why, sizeof why, "bad value: want one of %s", words);
            return why;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return NULL;
    case CK_TEXT:
        if (config_is_unset(v))
            return NULL;
        *(char **)field = xstrdup(v);
        return NULL;
    }
    case CK_NETS: {
        static char why[160];
        cidr_list probe;
        if (config_is_unset(v))
            return NULL;
        if (cidr_list_parse(v, &probe, why, sizeof why) < 0)
            return why;
        *(char **)field = xstrdup(v);
        return NULL;
    }
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

/* config_check - cross-field rules, after defaults are in (server: also the daemon's file access) */
static int config_check(pochta_config *cfg, const int *lines, int server, char *err, size_t errlen)
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
    if (server && cfg->tls_cert && access(cfg->tls_cert, R_OK) < 0)
        return config_errf(err, errlen, cfg->path, config_line_of(lines, "tls_cert"), "cannot read tls_cert '%s': %s",
                           cfg->tls_cert, strerror(errno));
    if (server && cfg->tls_key && access(cfg->tls_key, R_OK) < 0)
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

/* config_load_mode - config_load, with the server-only checks when server is set */
static int config_load_mode(const char *path, pochta_config *cfg, int server, char *err, size_t errlen)
{
    int lines[sizeof config_keys / sizeof config_keys[0]] = {0};
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    char *base = config_base_dir(path);
    int rc = config_read(cfg, lines, base, err, errlen);
    if (rc == 0) {
        config_defaults(cfg, lines, base);
        rc = config_check(cfg, lines, server, err, errlen);
    }
    free(base);
    if (rc < 0) {
        config_free(cfg);
        return -1;
    }
    cfg->queue_dir = xasprintf("%s/queue", cfg->state_dir);
    cfg->mail_dir = xasprintf("%s/mail", cfg->state_dir);
    cfg->db_path = xasprintf("%s/pochta.db", cfg->state_dir);
    if (!cfg->authserv_id)
        cfg->authserv_id = xstrdup(cfg->hostname);
    return 0;
}

int config_load(const char *path, pochta_config *cfg, char *err, size_t errlen)
{
    return config_load_mode(path, cfg, 1, err, errlen);
}

int config_load_client(const char *path, pochta_config *cfg, char *err, size_t errlen)
{
    return config_load_mode(path, cfg, 0, err, errlen);
}

void config_free(pochta_config *cfg)
{
    char **strs[] = {&cfg->path, &cfg->hostname, &cfg->state_dir, &cfg->queue_dir, &cfg->mail_dir,
                     &cfg->db_path, &cfg->smtp_listen, &cfg->submission_listen, &cfg->submissions_listen,
                     &cfg->pop3_listen, &cfg->dns_server, &cfg->tls_cert, &cfg->tls_key, &cfg->trusted_networks,
                     &cfg->authserv_id, &cfg->spf_fail_action, &cfg->spf_temperror_action, &cfg->dmarc_policy,
                     &cfg->dmarc_temperror_action, &cfg->auth_trusted_forwarders,
                     &cfg->pop3s_listen, &cfg->pop3_cleartext_login, &cfg->quota_full_reply,
                     &cfg->policy_mode, &cfg->policy_stage[0], &cfg->policy_stage[1], &cfg->policy_stage[2],
                     &cfg->policy_stage[3], &cfg->policy_stage[4], &cfg->policy_whitelist, &cfg->policy_exempt,
                     &cfg->dnsbl_zones, &cfg->dnsbl_allowlists,
                     &cfg->doctor_dnsbl, &cfg->doctor_uribl, &cfg->dkim_key_dir};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}
