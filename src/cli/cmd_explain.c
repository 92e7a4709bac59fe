/*
 * cmd_explain - `pochta explain [--lang en|ru] [--json] 'REPLY TEXT'`: say
 * what an SMTP reply (or a mail client's error number) means, who has to
 * act and how to fix it (bounce_explain.h). Several words are joined with
 * spaces, so quoting is optional. Exit 0, or 2 on usage errors.
 */
#include "bounce/bounce.h"
#include "bounce/bounce_explain.h"
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "lib/buf.h"

#include <stdio.h>
#include <string.h>

#define EXPLAIN_USAGE "explain [--lang en|ru] [--json] 'SMTP REPLY TEXT'"

/* explain_print - the human form, labels in the chosen language */
static void explain_print(const bounce_explanation *e, const char *text, int ru)
{
    printf("%s %s (%s", ru ? "причина:" : "reason: ", e->reason,
           e->hard ? (ru ? "адрес недействителен" : "hard: the address is dead")
                   : (ru ? "временно или поправимо" : "soft: fixable or temporary"));
    if (e->status[0] && !strstr(e->status, ".0.9"))
        printf(", %s", e->status);
    if (e->reply_code[0])
        printf(", %s %s", ru ? "код" : "reply", e->reply_code);
    printf(")\n");
    printf("%s %s\n", ru ? "что это:" : "meaning:", e->meaning);
    printf("%s %s\n", ru ? "кто:    " : "who:    ", e->who);
    printf("%s %s\n", ru ? "что делать:" : "fix:    ", e->fix);
    (void)text;
}

/* explain_json - one JSON object */
static void explain_json(const bounce_explanation *e)
{
    printf("{\"reason\": ");
    bounce_json_string(stdout, e->reason);
    printf(", \"hard_bounce\": %s, \"status\": ", e->hard ? "true" : "false");
    bounce_json_string(stdout, e->status);
    printf(", \"reply_code\": ");
    bounce_json_string(stdout, e->reply_code);
    printf(", \"case\": ");
    bounce_json_string(stdout, e->id);
    printf(", \"meaning\": ");
    bounce_json_string(stdout, e->meaning);
    printf(", \"who\": ");
    bounce_json_string(stdout, e->who);
    printf(", \"fix\": ");
    bounce_json_string(stdout, e->fix);
    printf("}\n");
}

int cli_explain(int argc, char **argv, const char *conf_path)
{
    const char *lang = "en";
    int json = 0;
    buf text;
    buf_init(&text, BOUNCE_EXPLAIN_MAX_INPUT);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) {
            lang = argv[++i];
            if (strcmp(lang, "en") != 0 && strcmp(lang, "ru") != 0) {
                buf_free(&text);
                return cli_usage_err(EXPLAIN_USAGE);
            }
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            if (text.len)
                (void)buf_append_char(&text, ' ');
            (void)buf_append_str(&text, argv[i]);
        }
    }
    if (!text.len) {
        buf_free(&text);
        return cli_usage_err(EXPLAIN_USAGE);
    }
    bounce_explanation e;
    int rc = CLI_OK;
    if (bounce_explain(buf_cstr(&text), lang, &e) < 0) {
        cli_err("explain rules failed to load");
        rc = CLI_FAIL;
    } else if (json) {
        explain_json(&e);
    } else {
        explain_print(&e, buf_cstr(&text), strcmp(lang, "ru") == 0);
    }
    buf_free(&text);
    return rc;
}
