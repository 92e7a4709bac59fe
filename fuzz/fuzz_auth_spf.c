/* fuzz_auth_spf - libFuzzer target for src/auth/spf_parse and spf_macro: the record
 * parser, macro syntax check and expansion, domain-spec and name checks must never
 * crash, and what the checker accepts the expander must expand. The first byte
 * picks the flags and whether "v=spf1 " is put in front. */
#include "auth/spf_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0];
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    char *rec = malloc(len + 8);
    size_t rlen = 0;
    if (mode & 1) {
        memcpy(rec, "v=spf1 ", 7);
        rlen = 7;
    }
    memcpy(rec + rlen, s, len);
    rlen += len;
    spf_record *r = NULL;
    char err[160];
    if (spf_record_parse(rec, rlen, &r, err, sizeof err) == 0) {
        for (size_t i = 0; i < r->nterms; i++)
            if (r->terms[i].spec && spf_domain_spec_check(r->terms[i].spec, strlen(r->terms[i].spec)) < 0)
                __builtin_trap(); /* the parser only keeps valid domain-specs */
        spf_record_free(r);
    }
    free(rec);

    int flags = (mode & 2) ? SPF_MACRO_EXP : 0;
    spf_macro_vars v = {"a.b-c+d@x.example", "a.b-c+d", "x.example", "x.example", "192.0.2.1", "192.0.2.1",
                        "in-addr", "helo.example", NULL, "rcv.example", 1};
    buf out;
    buf_init(&out, SPF_MAX_EXPANSION);
    int ok = spf_macro_check(s, len, flags) == 0;
    int expanded = spf_macro_expand(s, len, &v, flags, &out) == 0;
    if (ok && !expanded && out.len < SPF_MAX_EXPANSION / 4)
        __builtin_trap(); /* valid syntax fails only past the cap */
    buf_free(&out);
    (void)spf_macro_uses_p(s, len);
    (void)spf_domain_ok(s, len);
    if (spf_domain_spec_check(s, len) == 0 && !memchr(s, '\0', len)) {
        char *spec = strndup(s, len);
        char name[SPF_MAX_NAME + 2];
        if (spf_target_name(spec, &v, name, sizeof name) == 0 && strlen(name) > SPF_MAX_NAME)
            __builtin_trap();
        free(spec);
    }
    return 0;
}
