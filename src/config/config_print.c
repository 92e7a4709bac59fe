/*
 * config_print - write configuration out: the effective settings
 * (config_print, for `pochtad -n`) and the commented starting file that
 * `pochta init` installs (config_write_default).
 *
 * Both walk the key table of config.c, so every key appears in both and
 * what config_print writes reads back through config_load unchanged
 * (unset optional settings print as off / system / none).
 */
#include "config/config.h"
#include "config/config_internal.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* config_value - the value of key k in cfg as config_load would read it back; into out */
static const char *config_value(const pochta_config *cfg, const config_key *k, char *out, size_t outlen)
{
    const char *field = (const char *)cfg + k->offset;
    const char *s;
    switch (k->type) {
    case CK_STR:
    case CK_PATH:
    case CK_LISTEN:
    case CK_NETS:
    case CK_CHOICE:
    case CK_TEXT:
        s = *(char *const *)field;
        if (s)
            return s;
        return k->type == CK_PATH || k->type == CK_NETS || k->type == CK_TEXT ? "none" : strcmp(k->name, "dns_server") == 0 ? "system" : "off";
    case CK_SIZE: {
        size_t n = *(const size_t *)field;
        static const char units[] = "GMk";
        static const size_t mult[] = {1024UL * 1024 * 1024, 1024UL * 1024, 1024UL};
        for (int i = 0; i < 3; i++)
            if (n && n % mult[i] == 0) {
                snprintf(out, outlen, "%zu%c", n / mult[i], units[i]);
                return out;
            }
        snprintf(out, outlen, "%zu", n);
        return out;
    }
    case CK_UINT:
    case CK_DURATION:
        snprintf(out, outlen, "%u", *(const unsigned *)field);
        return out;
    case CK_LOG:
        return *(const int *)field ? "syslog" : "stderr";
    case CK_LOGLEVEL: {
        int l = *(const int *)field;
        return l >= 0 && l < 4 ? config_level_names[l] : "info";
    }
    }
    return "";
}

void config_print(const pochta_config *cfg, FILE *out)
{
    char tmp[64];
    for (size_t i = 0; i < config_nkeys; i++)
        fprintf(out, "%s = %s\n", config_keys[i].name, config_value(cfg, &config_keys[i], tmp, sizeof tmp));
}

/* config_init_value - the active value init writes for key name, or NULL to leave it commented */
static const char *config_init_value(const config_init_opts *o, const char *name, const char *dir, char *tmp,
                                     size_t tmplen)
{
    if (strcmp(name, "hostname") == 0)
        return o->hostname;
    if (strcmp(name, "state_dir") == 0)
        return dir;
    if (strcmp(name, "smtp_listen") == 0)
        return o->smtp ? o->smtp : "0.0.0.0:25";
    if (strcmp(name, "submission_listen") == 0)
        return o->submission ? o->submission : "0.0.0.0:587";
    if (strcmp(name, "submissions_listen") == 0)
        return o->submissions ? o->submissions : "0.0.0.0:465";
    if (strcmp(name, "pop3_listen") == 0)
        return o->pop3;
    if (strcmp(name, "dns_server") == 0)
        return o->dns;
    if (strcmp(name, "tls_cert") == 0 || strcmp(name, "tls_key") == 0) {
        snprintf(tmp, tmplen, "%s/tls/%s", dir, name[4] == 'c' ? "cert.pem" : "key.pem");
        return tmp;
    }
    return NULL;
}

/* config_check_init_opts - refuse values that config_load would reject later */
static int config_check_init_opts(const config_init_opts *o, char *err, size_t errlen)
{
    const char *names[] = {"--smtp", "--submission", "--submissions", "--pop3", "--dns"};
    const char *vals[] = {o->smtp, o->submission, o->submissions, o->pop3, o->dns};
    pochta_config probe = {0};
    /* config_keys[0] is hostname: check it exactly as config_load will */
    const char *problem = o->hostname ? config_set(&probe, &config_keys[0], o->hostname, "/") : "missing";
    free(probe.hostname);
    if (problem) {
        snprintf(err, errlen, "--hostname: bad host name '%s'", o->hostname ? o->hostname : "");
        return -1;
    }
    for (int i = 0; i < 5; i++)
        if (vals[i] && strcmp(vals[i], "off") != 0 && config_check_listen(vals[i]) < 0) {
            snprintf(err, errlen, "%s: bad address '%s': want ADDR:PORT, [IPV6]:PORT or *:PORT", names[i], vals[i]);
            return -1;
        }
    return 0;
}

/* config_render_default - the text of a fresh pochta.conf into b */
static void config_render_default(const config_init_opts *o, const char *dir, buf *b)
{
    char date[32], tmp[PATH_MAX + 32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&now, &tm));
    buf_printf(b, "# pochta.conf - configuration of the pochta mail server; see pochta.conf(5).\n"
                  "# Written by `pochta init` on %s for %s.\n"
                  "#\n"
                  "# One `key = value` a line; `#` starts a comment. Sizes take k/M/G, durations\n"
                  "# s/m/h/d. Relative paths are relative to this file's directory. Commented\n"
                  "# keys show their defaults. Domains, mailboxes and aliases are not set here:\n"
                  "# they live in pochta.db (`pochta domain|user|alias ...`).\n"
                  "# Check the file with `pochtad -c FILE -n`.\n",
               date, o->domain ? o->domain : o->hostname);
    for (size_t i = 0; i < config_nkeys; i++) {
        const config_key *k = &config_keys[i];
        const char *v = config_init_value(o, k->name, dir, tmp, sizeof tmp);
        buf_printf(b, "\n# %s\n", k->help);
        if (v)
            buf_printf(b, "%s = %s\n", k->name, v);
        else
            buf_printf(b, "# %s = %s\n", k->name,
                       k->def ? k->def : k->type == CK_STR ? o->hostname /* authserv_id */
                       : k->type == CK_PATH || k->type == CK_NETS || k->type == CK_TEXT ? "none" : strcmp(k->name, "dns_server") == 0 ? "system" : "off");
    }
}

int config_write_default(const config_init_opts *o, const char *path, char *err, size_t errlen)
{
    if (config_check_init_opts(o, err, errlen) < 0)
        return -1;
    char *dir = realpath(o->dir, NULL);
    if (!dir) {
        snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
        return -1;
    }
    buf b;
    buf_init(&b, 64 * 1024);
    config_render_default(o, dir, &b);
    free(dir);
    int rc = -1;
    /* O_EXCL: init must never overwrite a configuration someone has edited. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "already exists; not overwriting it" : strerror(errno));
        goto out;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (off == b.len && fsync(fd) == 0)
        rc = 0;
    else if (off == b.len)
        snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "%s: close: %s", path, strerror(errno));
        rc = -1;
    }
out:
    buf_free(&b);
    return rc;
}
