/* fuzz_bounce_parse - libFuzzer target for src/bounce: any message must parse
 * without crashing, every recipient must have bounded, NUL-terminated fields,
 * and explain must answer any text. */
#include "bounce/bounce.h"
#include "bounce/bounce_explain.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (bounce_init() < 0)
            __builtin_trap();
        ready = 1;
    }
    bounce_report r;
    if (bounce_parse((const char *)data, size, &r) != BOUNCE_PARSE_OK)
        __builtin_trap();
    for (size_t i = 0; i < r.nrcpt; i++)
        if (!r.rcpt[i].reason || strlen(r.rcpt[i].diagnostic) > BOUNCE_MAX_DIAG || r.nrcpt > BOUNCE_MAX_RCPTS)
            __builtin_trap();
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        bounce_report_json(null, &r);
        fclose(null);
    }
    bounce_report_free(&r);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    bounce_explanation e;
    if (bounce_explain(text, (size & 1) ? "ru" : "en", &e) != 0 || !e.reason || !e.fix)
        __builtin_trap();
    free(text);
    return 0;
}
