/*
 * cmd_doctor - `pochta doctor`: check a domain's mail setup the way
 * receivers will, or one message the way their filters will, and print
 * what to fix (src/doctor, docs/doctor.md).
 *
 *   pochta [-c CONF] doctor DOMAIN [--ip ADDR] [--helo NAME] [--selector S]...
 *          [--dkim-key FILE] [--dnsbl LIST] [--uribl LIST] [--no-smtp]
 *          [--smtp-port N] [--connect ADDR:PORT] [--ca-file PEM] [--relay-to ADDR]
 *          [--server ADDR:PORT] [--timeout MS] [--json]
 *   pochta [-c CONF] doctor --message FILE [--server ADDR:PORT] [--json]
 *
 * With -c the HELO name is the configured hostname, the IP the address of
 * smtp_listen (when it is a specific, non-loopback one), the DNS server
 * dns_server, the blocklists doctor_dnsbl / doctor_uribl, and (without
 * --selector) the selectors and key files the server signs the domain's
 * mail with (dkim_key_dir, see dkim_out.h); when no MX
 * host has an address, the SMTP checks probe our own smtp_listen;
 * options win over the file. --smtp-port and --connect are for testing and
 * non-standard setups (probe a listener that is not on port 25 of the MX).
 * Output: the readable report (colour on a terminal unless NO_COLOR is set)
 * or --json. Exit 0 when nothing failed, 1 when a check failed or the run
 * could not start, 2 on usage errors.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "deliver/dkim_out.h"
#include "doctor/doctor.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOCTOR_USAGE                                                                                         \
    "doctor DOMAIN [--ip ADDR] [--helo NAME] [--selector S]... [--dkim-key FILE] [--dnsbl LIST] "           \
    "[--uribl LIST] [--no-smtp] [--smtp-port N] [--connect ADDR:PORT] [--ca-file PEM] [--relay-to ADDR] "    \
    "[--server ADDR:PORT] [--timeout MS] [--json] | doctor --message FILE [--server ADDR:PORT] [--json]"

typedef struct doctor_args {
    doctor_opts o;
    const char *message, *server;
    int json;
} doctor_args;

/* doctor_num - a decimal option value within [1, max]; 0 when bad */
static unsigned long doctor_num(const char *s, unsigned long max)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10);
    return (*s && !*end && n >= 1 && n <= max) ? n : 0;
}

/* doctor_opt_value - options that take a value; 1 when argv[i] was one (i advanced), 0 when not, -1 bad */
static int doctor_opt_value(doctor_args *a, const char *o, const char *v)
{
    doctor_opts *d = &a->o;
    const char **str = strcmp(o, "--ip") == 0          ? &d->ip
                       : strcmp(o, "--helo") == 0      ? &d->helo
                       : strcmp(o, "--dkim-key") == 0  ? &d->dkim_key
                       : strcmp(o, "--dnsbl") == 0     ? &d->dnsbl
                       : strcmp(o, "--uribl") == 0     ? &d->uribl
                       : strcmp(o, "--connect") == 0   ? &d->connect
                       : strcmp(o, "--ca-file") == 0   ? &d->ca_file
                       : strcmp(o, "--relay-to") == 0  ? &d->relay_to
                       : strcmp(o, "--message") == 0   ? &a->message
                       : strcmp(o, "--server") == 0 || strcmp(o, "--dns") == 0 ? &a->server
                                                                               : NULL;
    if (str) {
        *str = v;
        return 1;
    }
    if (strcmp(o, "--selector") == 0) {
        if (d->nselectors == DOCTOR_MAX_SELECTORS)
            return -1;
        d->selectors[d->nselectors++] = v;
        return 1;
    }
    if (strcmp(o, "--smtp-port") == 0)
        return (d->smtp_port = (unsigned)doctor_num(v, 65535)) ? 1 : -1;
    if (strcmp(o, "--timeout") == 0)
        return (d->timeout_ms = (unsigned)doctor_num(v, 600000)) ? 1 : -1;
    return 0;
}

/* doctor_parse_args - CLI_OK or CLI_USAGE */
static int doctor_parse_args(int argc, char **argv, doctor_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int rc = i + 1 < argc ? doctor_opt_value(a, o, argv[i + 1]) : 0;
        if (rc < 0)
            return CLI_USAGE;
        if (rc == 1) {
            i++;
        } else if (strcmp(o, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(o, "--no-smtp") == 0) {
            a->o.no_smtp = 1;
        } else if (o[0] == '-' || a->o.domain) {
            return CLI_USAGE;
        } else {
            a->o.domain = o;
        }
    }
    return (!a->message == !a->o.domain) ? CLI_USAGE : CLI_OK;
}

/* doctor_domain_norm - DOMAIN lower-cased without a trailing dot into out; -1 when it cannot be a domain name */
static int doctor_domain_norm(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    if (n && in[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || n >= outlen || in[0] == '.' || in[n - 1] == '-')
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.') ||
            (ch == '.' && in[i + 1] == '.'))
            return -1;
        out[i] = ch;
    }
    out[n] = '\0';
    return 0;
}

/* doctor_listen_ip - the address part of smtp_listen when it names one host (else NULL); caller frees */
static char *doctor_listen_ip(const char *listen)
{
    if (!listen)
        return NULL;
    const char *colon = strrchr(listen, ':');
    char *ip = xasprintf("%.*s", (int)(colon ? colon - listen : 0), listen);
    if (ip[0] == '[') {
        memmove(ip, ip + 1, strlen(ip));
        ip[strcspn(ip, "]")] = '\0';
    }
    if (!ip[0] || strcmp(ip, "*") == 0 || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0) {
        free(ip);
        return NULL;
    }
    return ip;
}

