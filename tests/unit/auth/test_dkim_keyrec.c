/*
 * test_dkim_keyrec - got/want table for dkim_keyrec_parse (the published
 * key-record reader `pochta doctor` uses) and the private/public match.
 */
#include "check.h"
#include "auth/dkim.h"

#include <stdlib.h>
#include <string.h>

/* RFC 6376 Appendix C public key (1024-bit RSA, SPKI) and the RFC 8463 Ed25519 key */
#define RSA1024 "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB"
#define ED "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

/* test_table - records parsed or refused with the reason a person can act on */
static void test_table(void)
{
    static const struct {
        const char *rec;
        int ok;
        dkim_key_type type;
        int bits, testing, revoked;
        const char *err; /* substring of the error */
    } cases[] = {
        {"v=DKIM1; k=rsa; p=" RSA1024, 0, DKIM_KEY_RSA, 1024, 0, 0, NULL},
        {"p=" RSA1024, 0, DKIM_KEY_RSA, 1024, 0, 0, NULL},
        {"v=DKIM1; t=y; p=" RSA1024, 0, DKIM_KEY_RSA, 1024, 1, 0, NULL},
        {"v=DKIM1; k=ed25519; p=" ED, 0, DKIM_KEY_ED25519, 256, 0, 0, NULL},
        {"v=DKIM1; k=rsa; p=", -1, DKIM_KEY_RSA, 0, 0, 1, "revoked"},
        {"v=DKIM1; k=rsa", -1, DKIM_KEY_RSA, 0, 0, 0, "no p="},
        {"k=rsa; v=DKIM1; p=" RSA1024, -1, DKIM_KEY_RSA, 0, 0, 0, "v="},
        {"v=DKIM2; p=" RSA1024, -1, DKIM_KEY_RSA, 0, 0, 0, "v="},
        {"v=DKIM1; k=dsa; p=" RSA1024, -1, DKIM_KEY_RSA, 0, 0, 0, "unknown key type"},
        {"v=DKIM1; p=MIIB!!notbase64", -1, DKIM_KEY_RSA, 0, 0, 0, "base64"},
        {"v=DKIM1; p=AAAA", -1, DKIM_KEY_RSA, 0, 0, 0, "usable"},
        {"v=DKIM1; k=ed25519; p=" RSA1024, -1, DKIM_KEY_RSA, 0, 0, 0, "usable"},
        {"v=DKIM1; p=x; p=y", -1, DKIM_KEY_RSA, 0, 0, 0, "malformed"},
        {"", -1, DKIM_KEY_RSA, 0, 0, 0, "no p="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dkim_keyrec kr;
        int rc = dkim_keyrec_parse(cases[i].rec, strlen(cases[i].rec), &kr);
        CHECK(rc == cases[i].ok, "case %zu: rc %d (%s)", i, rc, kr.error);
        if (rc == 0) {
            CHECK(kr.type == cases[i].type && kr.bits == cases[i].bits && kr.testing == cases[i].testing,
                  "case %zu: type %d bits %d testing %d", i, kr.type, kr.bits, kr.testing);
        } else {
            CHECK(strstr(kr.error, cases[i].err) != NULL, "case %zu: error '%s' wants '%s'", i, kr.error,
                  cases[i].err);
            CHECK(kr.revoked == cases[i].revoked, "case %zu: revoked", i);
        }
        dkim_keyrec_free(&kr);
    }
}

/* test_match - a generated key matches its own record and not another key's */
static void test_match(void)
{
    dkim_key *a = dkim_key_generate(DKIM_KEY_ED25519), *b = dkim_key_generate(DKIM_KEY_ED25519);
    buf rec;
    buf_init(&rec, 8192);
    CHECK(dkim_key_record(a, &rec) == DKIM_OK, "record");
    dkim_keyrec kr;
    CHECK(dkim_keyrec_parse(rec.data, rec.len, &kr) == 0, "parse own record: %s", kr.error);
    CHECK(dkim_keyrec_matches(&kr, a) == 1, "own key matches");
    CHECK(dkim_keyrec_matches(&kr, b) == 0, "other key does not");
    dkim_keyrec_free(&kr);
    buf_free(&rec);
    dkim_key_free(a);
    dkim_key_free(b);
}

int main(void)
{
    test_table();
    test_match();
    return check_summary();
}
