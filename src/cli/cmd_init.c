/*
 * cmd_init - `pochta init DIR --hostname H --domain D [--smtp A:P]
 * [--submission A:P] [--submissions A:P] [--pop3 A:P] [--dns A:P]`.
 *
 * Makes a ready-to-run state directory:
 *   DIR/            0750
 *   DIR/queue/      0700   spool (queue module)
 *   DIR/mail/       0700   Maildirs
 *   DIR/tls/        0700   cert.pem (0644) + key.pem (0600): self-signed,
 *                          EC P-256, SAN DNS:H, valid 10 years
 *   DIR/pochta.db          accounts, with domain D
 *   DIR/pochta.conf 0640   written last, so a failed init can simply be rerun
 * An existing pochta.conf is never overwritten (exit 1); an existing key
 * and certificate are kept. The config is first written under a temporary
 * name, checked with config_load, then renamed into place.
 */
#include "bounce/bounce_verp.h"
#include "cli/cli.h"
#include "cli/cli_common.h"

#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INIT_USAGE "init DIR --hostname NAME --domain DOMAIN [--smtp A:P] [--submission A:P] " \
                   "[--submissions A:P] [--pop3 A:P] [--dns A:P]"
#define INIT_CERT_DAYS 3650L

/* init_mkdir - create path with mode unless it exists as a directory; 0 or -1 after a message */
static int init_mkdir(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0)
        return chmod(path, mode); /* mkdir's mode is cut by the umask */
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    cli_err("cannot create directory %s: %s", path, strerror(errno));
    return -1;
}

/* init_mkdir_parents - create the missing parents of path (mkdir -p), 0755 like mkdir(1); 0 or -1 */
static int init_mkdir_parents(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        cli_err("%s: path too long", path);
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
            cli_err("cannot create directory %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* init_add_ext - add one v3 extension given in openssl config syntax */
static int init_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* init_make_cert - self-signed certificate for host with key pkey; NULL on failure (caller frees) */
static X509 *init_make_cert(EVP_PKEY *pkey, const char *host)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    char san[300];
    snprintf(san, sizeof san, "DNS:%s", host);
    if (!x || !serial || !X509_set_version(x, X509_VERSION_3) || !BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), INIT_CERT_DAYS * 24 * 3600) || !X509_set_pubkey(x, pkey))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;
    if (init_add_ext(x, NID_subject_alt_name, san) < 0 || init_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        init_add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
        init_add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || !X509_sign(x, pkey, EVP_sha256()))
        goto fail;
    BN_free(serial);
    return x;
fail:
    BN_free(serial);
    X509_free(x);
    return NULL;
}

/* init_write_pem - create path (O_EXCL) with mode and write the key or the cert; 0 or -1 */
static int init_write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (fflush(f) != 0 || fsync(fd) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* init_tls - make tls/key.pem and tls/cert.pem for host unless both exist; 0 or -1 after a message */
static int init_tls(const char *dir, const char *host)
{
    char key_path[PATH_MAX], cert_path[PATH_MAX];
    snprintf(key_path, sizeof key_path, "%s/tls/key.pem", dir);
    snprintf(cert_path, sizeof cert_path, "%s/tls/cert.pem", dir);
    if (access(key_path, F_OK) == 0 && access(cert_path, F_OK) == 0) {
        printf("kept      %s and %s\n", cert_path, key_path);
        return 0;
    }
    unlink(key_path); /* half a pair is useless: make both again */
    unlink(cert_path);
    int rc = -1;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = pkey ? init_make_cert(pkey, host) : NULL;
    if (!x)
        cli_err("cannot make a certificate for %s (OpenSSL error)", host);
    else if (init_write_pem(key_path, 0600, pkey, NULL) < 0)
        cli_err("cannot write %s: %s", key_path, strerror(errno));
    else if (init_write_pem(cert_path, 0644, NULL, x) < 0)
        cli_err("cannot write %s: %s", cert_path, strerror(errno));
    else
        rc = 0;
    if (rc == 0)
        printf("created   %s (self-signed for %s, 10 years) and %s\n", cert_path, host, key_path);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

/* init_db - create pochta.db with domain; 0 or -1 after a message */
static int init_db(const char *dir, const char *domain)
{
    char path[PATH_MAX], err[512];
    snprintf(path, sizeof path, "%s/pochta.db", dir);
    accounts *a = accounts_open(path, err, sizeof err);
    if (!a) {
        cli_err("cannot create the account database %s", err);
        return -1;
    }
    acct_status st = accounts_domain_add(a, domain);
    accounts_close(a);
    /* password hashes live here: not world-readable (SQLite gives -wal/-shm the same mode) */
    if (chmod(path, 0640) < 0) {
        cli_err("chmod %s: %s", path, strerror(errno));
        return -1;
    }
    if (st == ACCT_INVALID)
        cli_err("--domain: '%s' is not a valid domain name", domain);
    else if (st == ACCT_TEMPFAIL)
        cli_err("%s: the database is busy or broken", path);
    if (st != ACCT_OK && st != ACCT_EXISTS)
        return -1;
    printf("created   %s with domain %s\n", path, domain);
    return 0;
}

/* init_args - parse the options into o; 0 or -1 (usage) */
static int init_args(int argc, char **argv, config_init_opts *o)
{
    struct { const char *flag; const char **dst; } opts[] = {
        {"--hostname", &o->hostname}, {"--domain", &o->domain}, {"--smtp", &o->smtp},
        {"--submission", &o->submission}, {"--submissions", &o->submissions}, {"--pop3", &o->pop3},
        {"--dns", &o->dns},
    };
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].flag) != 0)
            k++;
        if (k < sizeof opts / sizeof opts[0] && i + 1 < argc)
            *opts[k].dst = argv[++i];
        else if (argv[i][0] != '-' && !o->dir)
            o->dir = argv[i];
        else
            return -1;
    }
    return o->dir && o->hostname && o->domain ? 0 : -1;
}

