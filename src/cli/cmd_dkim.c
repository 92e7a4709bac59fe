/*
 * cmd_dkim - `pochta dkim keygen|sign|verify|bench`: make DKIM keys and the
 * TXT record to publish, sign a message, verify one, measure rates.
 *
 *   dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--out DIR]
 *       writes DIR/DOMAIN.S.pem (mode 0600, refuses to overwrite) and prints
 *       the record: S._domainkey.DOMAIN. IN TXT "v=DKIM1; k=rsa; p=..."
 *       (split into 255-byte strings). Defaults: rsa (2048 bits), selector
 *       "pochta" (rsa) or "pochta-ed" (ed25519), DIR ".".
 *   dkim sign --domain D --selector S --key FILE [--selector S2 --key F2] [FILE|-]
 *       prints the message with the DKIM-Signature field(s) prepended; a
 *       second selector/key pair signs twice (dual RSA + Ed25519).
 *   dkim verify [--server ADDR:PORT] [--dns-file F] [FILE|-]
 *       one line per signature: "dkim=RESULT d=D s=S a=A i=I header.b=B
 *       [reason="..."] [testing=1]", or "dkim=none". --dns-file answers
 *       from a file instead of the DNS; its lines are
 *           NAME [IN] TXT VALUE (VALUE raw to line end, or "..." "..." strings,
 *                                so keygen's output line can be pasted)
 *           NAME TEMPFAIL       (every lookup of NAME times out)
 *       with '#' comments. Exit 0 when some signature passed, else 1.
 *   dkim bench ...  see cmd_dkim_bench.c.
 *
 * Input files with bare LF line ends are converted to CRLF first (the form
 * DKIM works on); output is CRLF.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "auth/dkim.h"
#include "dns/dns.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DKIM_KEYGEN_USAGE "dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--out DIR]"
#define DKIM_SIGN_USAGE "dkim sign --domain D --selector S --key FILE [--selector S2 --key FILE2] [FILE|-]"
#define DKIM_VERIFY_USAGE "dkim verify [--server ADDR:PORT] [--dns-file F] [FILE|-]"
/* DKIM_USAGE - every subcommand; `dkim bench` prints its own options */
#define DKIM_USAGE DKIM_KEYGEN_USAGE " | " DKIM_SIGN_USAGE " | " DKIM_VERIFY_USAGE " | dkim bench --key FILE ..."
/* DKIM_DNS_FILE_MAX - largest --dns-file read */
#define DKIM_DNS_FILE_MAX (1u << 20)

/* dkim_read_input - whole FILE (or stdin for "-"/NULL) into out, LF turned into CRLF; CLI_OK or CLI_FAIL */
static int dkim_read_input(const char *path, buf *out, size_t cap)
{
    FILE *fp = (!path || strcmp(path, "-") == 0) ? stdin : fopen(path, "rb");
    if (!fp) {
        cli_err("%s: cannot open", path);
        return CLI_FAIL;
    }
    buf raw;
    buf_init(&raw, cap);
    char chunk[65536];
    size_t n;
    int rc = CLI_OK;
    while (rc == CLI_OK && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (buf_append(&raw, chunk, n) != BUF_OK)
            rc = CLI_FAIL;
    if (ferror(fp))
        rc = CLI_FAIL;
    if (fp != stdin)
        fclose(fp);
    buf_init(out, cap * 2);
    if (rc == CLI_OK && dkim_crlf(raw.data ? raw.data : "", raw.len, out) != BUF_OK)
        rc = CLI_FAIL;
    if (rc != CLI_OK)
        cli_err("%s: read failed or input too big", path ? path : "-");
    buf_free(&raw);
    return rc;
}

/* dkim_print_record - NAME. IN TXT "..." "..." with 255-byte strings (RFC 1035 character-string limit) */
static void dkim_print_record(const char *selector, const char *domain, const char *rec, size_t len)
{
    printf("%s._domainkey.%s. IN TXT", selector, domain);
    for (size_t off = 0; off < len; off += 255)
        printf(" \"%.*s\"", (int)(len - off < 255 ? len - off : 255), rec + off);
    putchar('\n');
}

/* dkim_keygen - the keygen subcommand */
static int dkim_keygen(int argc, char **argv)
{
    const char *domain = NULL, *selector = NULL, *type = "rsa", *dir = ".";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
            selector = argv[++i];
        else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
            type = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] != '-' && !domain)
            domain = argv[i];
        else
            return cli_usage_err(DKIM_KEYGEN_USAGE);
    }
    int ed = strcmp(type, "ed25519") == 0;
    if (!domain || (!ed && strcmp(type, "rsa") != 0))
        return cli_usage_err(DKIM_KEYGEN_USAGE);
    if (!selector)
        selector = ed ? "pochta-ed" : "pochta";
    dkim_key *k = dkim_key_generate(ed ? DKIM_KEY_ED25519 : DKIM_KEY_RSA);
    if (!k) {
        cli_err("key generation failed");
        return CLI_FAIL;
    }
    char *path = xasprintf("%s/%s.%s.pem", dir, domain, selector);
    char err[256];
    buf rec;
    buf_init(&rec, 8192);
    int rc = CLI_FAIL;
    if (dkim_key_write_pem(k, path, err, sizeof err) < 0)
        cli_err("%s", err);
    else if (dkim_key_record(k, &rec) != DKIM_OK)
        cli_err("cannot encode the public key");
    else {
        fprintf(stderr, "pochta: private key written to %s\n", path);
        dkim_print_record(selector, domain, rec.data, rec.len);
        rc = CLI_OK;
    }
    buf_free(&rec);
    free(path);
    dkim_key_free(k);
    return rc;
}

