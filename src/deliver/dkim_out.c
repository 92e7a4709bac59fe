/*
 * dkim_out - signing of outgoing mail with per-domain key files (API in
 * dkim_out.h). Keys are read for each message: a key added with `pochta
 * dkim keygen --out DIR` is used at once, without a restart. A key that
 * does not load is logged and skipped (the message goes out unsigned
 * rather than not at all).
 */
#include "deliver/dkim_out.h"
#include "auth/dkim.h"
#include "config/config.h"
#include "lib/log.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* dkim_out_selector - the selector of file name for domain ("D.SEL.pem"), or 0 when it is not one */
static int dkim_out_selector(const char *name, const char *domain, char *sel, size_t sellen)
{
    size_t dl = strlen(domain), nl = strlen(name);
    if (nl <= dl + 5 || strncasecmp(name, domain, dl) != 0 || name[dl] != '.' || strcmp(name + nl - 4, ".pem") != 0)
        return 0;
    size_t sl = nl - dl - 5;
    if (sl == 0 || sl >= sellen)
        return 0;
    memcpy(sel, name + dl + 1, sl);
    sel[sl] = '\0';
    for (size_t i = 0; i < sl; i++)
        if (!isalnum((unsigned char)sel[i]) && sel[i] != '-' && sel[i] != '_' && sel[i] != '.')
            return 0;
    return 1;
}

/* dkim_out_find - see dkim_out.h */
size_t dkim_out_find(const pochta_config *cfg, const char *domain, dkim_out_keyfile *out, size_t max)
{
    if (!domain[0] || strchr(domain, '/') || (!cfg->dkim_key_dir && !cfg->state_dir))
        return 0;
    char dir[4096];
    if (cfg->dkim_key_dir)
        snprintf(dir, sizeof dir, "%s", cfg->dkim_key_dir);
    else
        snprintf(dir, sizeof dir, "%s/dkim", cfg->state_dir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        dkim_out_keyfile *k = &out[n];
        if (dkim_out_selector(e->d_name, domain, k->selector, sizeof k->selector) &&
            snprintf(k->path, sizeof k->path, "%s/%s", dir, e->d_name) < (int)sizeof k->path)
            n++;
    }
    closedir(d);
    return n;
}

/* dkim_out_sign - see dkim_out.h */
int dkim_out_sign(const pochta_config *cfg, const char *id, const char *sender, const char *msg, size_t len,
                  buf *hdr)
{
    const char *at = sender ? strrchr(sender, '@') : NULL;
    if (!at)
        return 0;
    dkim_out_keyfile keys[DKIM_OUT_MAX_KEYS];
    size_t nkeys = dkim_out_find(cfg, at + 1, keys, DKIM_OUT_MAX_KEYS);
    int n = 0;
    for (size_t i = 0; i < nkeys; i++) {
        char err[256];
        dkim_key *k = dkim_key_load(keys[i].path, err, sizeof err);
        if (!k) {
            log_error(id, "event=dkim_sign_error key=%s error=\"%s\"", keys[i].path, err);
            continue;
        }
        if (dkim_sign(k, at + 1, keys[i].selector, msg, len, hdr) == DKIM_OK)
            n++;
        else
            log_error(id, "event=dkim_sign_error key=%s error=\"signing failed\"", keys[i].path);
        dkim_key_free(k);
    }
    return n;
}
