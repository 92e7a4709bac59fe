/*
 * cmd_bounce - `pochta bounce parse [--json] FILE|-`: parse one bounce
 * message and print every failed recipient with its reason (bounce.h);
 * `pochta bounces list|show|export|clear|collect|check`: the collector's
 * counters and suppression list in the state database (bounce_store.h).
 * Reads at most BOUNCE_MAX_INPUT bytes. Exit 0 also when the file is not a
 * bounce (no recipients), 1 when it cannot be read (or `check` finds the
 * address suppressed), 2 on usage errors.
 */
#include "bounce/bounce.h"
#include "bounce/bounce_store.h"
#include "bounce/bounce_verp.h"
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "lib/buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* bounce_read_all - read path ("-" = stdin) into b; CLI_OK or CLI_FAIL after a message */
static int bounce_read_all(const char *path, buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_err("cannot open %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    char chunk[65536];
    size_t n;
    int rc = CLI_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n) != BUF_OK) {
            cli_err("%s: larger than %u bytes, not read", path, BOUNCE_MAX_INPUT);
            rc = CLI_FAIL;
            break;
        }
    if (ferror(f)) {
        cli_err("cannot read %s: %s", path, strerror(errno));
        rc = CLI_FAIL;
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

/* bounce_print_text - the human form: one paragraph per recipient */
static void bounce_print_text(const bounce_report *r)
{
    if (r->nrcpt == 0) {
        printf("not a bounce: no failed recipients found\n");
        return;
    }
    for (size_t i = 0; i < r->nrcpt; i++) {
        const bounce_rcpt *rc = &r->rcpt[i];
        printf("%s: %s (%s) status=%s%s%s\n", rc->recipient, rc->reason, rc->hard ? "hard" : "soft",
               rc->status[0] ? rc->status : "-", rc->reply_code[0] ? " reply=" : "", rc->reply_code);
        printf("  %s\n", bounce_reason_summary(rc->reason, "en"));
        if (rc->diagnostic[0])
            printf("  said: %s\n", rc->diagnostic);
        if (rc->remote_mta[0] || rc->smtp_command[0])
            printf("  remote=%s stage=%s\n", rc->remote_mta[0] ? rc->remote_mta : "-",
                   rc->smtp_command[0] ? rc->smtp_command : "-");
    }
    if (r->original.message_id || r->original.subject)
        printf("original: message-id=%s subject=%s\n", r->original.message_id ? r->original.message_id : "-",
               r->original.subject ? r->original.subject : "-");
}

/* bounce_parse_one - parse and print one file; CLI_OK or CLI_FAIL */
static int bounce_parse_one(const char *path, int json)
{
    buf b;
    buf_init(&b, BOUNCE_MAX_INPUT);
    int rc = bounce_read_all(path, &b);
    if (rc == CLI_OK) {
        bounce_report r;
        if (bounce_parse(b.data ? b.data : "", b.len, &r) != BOUNCE_PARSE_OK) {
            cli_err("bounce rules failed to load");
            rc = CLI_FAIL;
        } else if (json) {
            bounce_report_json(stdout, &r);
        } else {
            bounce_print_text(&r);
        }
        bounce_report_free(&r);
    }
    buf_free(&b);
    return rc;
}

/* cli_bounce_parse - pochta bounce parse [--json] FILE...|-: one report (JSON: one line) per file */
static int cli_bounce_parse(int argc, char **argv)
{
    int json = 0, files = 0, rc = CLI_OK;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            continue;
        files++;
        if (bounce_parse_one(argv[i], json) != CLI_OK)
            rc = CLI_FAIL;
    }
    return files ? rc : cli_usage_err("bounce parse [--json] FILE...|-");
}

int cli_bounce(int argc, char **argv, const char *conf_path)
{
    if (argc >= 2 && strcmp(argv[1], "parse") == 0)
        return cli_bounce_parse(argc, argv);
    return cli_usage_err("bounce parse [--json] FILE...|-");
}

#define BOUNCES_USAGE "bounces list [--all] | show ADDRESS | export | clear ADDRESS|--all | collect [--rcpt VERP-ADDRESS] FILE|- | check ADDRESS"

