/*
 * config_internal - the key table shared by the parser (config.c) and the
 * printer/writer (config_print.c). Not for use outside src/config/.
 */
#ifndef POCHTA_CONFIG_CONFIG_INTERNAL_H
#define POCHTA_CONFIG_CONFIG_INTERNAL_H

#include "config/config.h"

#include <stddef.h>

typedef enum {
    CK_STR,      /* required text (hostname) */
    CK_PATH,     /* file or directory, made absolute against the config dir */
    CK_LISTEN,   /* ADDR:PORT or off */
    CK_SIZE,     /* bytes, k/M/G suffixes */
    CK_UINT,     /* plain number */
    CK_DURATION, /* seconds, s/m/h/d suffixes */
    CK_LOG,      /* stderr | syslog */
    CK_LOGLEVEL, /* debug | info | warn | error */
    CK_NETS,     /* list of ADDR[/BITS] networks (lib/cidr.h), or none */
    CK_CHOICE,   /* one word of the key's row in config_choices (config.c), kept as text */
    CK_TEXT,     /* free text checked by its module at start (policy lists), or none */
} config_key_type;

typedef struct config_key {
    const char *name;
    config_key_type type;
    size_t offset;            /* of the field in pochta_config */
    const char *def;          /* default as it would be written; NULL = unset */
    unsigned long long min, max;
    const char *help;         /* one line for the default file */
} config_key;

extern const config_key config_keys[];
extern const size_t config_nkeys;
extern const char *const config_level_names[4];

/* config_set - store v (already trimmed) for key k; NULL on success, else a problem text */
const char *config_set(pochta_config *cfg, const config_key *k, const char *v, const char *base);
/* config_check_listen - 0 when v is A.B.C.D:PORT, [V6]:PORT or *:PORT */
int config_check_listen(const char *v);

#endif
