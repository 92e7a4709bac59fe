/* fuzz_policy_conf - libFuzzer target for src/policy/policy_conf.c: the input, split at the
 * first NUL bytes into up to five pieces, is parsed as a stage list, a whitelist, per-check
 * exemptions, DNSBL zones and allowlists; the whitelist is matched against a fixed client, and
 * the last piece is judged by the dynamic-name heuristic. Nothing may crash or leak. */
#include "config/config.h"
#include "policy/policy_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *piece[5] = {text, "", "", "", ""};
    char *p = text;
    for (int i = 1; i < 5 && (p = memchr(p, '\0', (size_t)(text + size - p))) != NULL && p < text + size; i++)
        piece[i] = ++p;
    pochta_config cfg = {0};
    cfg.policy_stage[2] = piece[0];
    cfg.policy_whitelist = piece[1];
    cfg.policy_exempt = piece[2];
    cfg.dnsbl_zones = piece[3];
    cfg.dnsbl_allowlists = piece[4];
    policy_conf pc;
    char err[400];
    if (policy_conf_parse(&cfg, &pc, err, sizeof err) == 0) {
        policy_ctx c = {.ip = "192.0.2.7", .client_name = "mx.example.org", .helo = "mx.example.org",
                        .sender = "a@example.org"};
        (void)policy_list_match(&pc.whitelist, &c);
        for (size_t i = 0; i < pc.nbl; i++)
            (void)policy_zone_listed(&pc.bl[i], "127.0.0.2");
    }
    policy_conf_free(&pc);
    char why[96];
    (void)policy_dynamic_name(piece[4], "203.0.113.9", why, sizeof why);
    free(text);
    return 0;
}
