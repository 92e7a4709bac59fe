/*
 * cmd_log - `pochta -c CONF log QUEUE-ID`: print the story of one message,
 * one line per stored event, oldest first:
 *     2026-11-23 01:02:03 ID event key=value...
 * Exit 0 when something was printed, 1 when nothing is known about the ID
 * (or the database cannot be read), 2 on a usage or configuration error.
 */
#include "cli/cli.h"
#include "config/config.h"
#include "store/msglog.h"

#include <stdio.h>

/* cli_log - pochta log QUEUE-ID */
int cli_log(int argc, char **argv, const char *conf_path)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pochta -c CONF log QUEUE-ID\n");
        return 2;
    }
    if (!conf_path) {
        fprintf(stderr, "pochta: log needs the configuration: pochta -c CONF log %s\n", argv[1]);
        return 2;
    }
    pochta_config cfg;
    char err[512];
    if (config_load(conf_path, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pochta: %s\n", err);
        return 2;
    }
    long n = msglog_print(cfg.db_path, argv[1], stdout);
    config_free(&cfg);
    if (n < 0) {
        fprintf(stderr, "pochta: cannot read the message log\n");
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "pochta: nothing is known about %s\n", argv[1]);
        return 1;
    }
    return 0;
}
