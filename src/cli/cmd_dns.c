/*
 * cmd_dns - `pochta dns NAME [TYPE] [--server ADDR:PORT] [--timeout MS]`:
 * ask the DNS through the same resolver the daemon uses and print what it
 * saw, to check a setup or a test zone by hand.
 *
 * Output: a status line "NAME TYPE STATUS ttl=N [canon=NAME]", then one
 * line per record: "MX 10 mx.example.test ttl=300", "A 127.0.0.1 ttl=300",
 * "TXT \"v=spf1 -all\" ttl=300" (non-printable bytes as \DDD). The root name
 * (a null MX target) prints as ".". A NAME that is an IP address with no
 * TYPE (or PTR) is turned into its reverse name.
 *
 * The server is --server, else dns_server from -c CONF, else resolv.conf.
 * Exit: 0 when an answer was printed (ok, nodata, nxdomain), 1 on tempfail
 * or permfail, 2 on usage or configuration errors.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNS_USAGE "dns NAME [TYPE] [--server ADDR:PORT] [--timeout MS]"

typedef struct dns_args {
    const char *name;
    const char *type;
    const char *server;
    unsigned timeout_ms;
} dns_args;

/* dns_parse_args - options anywhere after the command word; CLI_OK or CLI_USAGE */
static int dns_parse_args(int argc, char **argv, dns_args *a)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            a->server = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            unsigned long ms = strtoul(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || ms == 0 || ms > 600000)
                return CLI_USAGE;
            a->timeout_ms = (unsigned)ms;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return CLI_USAGE;
        } else if (!a->name) {
            a->name = argv[i];
        } else if (!a->type) {
            a->type = argv[i];
        } else {
            return CLI_USAGE;
        }
    }
    return a->name ? CLI_OK : CLI_USAGE;
}

/* dns_print_text - TXT data quoted, with quotes, backslashes and non-printables as \DDD */
static void dns_print_text(const char *p, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\' || !isprint(c))
            printf("\\%03u", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* dns_print - the status line and the records */
static void dns_print(const dns_answer *a)
{
    const char *tname = dns_type_name(a->type);
    printf("%s %s %s ttl=%u", a->name, tname ? tname : "?", dns_status_name(a->status), a->ttl);
    if (a->canon)
        printf(" canon=%s", a->canon);
    putchar('\n');
    for (size_t i = 0; i < a->count; i++) {
        const dns_rr *rr = &a->rr[i];
        const char *rname = dns_type_name(rr->type);
        if (rname)
            printf("%s ", rname);
        else
            printf("TYPE%u ", rr->type);
        if (rr->type == DNS_T_MX)
            printf("%u ", rr->pref);
        if (rr->type == DNS_T_TXT || rr->type == DNS_T_SPF || !rname)
            dns_print_text(rr->text, rr->len);
        else
            fputs(rr->len ? rr->text : ".", stdout);
        printf(" ttl=%u\n", rr->ttl);
    }
}

/* dns_server_from_config - dns_server of -c CONF (caller frees), NULL for resolv.conf; CLI_OK or an exit code */
static int dns_server_from_config(const char *conf_path, char **server)
{
    *server = NULL;
    if (!conf_path)
        return CLI_OK;
    pochta_config cfg;
    int rc = cli_config_load(conf_path, &cfg);
    if (rc != CLI_OK)
        return rc;
    if (cfg.dns_server)
        *server = xstrdup(cfg.dns_server);
    config_free(&cfg);
    return CLI_OK;
}

/* cli_dns - the `pochta dns` command */
int cli_dns(int argc, char **argv, const char *conf_path)
{
    dns_args a;
    if (dns_parse_args(argc, argv, &a) != CLI_OK)
        return cli_usage_err(DNS_USAGE);
    log_init("pochta", 0, LOG_LEVEL_WARN);  /* the printed answer says it all; keep stderr for problems */
    uint16_t type = DNS_T_A;
    char rev[128];
    const char *name = a.name;
    if (a.type && !(type = dns_type_parse(a.type))) {
        cli_err("unknown record type '%s'", a.type);
        return CLI_USAGE;
    }
    if ((!a.type || type == DNS_T_PTR) && dns_reverse_name(a.name, rev, sizeof rev) == 0) {
        name = rev;
        type = DNS_T_PTR;
    }
    char *conf_server = NULL;
    if (!a.server) {
        int rc = dns_server_from_config(conf_path, &conf_server);
        if (rc != CLI_OK)
            return rc;
    }
    int status = CLI_USAGE;
    char err[256];
    struct event_base *base = event_base_new();
    dns_resolver *r = base ? dns_unbound_new(base, a.server ? a.server : conf_server, err, sizeof err) : NULL;
    if (!r) {
        cli_err("%s", base ? err : "cannot create the event loop");
        goto done;
    }
    dns_unbound_set_timeout(r, a.timeout_ms);
    dns_answer *ans = NULL;
    dns_status st = dns_lookup_sync(base, r, name, type, &ans);
    if (ans)
        dns_print(ans);
    dns_answer_free(ans);
    status = st == DNS_TEMPFAIL || st == DNS_PERMFAIL ? CLI_FAIL : CLI_OK;
done:
    dns_resolver_free(r);
    if (base)
        event_base_free(base);
    free(conf_server);
    return status;
}