/* dkim_sign_cmd - the sign subcommand */
static int dkim_sign_cmd(int argc, char **argv)
{
    const char *domain = NULL, *file = NULL, *sel[2] = {NULL, NULL}, *keyf[2] = {NULL, NULL};
    int ns = 0, nk = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
            domain = argv[++i];
        else if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc && ns < 2)
            sel[ns++] = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc && nk < 2)
            keyf[nk++] = argv[++i];
        else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !file)
            file = argv[i];
        else
            return cli_usage_err(DKIM_SIGN_USAGE);
    }
    if (!domain || ns == 0 || ns != nk)
        return cli_usage_err(DKIM_SIGN_USAGE);
    buf msg, out;
    if (dkim_read_input(file, &msg, DKIM_MAX_MSG) != CLI_OK)
        return CLI_FAIL;
    buf_init(&out, 65536);
    int rc = CLI_OK;
    /* every signature covers the original message; none signs another's field */
    for (int i = ns - 1; i >= 0 && rc == CLI_OK; i--) {
        char err[256];
        dkim_key *k = dkim_key_load(keyf[i], err, sizeof err);
        if (!k) {
            cli_err("%s", err);
            rc = CLI_FAIL;
            break;
        }
        dkim_status st = dkim_sign(k, domain, sel[i], msg.data ? msg.data : "", msg.len, &out);
        dkim_key_free(k);
        if (st != DKIM_OK) {
            cli_err("signing failed: %s", st == DKIM_ERR_MSG ? "message has no header block or no From"
                                          : st == DKIM_ERR_ARG ? "bad domain or selector" : "key or crypto error");
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fwrite(msg.data ? msg.data : "", 1, msg.len, stdout);
        if (fflush(stdout) != 0)
            rc = CLI_FAIL;
    }
    buf_free(&msg);
    buf_free(&out);
    return rc;
}

/* dkim_dns_value - a --dns-file value: "..." strings concatenated, or the raw rest of the line */
static void dkim_dns_value(const char *p, buf *out)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '"') {
        buf_append_str(out, p);
        return;
    }
    while (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            buf_append_char(out, *p);
        }
        if (*p == '"')
            p++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
}