/* doctor_read_file - the whole message file into out; CLI_OK or CLI_FAIL after a message */
static int doctor_read_file(const char *path, buf *out)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp) {
        cli_err("%s: cannot open", path);
        return CLI_FAIL;
    }
    char chunk[65536];
    size_t n;
    int rc = CLI_OK;
    while (rc == CLI_OK && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (buf_append(out, chunk, n) != BUF_OK)
            rc = CLI_FAIL;
    if (ferror(fp))
        rc = CLI_FAIL;
    if (fp != stdin)
        fclose(fp);
    if (rc != CLI_OK)
        cli_err("%s: read failed or bigger than %u bytes", path, DOCTOR_MAX_MESSAGE);
    return rc;
}

/* doctor_run - resolver, the run, the output; the exit status */
static int doctor_run(doctor_args *a, const char *dns_server)
{
    char err[256];
    struct event_base *base = event_base_new();
    dns_resolver *r = base ? dns_unbound_new(base, dns_server, err, sizeof err) : NULL;
    if (!r) {
        cli_err("%s", base ? err : "cannot create the event loop");
        if (base)
            event_base_free(base);
        return CLI_FAIL;
    }
    dns_unbound_set_timeout(r, a->o.timeout_ms ? a->o.timeout_ms : DNS_DEFAULT_TIMEOUT_MS);
    doctor_report rep;
    int rc = CLI_OK;
    if (a->message) {
        buf msg;
        buf_init(&msg, DOCTOR_MAX_MESSAGE);
        rc = doctor_read_file(a->message, &msg);
        if (rc == CLI_OK)
            doctor_run_message(base, r, a->message, msg.data ? msg.data : "", msg.len, &rep);
        buf_free(&msg);
    } else {
        doctor_run_domain(base, r, &a->o, &rep);
    }
    if (rc == CLI_OK) {
        if (a->json)
            doctor_print_json(&rep, stdout);
        else
            doctor_print_human(&rep, stdout, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
        rc = doctor_failed(&rep) ? CLI_FAIL : CLI_OK;
        doctor_report_free(&rep);
    }
    dns_resolver_free(r);
    event_base_free(base);
    return rc;
}

/* doctor_own_keys - the selectors and first private key the server signs domain's mail with */
static void doctor_own_keys(const pochta_config *cfg, doctor_opts *o, dkim_out_keyfile *keys)
{
    size_t n = dkim_out_find(cfg, o->domain, keys, DOCTOR_MAX_SELECTORS);
    for (size_t i = 0; i < n; i++)
        o->selectors[o->nselectors++] = keys[i].selector;
    if (n && !o->dkim_key)
        o->dkim_key = keys[0].path;
}

/* cli_doctor - the `pochta doctor` command */
int cli_doctor(int argc, char **argv, const char *conf_path)
{
    doctor_args a;
    if (doctor_parse_args(argc, argv, &a) != CLI_OK)
        return cli_usage_err(DOCTOR_USAGE);
    char domain[256];
    if (a.o.domain) {
        if (doctor_domain_norm(a.o.domain, domain, sizeof domain) < 0) {
            cli_err("'%s' is not a domain name (internationalised names: give the xn-- form)", a.o.domain);
            return CLI_USAGE;
        }
        a.o.domain = domain;
    }
    unsigned char bin[16];
    if (a.o.ip && inet_pton(AF_INET, a.o.ip, bin) != 1 && inet_pton(AF_INET6, a.o.ip, bin) != 1) {
        cli_err("--ip %s is not an IPv4 or IPv6 address", a.o.ip);
        return CLI_USAGE;
    }
    log_init("pochta", 0, LOG_LEVEL_ERROR); /* the report says it all */
    pochta_config cfg;
    int have_cfg = 0;
    char *listen_ip = NULL;
    dkim_out_keyfile keys[DOCTOR_MAX_SELECTORS];
    if (conf_path) {
        int rc = cli_config_load(conf_path, &cfg);
        if (rc != CLI_OK)
            return rc;
        have_cfg = 1;
        if (!a.o.helo)
            a.o.helo = cfg.hostname;
        if (cfg.smtp_listen && cfg.smtp_listen[0] != '*' && strncmp(cfg.smtp_listen, "0.0.0.0:", 8) != 0 &&
            strncmp(cfg.smtp_listen, "[::]:", 5) != 0)
            a.o.own_listener = cfg.smtp_listen;
        if (!a.o.dnsbl)
            a.o.dnsbl = cfg.doctor_dnsbl ? cfg.doctor_dnsbl : "none";
        if (!a.o.uribl)
            a.o.uribl = cfg.doctor_uribl ? cfg.doctor_uribl : "none";
        if (!a.o.ip && (listen_ip = doctor_listen_ip(cfg.smtp_listen)) && strncmp(listen_ip, "127.", 4) != 0)
            a.o.ip = listen_ip;
        if (a.o.domain && a.o.nselectors == 0)
            doctor_own_keys(&cfg, &a.o, keys);
    }
    int rc = doctor_run(&a, a.server ? a.server : have_cfg ? cfg.dns_server : NULL);
    free(listen_ip);
    if (have_cfg)
        config_free(&cfg);
    return rc;
}
