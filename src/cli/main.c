/*
 * main - entry point of the `pochta` admin command: global options and
 * dispatch to the command handlers declared in cli.h.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* DEVELOPMENT ONLY: handlers still being written are weak so the command
 * links; main() reports them as unavailable. Removed before release. */
#pragma weak cli_init
#pragma weak cli_domain
#pragma weak cli_user
#pragma weak cli_alias
#pragma weak cli_log
#pragma weak cli_dns
#pragma weak cli_bounce
#pragma weak cli_explain
#pragma weak cli_spf
#pragma weak cli_dkim

typedef struct cli_command {
    const char *name;
    cli_handler run;
    const char *usage;
} cli_command;

static const cli_command cli_commands[] = {
    {"init", cli_init, "init DIR --hostname NAME --domain DOMAIN [--smtp A:P] [--submission A:P] [--submissions A:P] [--pop3 A:P] [--dns A:P]"},
    {"domain", cli_domain, "domain add|del DOMAIN | domain list"},
    {"user", cli_user, "user add|passwd ADDRESS [--password-file F] | user del ADDRESS | user list [DOMAIN]"},
    {"alias", cli_alias, "alias add ALIAS TARGET... | alias del ALIAS [TARGET...] | alias list"},
    {"log", cli_log, "log QUEUE-ID"},
    {"dns", cli_dns, "dns NAME [TYPE] [--server ADDR:PORT]"},
    {"bounce", cli_bounce, "bounce parse [--json] FILE|-"},
    {"explain", cli_explain, "explain [--lang en|ru] 'SMTP REPLY TEXT'"},
    {"spf", cli_spf, "spf check IP MAIL-FROM HELO [--server ADDR:PORT]"},
    {"dkim", cli_dkim, "dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] | dkim sign --domain D --selector S [FILE|-] | dkim verify [FILE|-]"},
};

/* cli_usage - print every command's synopsis */
static int cli_usage(FILE *out)
{
    fprintf(out, "usage: pochta [-c CONF] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        fprintf(out, "  pochta %s\n", cli_commands[i].usage);
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return cli_usage(stdout);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("pochta %s\n", POCHTA_VERSION);
            return 0;
        } else {
            fprintf(stderr, "pochta: unknown option %s\n", argv[i]);
            return cli_usage(stderr);
        }
    }
    if (i >= argc)
        return cli_usage(stderr);
    for (size_t k = 0; k < sizeof cli_commands / sizeof cli_commands[0]; k++)
        if (strcmp(argv[i], cli_commands[k].name) == 0) {
            if (!cli_commands[k].run) {
                fprintf(stderr, "pochta: command '%s' is not built yet\n", argv[i]);
                return 2;
            }
            return cli_commands[k].run(argc - i, argv + i, conf);
        }
    fprintf(stderr, "pochta: unknown command '%s'\n", argv[i]);
    return cli_usage(stderr);
}