/* dkim_load_dns_file - fill the static resolver from F; CLI_OK or CLI_USAGE after a message */
static int dkim_load_dns_file(dns_resolver *r, const char *path)
{
    buf b;
    if (dkim_read_input(path, &b, DKIM_DNS_FILE_MAX) != CLI_OK)
        return CLI_USAGE;
    int rc = CLI_OK, lineno = 0;
    char *line = b.data;
    while (line && *line && rc == CLI_OK) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        lineno++;
        char name[300], type[16];
        int pos = 0;
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line && *line != '#') {
            size_t nlen = strcspn(line, " \t"), tlen;
            const char *t = line + nlen + strspn(line + nlen, " \t");
            tlen = strcspn(t, " \t");
            if (tlen == 2 && strncasecmp(t, "IN", 2) == 0) { /* zone-file form, as keygen prints it */
                t += tlen + strspn(t + tlen, " \t");
                tlen = strcspn(t, " \t");
            }
            if (nlen == 0 || nlen >= sizeof name || tlen == 0 || tlen >= sizeof type) {
                cli_err("%s:%d: want NAME TXT VALUE or NAME TEMPFAIL", path, lineno);
                rc = CLI_USAGE;
                break;
            }
            memcpy(name, line, nlen);
            name[nlen] = '\0';
            memcpy(type, t, tlen);
            type[tlen] = '\0';
            pos = (int)(t + tlen - line);
            if (strcasecmp(type, "TEMPFAIL") == 0) {
                dns_static_timeout(r, name);
            } else if (strcasecmp(type, "TXT") == 0) {
                buf v;
                buf_init(&v, 65536);
                dkim_dns_value(line + pos, &v);
                dns_static_add(r, name, DNS_T_TXT, 0, buf_cstr(&v), v.len);
                buf_free(&v);
            } else {
                cli_err("%s:%d: unknown type %s", path, lineno, type);
                rc = CLI_USAGE;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    buf_free(&b);
    return rc;
}

/* dkim_print_results - one line per signature */
static int dkim_print_results(const dkim_results *res)
{
    int any_pass = 0;
    if (res->error[0]) {
        printf("dkim=permerror reason=\"%s\"\n", res->error);
        return CLI_FAIL;
    }
    if (res->count == 0)
        printf("dkim=none\n");
    for (size_t i = 0; i < res->count; i++) {
        const dkim_sig_result *s = &res->sig[i];
        printf("dkim=%s d=%s s=%s a=%s i=%s header.b=%s", dkim_result_name(s->result), s->domain, s->selector,
               s->algo, s->auid, s->b_prefix);
        if (s->reason[0])
            printf(" reason=\"%s\"", s->reason);
        if (s->testing)
            printf(" testing=1");
        putchar('\n');
        any_pass |= s->result == DKIM_PASS;
    }
    if (res->found > res->count)
        printf("# %zu more signatures not verified (limit %d)\n", res->found - res->count, DKIM_MAX_SIGS);
    return any_pass ? CLI_OK : CLI_FAIL;
}

/* dkim_resolver - static from --dns-file, else unbound at --server, dns_server of -c CONF or resolv.conf */
static dns_resolver *dkim_resolver(struct event_base *base, const char *dns_file, const char *server,
                                   const char *conf_path, int *rc)
{
    char err[256];
    *rc = CLI_OK;
    if (dns_file) {
        dns_resolver *r = dns_static_new(base);
        if ((*rc = dkim_load_dns_file(r, dns_file)) != CLI_OK) {
            dns_resolver_free(r);
            return NULL;
        }
        return r;
    }
    char *srv = server ? xstrdup(server) : NULL;
    if (!srv && conf_path) {
        pochta_config cfg;
        if ((*rc = cli_config_load(conf_path, &cfg)) != CLI_OK)
            return NULL;
        if (cfg.dns_server)
            srv = xstrdup(cfg.dns_server);
        config_free(&cfg);
    }
    dns_resolver *r = dns_unbound_new(base, srv, err, sizeof err);
    free(srv);
    if (!r) {
        cli_err("resolver: %s", err);
        *rc = CLI_FAIL;
    }
    return r;
}

/* dkim_verify_cmd - the verify subcommand */
static int dkim_verify_cmd(int argc, char **argv, const char *conf_path)
{
    const char *server = NULL, *dns_file = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--dns-file") == 0 && i + 1 < argc)
            dns_file = argv[++i];
        else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !file)
            file = argv[i];
        else
            return cli_usage_err(DKIM_VERIFY_USAGE);
    }
    buf msg;
    if (dkim_read_input(file, &msg, DKIM_MAX_MSG) != CLI_OK)
        return CLI_FAIL;
    struct event_base *base = event_base_new();
    int rc;
    dns_resolver *r = base ? dkim_resolver(base, dns_file, server, conf_path, &rc) : NULL;
    if (r) {
        dkim_results res;
        dkim_verify_sync(base, r, msg.data ? msg.data : "", msg.len, &res);
        rc = dkim_print_results(&res);
        dns_resolver_free(r);
    } else if (!base) {
        rc = CLI_FAIL;
    }
    if (base)
        event_base_free(base);
    buf_free(&msg);
    return rc;
}

/* cli_dkim - the `pochta dkim` command */
int cli_dkim(int argc, char **argv, const char *conf_path)
{
    if (argc < 2)
        return cli_usage_err(DKIM_USAGE);
    if (strcmp(argv[1], "keygen") == 0)
        return dkim_keygen(argc, argv);
    if (strcmp(argv[1], "sign") == 0)
        return dkim_sign_cmd(argc, argv);
    if (strcmp(argv[1], "verify") == 0)
        return dkim_verify_cmd(argc, argv, conf_path);
    if (strcmp(argv[1], "bench") == 0)
        return cli_dkim_bench(argc, argv);
    return cli_usage_err(DKIM_USAGE);
}
