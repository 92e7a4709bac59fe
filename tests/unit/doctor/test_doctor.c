/*
 * test_doctor - unit tests of the doctor's pure parts: the dynamic-name
 * heuristic (got/want table), the score (weights from the table in
 * doctor_report.c), and both outputs (JSON escaping, no colour codes when
 * colour is off).
 */
#include "check.h"
#include "doctor/doctor_int.h"

#include <stdlib.h>
#include <string.h>

/* test_dynamic - reverse names judged as residential or as servers */
static void test_dynamic(void)
{
    static const struct {
        const char *name, *ip;
        int want;
    } cases[] = {
        {"mx.example.org", "192.0.2.25", 0},
        {"mail.provider.net", "192.0.2.25", 0},
        {"192-0-2-25.pool.isp.example", "192.0.2.25", 1},
        {"25-2-0-192.example.net", "192.0.2.25", 1},
        {"25.2.0.192.in-addr.isp.example", "192.0.2.25", 1},
        {"host-c0000219.isp.example", "192.0.2.25", 1},
        {"ppp-17.isp.example", "192.0.2.25", 1},
        {"adsl.customer.isp.example", "192.0.2.25", 1},
        {"dyn.isp.example", "192.0.2.25", 1},
        {"dynamo.example.org", "192.0.2.25", 0},     /* a word containing "dyn" is not the token */
        {"mailhost.example.org", "192.0.2.25", 0},
        {"cable-modem.example.org", "192.0.2.25", 1},
        {"smtp.example.org", "2001:db8::25", 0},
        {"client.example.org", "2001:db8::25", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(doctor_looks_dynamic(cases[i].name, cases[i].ip) == cases[i].want, "%s %s", cases[i].name,
              cases[i].ip);
}

/* test_score - 10 minus fail weights and half warn weights, floored at 0; skips are free */
static void test_score(void)
{
    doctor_report rep;
    doctor_report_init(&rep, "example.org", 0);
    CHECK(doctor_score(&rep) == 10.0, "empty report");
    doctor_add(&rep, "spf.exists", DOCTOR_OK, "v=spf1 -all");
    doctor_add(&rep, "smtp.connect", DOCTOR_SKIP, "not probed");
    CHECK(doctor_score(&rep) == 10.0, "ok and skip cost nothing");
    doctor_add(&rep, "spf.pass", DOCTOR_FAIL, "fail");      /* weight 2 */
    doctor_add(&rep, "dmarc.policy", DOCTOR_WARN, "none");  /* weight 1, half */
    CHECK(doctor_score(&rep) == 7.5, "got %.2f", doctor_score(&rep));
    CHECK(doctor_failed(&rep) == 1, "failed count");
    doctor_add(&rep, "domain.exists", DOCTOR_FAIL, "NXDOMAIN");
    CHECK(doctor_score(&rep) == 0.0, "floored at 0, got %.2f", doctor_score(&rep));
    CHECK(strlen(doctor_why("smtp.relay")) > 10, "every id has a reason");
    doctor_report_free(&rep);
}

/* test_output - JSON escapes quotes and control bytes; plain text has no escape sequences */
static void test_output(void)
{
    doctor_report rep;
    doctor_report_init(&rep, "ex\"ample.org", 0);
    doctor_check *c = doctor_add(&rep, "spf.exists", DOCTOR_FAIL, "bad \"record\"\\ with\ttab\nline");
    doctor_fix(c, "publish %s", "v=spf1 -all");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    doctor_print_json(&rep, f);
    fclose(f);
    CHECK(strstr(out, "\"domain\": \"ex\\\"ample.org\"") != NULL, "%s", out);
    CHECK(strstr(out, "\"value\": \"bad \\\"record\\\"\\\\ with\\u0009tab\\nline\"") != NULL, "%s", out);
    CHECK(strstr(out, "\"score\": 8.0") != NULL, "%s", out);
    CHECK(strstr(out, "\"fix\": \"publish v=spf1 -all\"") != NULL, "%s", out);
    free(out);
    f = open_memstream(&out, &len);
    doctor_print_human(&rep, f, 0);
    fclose(f);
    CHECK(strchr(out, '\033') == NULL, "no colour when off: %s", out);
    CHECK(strstr(out, "[FAIL] spf.exists") != NULL, "%s", out);
    CHECK(strstr(out, "fix: publish v=spf1 -all") != NULL, "%s", out);
    free(out);
    f = open_memstream(&out, &len);
    doctor_print_human(&rep, f, 1);
    fclose(f);
    CHECK(strstr(out, "\033[1;31mFAIL") != NULL, "colour when on: %s", out);
    free(out);
    doctor_report_free(&rep);
}

/* test_hostile_bytes - DNS data is any bytes: JSON stays valid UTF-8, the terminal gets no escapes */
static void test_hostile_bytes(void)
{
    doctor_report rep;
    doctor_report_init(&rep, "example.org", 0);
    doctor_add(&rep, "spf.exists", DOCTOR_OK, "caf\xc3\xa9 \xff\xfe \xed\xa0\x80 \033]0;pwned\007");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    doctor_print_json(&rep, f);
    fclose(f);
    CHECK(strstr(out, "caf\xc3\xa9 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\u001b]0;pwned\\u0007") != NULL, "%s", out);
    free(out);
    f = open_memstream(&out, &len);
    doctor_print_human(&rep, f, 0);
    fclose(f);
    CHECK(strchr(out, '\033') == NULL && strstr(out, "?]0;pwned?") != NULL, "%s", out);
    free(out);
    doctor_report_free(&rep);
}

int main(void)
{
    test_dynamic();
    test_score();
    test_output();
    test_hostile_bytes();
    return check_summary();
}