/* bounces_status - exit code for a store result, with a message when it failed */
static int bounces_status(bstore_status s, const char *what)
{
    if (s == BSTORE_OK)
        return CLI_OK;
    cli_err("%s: %s", what, s == BSTORE_TEMPFAIL ? "database busy or disk error, try again" : "database error");
    return CLI_FAIL;
}

/* bounces_collect - pochta bounces collect [--rcpt VERP] FILE|-: record a bounce as the daemon would */
static int bounces_collect(bounce_store *bs, const pochta_config *cfg, int argc, char **argv)
{
    const char *rcpt = NULL, *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--rcpt") == 0 && i + 1 < argc)
            rcpt = argv[++i];
        else if (!path)
            path = argv[i];
        else
            return cli_usage_err(BOUNCES_USAGE);
    }
    if (!path)
        return cli_usage_err(BOUNCES_USAGE);
    char err[512];
    if (rcpt && bounce_verp_key_load(cfg->state_dir, 0, err, sizeof err) < 0)
        fprintf(stderr, "pochta: %s; only unsigned VERP addresses are read\n", err);
    buf b;
    buf_init(&b, BOUNCE_MAX_INPUT);
    int rc = bounce_read_all(path, &b);
    if (rc == CLI_OK) {
        size_t counted = 0, newly = 0;
        bstore_status s = bounce_store_collect(bs, b.data ? b.data : "", b.len, rcpt, cfg->bounce_suppress_after,
                                               &counted, &newly);
        rc = bounces_status(s, "collect");
        if (rc == CLI_OK)
            printf("recorded %zu failed recipient(s), %zu newly suppressed\n", counted, newly);
    }
    buf_free(&b);
    return rc;
}

/* bounces_check - exit 0 when ADDRESS may be mailed, 1 when suppressed (prints why) */
static int bounces_check(bounce_store *bs, const char *addr)
{
    char why[256];
    bounce_suppress_result r = bounce_store_suppressed(bs, addr, why, sizeof why);
    if (r == BOUNCE_SUPPRESS_TEMPFAIL)
        return bounces_status(BSTORE_TEMPFAIL, "check");
    if (r == BOUNCE_SUPPRESSED) {
        printf("%s is suppressed: %s\n", addr, why);
        return CLI_FAIL;
    }
    printf("%s is not suppressed\n", addr);
    return CLI_OK;
}

/* bounces_run - dispatch one subcommand on an open store */
static int bounces_run(bounce_store *bs, const pochta_config *cfg, int argc, char **argv)
{
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0)
        return bounces_status(bounce_store_list(bs, argc > 2 && strcmp(argv[2], "--all") == 0, stdout), "list");
    if (strcmp(sub, "export") == 0)
        return bounces_status(bounce_store_export(bs, stdout), "export");
    if (strcmp(sub, "collect") == 0)
        return bounces_collect(bs, cfg, argc, argv);
    if (argc != 3)
        return cli_usage_err(BOUNCES_USAGE);
    if (strcmp(sub, "check") == 0)
        return bounces_check(bs, argv[2]);
    if (strcmp(sub, "show") == 0) {
        bstore_status s = bounce_store_show(bs, argv[2], stdout);
        if (s == BSTORE_PERMFAIL) {
            cli_err("%s: no bounces recorded for this address", argv[2]);
            return CLI_FAIL;
        }
        return bounces_status(s, "show");
    }
    if (strcmp(sub, "clear") == 0) {
        int n = 0;
        const char *addr = strcmp(argv[2], "--all") == 0 ? NULL : argv[2];
        int rc = bounces_status(bounce_store_clear(bs, addr, &n), "clear");
        if (rc == CLI_OK)
            printf("cleared %d address(es)\n", n);
        return rc;
    }
    return cli_usage_err(BOUNCES_USAGE);
}

int cli_bounces(int argc, char **argv, const char *conf_path)
{
    if (argc < 2)
        return cli_usage_err(BOUNCES_USAGE);
    pochta_config cfg;
    int rc = cli_config_load(conf_path, &cfg);
    if (rc != CLI_OK)
        return rc;
    bounce_store *bs = bounce_store_open(cfg.db_path);
    if (!bs) {
        config_free(&cfg);
        return CLI_FAIL;
    }
    rc = bounces_run(bs, &cfg, argc, argv);
    bounce_store_close(bs);
    config_free(&cfg);
    return rc;
}
