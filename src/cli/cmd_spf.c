/*
 * cmd_spf - `pochta spf check`: run the daemon's SPF evaluator (RFC 7208)
 * by hand, against live DNS or a test zone file.
 *
 *   pochta spf check IP MAIL-FROM HELO [--helo-identity] [--receiver NAME]
 *                    [--server ADDR:PORT | --zone FILE] [--timeout MS]
 *   pochta spf check --batch FILE [same options]
 *
 * MAIL-FROM "" is the null sender (postmaster@HELO is checked);
 * --helo-identity checks the HELO name alone. --zone answers from a file in
 * the format of auth/spf_zone.h (try a record before publishing it);
 * otherwise --server, the dns_server of -c CONF, or resolv.conf. The
 * receiver (%{r}) is --receiver, else hostname of -c CONF, else "unknown".
 *
 * Output, one "key: value" a line:
 *   result: fail
 *   mechanism: -all                  (what matched; "default" when nothing did)
 *   explanation: TEXT                (fail only)
 *   explanation-source: exp|default  (from the domain's exp=, or ours)
 *   problem: TEXT                    (temperror/permerror)
 *   Received-SPF: ...                (RFC 7208 9.1)
 * --batch reads lines "ID<TAB>IP<TAB>MAIL-FROM<TAB>HELO" and prints
 * "test: ID", the lines above and an empty line for each, one resolver for
 * all (the conformance suite runs one process per scenario this way).
 * Exit: 0 when every check produced a result, 1 on I/O or DNS set-up
 * failure, 2 on usage errors.
 */
#include "auth/spf.h"
#include "auth/spf_zone.h"
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPF_USAGE                                                                                       \
    "spf check IP MAIL-FROM HELO | spf check --batch FILE  [--helo-identity] [--receiver NAME] "       \
    "[--server ADDR:PORT | --zone FILE] [--timeout MS]"
/* SPF_BATCH_LINE - longest batch line */
#define SPF_BATCH_LINE 4096

typedef struct spf_args {
    const char *pos[3];
    int npos;
    const char *batch, *server, *zone, *receiver;
    int helo_identity;
    unsigned timeout_ms;
} spf_args;

/* spf_parse_args - options anywhere after "check"; CLI_OK or CLI_USAGE */
static int spf_parse_args(int argc, char **argv, spf_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return CLI_USAGE;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        int more = i + 1 < argc;
        if (strcmp(o, "--batch") == 0 && more) {
            a->batch = argv[++i];
        } else if (strcmp(o, "--server") == 0 && more) {
            a->server = argv[++i];
        } else if (strcmp(o, "--zone") == 0 && more) {
            a->zone = argv[++i];
        } else if (strcmp(o, "--receiver") == 0 && more) {
            a->receiver = argv[++i];
        } else if (strcmp(o, "--helo-identity") == 0) {
            a->helo_identity = 1;
        } else if (strcmp(o, "--timeout") == 0 && more) {
            char *end;
            unsigned long ms = strtoul(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || ms == 0 || ms > 600000)
                return CLI_USAGE;
            a->timeout_ms = (unsigned)ms;
        } else if (o[0] == '-' && o[1] == '-') {
            return CLI_USAGE;
        } else if (a->npos < 3) {
            a->pos[a->npos++] = o;
        } else {
            return CLI_USAGE;
        }
    }
    if (a->server && a->zone)
        return CLI_USAGE;
    return (a->batch ? a->npos == 0 : a->npos == 3) ? CLI_OK : CLI_USAGE;
}

typedef struct spf_wait {
    int done;
    spf_result *res;
} spf_wait;

/* spf_cli_done - the check's callback: keep the result for printing */
static void spf_cli_done(void *arg, spf_result *res)
{
    spf_wait *w = arg;
    w->done = 1;
    w->res = res;
}

