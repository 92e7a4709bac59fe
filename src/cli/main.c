/*
 * main - entry point of the `pochta` admin command: global options and
 * dispatch to the command handlers declared in cli.h.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    cli_handler run;
    const char *usage;
} cli_command;

static const cli_command cli_commands[] = {
    {"init", cli_init, "init DIR --hostname NAME --domain DOMAIN [--smtp A:P] [--submission A:P] [--submissions A:P] [--pop3 A:P] [--dns A:P]"},
    {"domain", cli_domain, "domain add|del DOMAIN | domain list"},
    {"user", cli_user, "user add|passwd ADDRESS [--password-file F] | user del ADDRESS | user list [DOMAIN] | user disable|enable ADDRESS | user quota ADDRESS [SIZE|none] [--messages N] | "
                       "user identity add|del USER ADDRESS|@DOMAIN | user identity list [USER] | "
                       "user sending enable|disable|show USER | user sending limit USER N|default"},
    {"alias", cli_alias, "alias add ALIAS TARGET... | alias del ALIAS [TARGET...] | alias list"},
    {"sendmail", cli_sendmail, "sendmail [-t] [-i] [-f ADDR] [-F NAME] [-C CONF] [-N DSN] [-R full|hdrs] [-V ENVID] [RCPT...] < MESSAGE  (also as a link named sendmail)"},
    {"log", cli_log, "log QUEUE-ID"},
    {"trace", cli_trace, "trace QUEUE-ID|MESSAGE-ID|ADDRESS [--limit N]"},
    {"queue", cli_queue, "queue list | queue show ID | queue flush [ID] | queue hold ID | queue release ID | queue delete ID [--wait SECONDS]"},
    {"dns", cli_dns, "dns NAME [TYPE] [--server ADDR:PORT] [--timeout MS]"},
    {"bounce", cli_bounce, "bounce parse [--json] FILE...|-"},
    {"explain", cli_explain, "explain [--lang en|ru] [--json] 'SMTP REPLY TEXT'"},
    {"bounces", cli_bounces, "bounces list [--all] | show ADDRESS | export | clear ADDRESS|--all | collect [--rcpt VERP-ADDRESS] FILE|- | check ADDRESS"},
    {"spf", cli_spf, "spf check IP MAIL-FROM HELO [--server ADDR:PORT] [--zone FILE] [--receiver NAME] [--helo-identity] [--timeout MS] | spf check --batch FILE|-"},
    {"dkim", cli_dkim, "dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--out DIR] | dkim sign --domain D --selector S --key FILE [FILE|-] | dkim verify [FILE|-] | dkim bench --key FILE ..."},
    {"doctor", cli_doctor, "doctor DOMAIN [--ip ADDR] [--helo NAME] [--selector S] [--dkim-key FILE] [--json] [--no-smtp] [--smtp-port N] [--server ADDR:PORT] ... | doctor --message FILE [--json]"},
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
    const char *self = strrchr(argv[0], '/');
    if (strcmp(self ? self + 1 : argv[0], "sendmail") == 0) /* installed as sendmail(1) */
        return cli_sendmail(argc, argv, NULL);
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
            return cli_commands[k].run(argc - i, argv + i, conf);
        }
    fprintf(stderr, "pochta: unknown command '%s'\n", argv[i]);
    return cli_usage(stderr);
}
