/* fuzz_mail_smtp_cmd - libFuzzer target for smtp_cmd_parse: any line of up to 510
 * octets parses without crashing, and every pointer it returns lies in the line;
 * and xtext (RFC 3461 4): encoding the line and decoding it again gives it back. */
#include "mail/smtp_cmd.h"

#include <stdint.h>
#include <string.h>

/* in_line - p is NULL or points into line[0..len] */
static int in_line(const char *p, const char *line, size_t len)
{
    return !p || (p >= line && p <= line + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[SMTP_CMD_LINE_MAX + 1];
    if (size > sizeof line - 1)
        size = sizeof line - 1;
    memcpy(line, data, size);
    line[size] = '\0';
    smtp_cmd c;
    smtp_parse_status st = smtp_cmd_parse(line, size, &c);
    if (st != SMTP_PARSE_OK && !c.error)
        __builtin_trap();
    if (!in_line(c.arg, line, size) || !in_line(c.envid, line, size) || !in_line(c.auth_param, line, size) ||
        !in_line(c.orcpt, line, size) || !in_line(c.auth_initial, line, size))
        __builtin_trap();
    if (st == SMTP_PARSE_OK && c.arg)
        (void)strlen(c.arg);
    (void)smtp_cmd_verb_name(c.verb);
    /* xtext round trip over the raw bytes (up to the first NUL) */
    char plain[SMTP_CMD_LINE_MAX + 1], enc[3 * SMTP_CMD_LINE_MAX + 1];
    memcpy(plain, data, size);
    plain[size] = '\0';
    int n = smtp_xtext_encode(plain, enc, sizeof enc);
    if (n < 0 || smtp_xtext_decode(enc) != (int)strlen(plain) || strcmp(enc, plain) != 0)
        __builtin_trap();
    return 0;
}