/* spf_print - the result lines of the output format above */
static void spf_print(const spf_result *res)
{
    printf("result: %s\n", spf_result_name(res->code));
    if (res->mechanism)
        printf("mechanism: %s\n", res->mechanism);
    if (res->code == SPF_FAIL) {
        char *def = res->explanation ? NULL : spf_default_explanation(res);
        printf("explanation: %s\n", res->explanation ? res->explanation : def);
        printf("explanation-source: %s\n", res->explanation ? "exp" : "default");
        free(def);
    }
    if (res->problem)
        printf("problem: %s\n", res->problem);
    char *hdr = spf_received_header(res);
    printf("%s\n", hdr);
    free(hdr);
}

/* spf_run_one - one check to completion on base; CLI_OK after printing */
static int spf_run_one(struct event_base *base, dns_resolver *r, const spf_args *a, const char *ip,
                       const char *from, const char *helo)
{
    spf_request req = {base, ip, from, helo, a->receiver, a->helo_identity ? SPF_ID_HELO : SPF_ID_MAILFROM,
                       a->timeout_ms};
    spf_wait w = {0, NULL};
    if (!spf_check_start(r, &req, spf_cli_done, &w))
        return CLI_FAIL;
    while (!w.done)
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            return CLI_FAIL; /* cannot happen while the check's timer is pending */
    spf_print(w.res);
    spf_result_free(w.res);
    return CLI_OK;
}

/* spf_run_batch - every "ID\tIP\tMAIL-FROM\tHELO" line of path */
static int spf_run_batch(struct event_base *base, dns_resolver *r, const spf_args *a)
{
    FILE *fp = strcmp(a->batch, "-") == 0 ? stdin : fopen(a->batch, "r");
    if (!fp) {
        cli_err("cannot open %s", a->batch);
        return CLI_FAIL;
    }
    char *line = xmalloc(SPF_BATCH_LINE);
    int rc = CLI_OK;
    while (rc == CLI_OK && fgets(line, SPF_BATCH_LINE, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *f[4] = {line, NULL, NULL, NULL};
        for (int i = 1; i < 4 && f[i - 1]; i++) {
            char *tab = strchr(f[i - 1], '\t');
            if (tab) {
                *tab = '\0';
                f[i] = tab + 1;
            }
        }
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (!f[3]) {
            cli_err("%s: want ID<TAB>IP<TAB>MAIL-FROM<TAB>HELO", a->batch);
            rc = CLI_USAGE;
            break;
        }
        printf("test: %s\n", f[0]);
        rc = spf_run_one(base, r, a, f[1], f[2], f[3]);
        printf("\n");
        fflush(stdout);
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    return rc;
}

/* spf_resolver - the zone file, or unbound with --server / dns_server of CONF / resolv.conf */
static dns_resolver *spf_resolver(struct event_base *base, const spf_args *a, const pochta_config *cfg)
{
    char err[256];
    dns_resolver *r;
    if (a->zone)
        r = spf_zone_load(base, a->zone, err, sizeof err);
    else
        r = dns_unbound_new(base, a->server ? a->server : cfg ? cfg->dns_server : NULL, err, sizeof err);
    if (!r)
        cli_err("%s", err);
    return r;
}

/* cli_spf - the `pochta spf` command */
int cli_spf(int argc, char **argv, const char *conf_path)
{
    spf_args a;
    if (spf_parse_args(argc, argv, &a) != CLI_OK)
        return cli_usage_err(SPF_USAGE);
    pochta_config cfg;
    int have_cfg = 0;
    if (conf_path) {
        int rc = cli_config_load(conf_path, &cfg);
        if (rc != CLI_OK)
            return rc;
        have_cfg = 1;
        if (!a.receiver)
            a.receiver = cfg.hostname;
    }
    int status = CLI_FAIL;
    struct event_base *base = event_base_new();
    dns_resolver *r = base ? spf_resolver(base, &a, have_cfg ? &cfg : NULL) : NULL;
    if (r)
        status = a.batch ? spf_run_batch(base, r, &a) : spf_run_one(base, r, &a, a.pos[0], a.pos[1], a.pos[2]);
    else if (!base)
        cli_err("cannot create the event loop");
    dns_resolver_free(r);
    if (base)
        event_base_free(base);
    if (have_cfg)
        config_free(&cfg);
    return status;
}