/* init_layout - the directories; 0 or -1 */
static int init_layout(const char *dir)
{
    static const char *const subs[] = {"queue", "mail", "tls"};
    char path[PATH_MAX];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        if (init_mkdir(path, 0700) < 0)
            return -1;
    }
    return 0;
}

/* init_verp - the secret that signs VERP return paths (bounce_verp.h); 0 or -1 */
static int init_verp(const char *dir)
{
    char err[512];
    if (bounce_verp_key_create(dir, err, sizeof err) < 0) {
        cli_err("%s", err);
        return -1;
    }
    printf("created   %s/" BOUNCE_VERP_KEY_FILE "\n", dir);
    return 0;
}

/* init_config - write the config under tmp, check it loads, rename to conf; 0 or -1 */
static int init_config(config_init_opts *o, const char *tmp, const char *conf)
{
    char err[512];
    pochta_config cfg;
    if (config_load(tmp, &cfg, err, sizeof err) < 0) {
        cli_err("the configuration just written does not load: %s", err);
        return -1;
    }
    config_free(&cfg);
    /* link() fails if conf appeared meanwhile, so even a race cannot overwrite it */
    if (link(tmp, conf) < 0) {
        cli_err("cannot create %s: %s", conf, strerror(errno));
        return -1;
    }
    unlink(tmp);
    printf("created   %s\n", conf);
    return 0;
}

int cli_init(int argc, char **argv, const char *conf_path)
{
    config_init_opts o;
    char err[512], conf[PATH_MAX], tmp[PATH_MAX];
    if (init_args(argc, argv, &o) < 0)
        return cli_usage_err(INIT_USAGE);
    log_init("pochta", 0, LOG_LEVEL_WARN);
    char domain[256];
    if (snprintf(domain, sizeof domain, "%s", o.domain) >= (int)sizeof domain) {
        cli_err("--domain: '%s' is not a valid domain name", o.domain);
        return CLI_USAGE;
    }
    for (char *p = domain; *p; p++) /* domains are kept lower case (accounts.h) */
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    o.domain = domain;
    snprintf(conf, sizeof conf, "%s/pochta.conf", o.dir);
    snprintf(tmp, sizeof tmp, "%s/.pochta.conf.init", o.dir);
    if (access(conf, F_OK) == 0) {
        cli_err("%s already exists; not overwriting it (remove it first to start again)", conf);
        return CLI_FAIL;
    }
    if (init_mkdir_parents(o.dir) < 0 || init_mkdir(o.dir, 0750) < 0)
        return CLI_FAIL;
    unlink(tmp); /* left by an earlier init that failed */
    if (config_write_default(&o, tmp, err, sizeof err) < 0) {
        cli_err("%s", err);
        return strstr(err, "bad address") || strstr(err, "host name") ? CLI_USAGE : CLI_FAIL;
    }
    char *dir = realpath(o.dir, NULL);
    int rc = dir && init_layout(dir) == 0 && init_tls(dir, o.hostname) == 0 && init_db(dir, o.domain) == 0 &&
             init_verp(dir) == 0 && init_config(&o, tmp, conf) == 0 ? CLI_OK : CLI_FAIL;
    unlink(tmp);
    if (rc == CLI_OK)
        printf("\nNext steps:\n"
               "  pochta -c %s user add USER@%s        # add a mailbox (asks for the password)\n"
               "  pochta -c %s alias add postmaster@%s USER@%s\n"
               "  pochtad -c %s -n                       # check the configuration\n"
               "  pochtad -c %s                          # start the server\n"
               "Publish an MX record for %s pointing to %s.\n",
               conf, o.domain, conf, o.domain, o.domain, conf, conf, o.domain, o.hostname);
    free(dir);
    return rc;
}
