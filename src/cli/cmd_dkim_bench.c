/*
 * cmd_dkim_bench - `pochta dkim bench`: DKIM sign and verify rates in this
 * process, each next to the bare public-key operation it is built on.
 *
 *   dkim bench --key FILE [--size BYTES] [--seconds S] [--parallel N]
 *
 * prints four lines, messages or operations per second:
 *   sign N        dkim_sign of a message of BYTES (default 2048)
 *   sign-raw N    the signature operation alone, on a ready context, over a
 *                 32-byte digest: what `openssl speed` measures
 *   verify N      dkim_verify_start of the signed message, the key record
 *                 answered by the static resolver, N (default 16)
 *                 verifications in flight on one event loop as the daemon
 *                 has with several sessions (--parallel 1: one at a time)
 *   verify-raw N  the verify operation alone, likewise
 * Each pair runs in alternating slices of 50 ms until both have run S
 * seconds (default 3), so a change in the shared machine's speed falls on
 * both sides of the ratio alike. bench/dkim_rate.sh prints the table.
 * Exit 1 if any signature or verification failed.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "auth/dkim.h"
#include "dns/dns.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DKIM_BENCH_USAGE "dkim bench --key FILE [--size BYTES] [--seconds S] [--parallel N]"
/* DKIM_BENCH_PARALLEL - verifications in flight by default, and at most */
#define DKIM_BENCH_PARALLEL 16
#define DKIM_BENCH_PARALLEL_MAX 256
/* DKIM_BENCH_SLICE - seconds one side runs before the other takes over */
#define DKIM_BENCH_SLICE 0.05
/* DKIM_BENCH_BATCH - raw operations or signatures between clock readings */
#define DKIM_BENCH_BATCH 10

/* dkim_bench_op - run one batch; how many operations it did, or -1 when one failed */
typedef int (*dkim_bench_op)(void *arg);

/* One measured side: its batch function, and operations and seconds so far */
typedef struct dkim_meter {
    dkim_bench_op op;
    void *arg;
    long n;
    double secs;
    int failed;
} dkim_meter;

/* Everything the four sides work on; the EVP objects are owned and freed by dkim_bench_free */
typedef struct dkim_bench {
    dkim_key *key;
    int ed25519;
    buf msg, signed_msg, rec, sig_out;
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *rsa_sign, *rsa_verify; /* RSA: PKCS#1 v1.5, SHA-256 */
    EVP_MD_CTX *ed_sign, *ed_verify;     /* Ed25519: PureEdDSA */
    unsigned char digest[32], raw_sig[1024];
    size_t raw_sig_len;
    struct event_base *base;
    dns_resolver *r;
    int parallel, pending, verify_ok;
} dkim_bench;

/* dkim_elapsed - seconds since t0 */
static double dkim_elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* dkim_meter_slice - run m's batches for about DKIM_BENCH_SLICE seconds */
static void dkim_meter_slice(dkim_meter *m)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        int k = m->op(m->arg);
        if (k < 0) {
            m->failed = 1;
            break;
        }
        m->n += k;
    } while (dkim_elapsed(&t0) < DKIM_BENCH_SLICE);
    m->secs += dkim_elapsed(&t0);
}

/* dkim_meter_pair - alternate slices of a and b until each ran secs seconds; 0, or -1 on a failure */
static int dkim_meter_pair(dkim_meter *a, dkim_meter *b, double secs)
{
    while ((a->secs < secs || b->secs < secs) && !a->failed && !b->failed) {
        dkim_meter_slice(a);
        dkim_meter_slice(b);
    }
    return a->failed || b->failed ? -1 : 0;
}

/* dkim_bench_sign - DKIM_BENCH_BATCH signatures of the message */
static int dkim_bench_sign(void *arg)
{
    dkim_bench *b = arg;
    for (int j = 0; j < DKIM_BENCH_BATCH; j++) {
        buf_reset(&b->sig_out);
        if (dkim_sign(b->key, "example.org", "bench", b->msg.data, b->msg.len, &b->sig_out) != DKIM_OK)
            return -1;
    }
    return DKIM_BENCH_BATCH;
}

/* dkim_bench_done - one verification finished */
static void dkim_bench_done(void *arg, const dkim_results *res)
{
    dkim_bench *b = arg;
    b->pending--;
    b->verify_ok &= res->count == 1 && res->sig[0].result == DKIM_PASS;
}

/* dkim_bench_verify - start b->parallel verifications and run the loop until all are done */
static int dkim_bench_verify(void *arg)
{
    dkim_bench *b = arg;
    for (int j = 0; j < b->parallel; j++) {
        b->pending++; /* before the start: a message without a lookup reports at once */
        dkim_verify_start(b->r, b->signed_msg.data, b->signed_msg.len, dkim_bench_done, b);
    }
    while (b->pending > 0)
        if (event_base_loop(b->base, EVLOOP_ONCE) < 0)
            return -1;
    return b->verify_ok ? b->parallel : -1;
}

/* dkim_raw_sign - DKIM_BENCH_BATCH bare signature operations over the digest */
static int dkim_raw_sign(void *arg)
{
    dkim_bench *b = arg;
    for (int j = 0; j < DKIM_BENCH_BATCH; j++) {
        size_t len = sizeof b->raw_sig;
        int ok = b->ed25519 ? EVP_DigestSign(b->ed_sign, b->raw_sig, &len, b->digest, sizeof b->digest)
                            : EVP_PKEY_sign(b->rsa_sign, b->raw_sig, &len, b->digest, sizeof b->digest);
        if (ok != 1)
            return -1;
        b->raw_sig_len = len;
    }
    return DKIM_BENCH_BATCH;
}

/* dkim_raw_verify - DKIM_BENCH_BATCH bare verify operations of the last raw signature */
static int dkim_raw_verify(void *arg)
{
    dkim_bench *b = arg;
    for (int j = 0; j < DKIM_BENCH_BATCH; j++) {
        int ok = b->ed25519
                     ? EVP_DigestVerify(b->ed_verify, b->raw_sig, b->raw_sig_len, b->digest, sizeof b->digest)
                     : EVP_PKEY_verify(b->rsa_verify, b->raw_sig, b->raw_sig_len, b->digest, sizeof b->digest);
        if (ok != 1)
            return -1;
    }
    return DKIM_BENCH_BATCH;
}

/* dkim_raw_setup - the bare contexts for the key in path, as `openssl speed` sets them up; 0 or -1 */
static int dkim_raw_setup(dkim_bench *b, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    b->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!b->pkey)
        return -1;
    memset(b->digest, 0x5a, sizeof b->digest);
    if (b->ed25519) {
        b->ed_sign = EVP_MD_CTX_new();
        b->ed_verify = EVP_MD_CTX_new();
        return b->ed_sign && b->ed_verify && EVP_DigestSignInit(b->ed_sign, NULL, NULL, NULL, b->pkey) == 1 &&
                       EVP_DigestVerifyInit(b->ed_verify, NULL, NULL, NULL, b->pkey) == 1
                   ? 0
                   : -1;
    }
    b->rsa_sign = EVP_PKEY_CTX_new(b->pkey, NULL);
    b->rsa_verify = EVP_PKEY_CTX_new(b->pkey, NULL);
    return b->rsa_sign && b->rsa_verify && EVP_PKEY_sign_init(b->rsa_sign) == 1 &&
                   EVP_PKEY_CTX_set_rsa_padding(b->rsa_sign, RSA_PKCS1_PADDING) == 1 &&
                   EVP_PKEY_CTX_set_signature_md(b->rsa_sign, EVP_sha256()) == 1 &&
                   EVP_PKEY_verify_init(b->rsa_verify) == 1 &&
                   EVP_PKEY_CTX_set_rsa_padding(b->rsa_verify, RSA_PKCS1_PADDING) == 1 &&
                   EVP_PKEY_CTX_set_signature_md(b->rsa_verify, EVP_sha256()) == 1
               ? 0
               : -1;
}

/* dkim_bench_msg - a message of about size bytes */
static void dkim_bench_msg(size_t size, buf *m)
{
    buf_init(m, size + 4096);
    buf_append_str(m, "From: Bench <bench@example.org>\r\nTo: someone@example.net\r\nSubject: benchmark\r\n"
                      "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\nMessage-ID: <bench@example.org>\r\n\r\n");
    while (m->len < size)
        buf_append_str(m, "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n");
}

/* dkim_bench_free - release what b holds */
static void dkim_bench_free(dkim_bench *b)
{
    if (b->r)
        dns_resolver_free(b->r);
    if (b->base)
        event_base_free(b->base);
    EVP_PKEY_CTX_free(b->rsa_sign);
    EVP_PKEY_CTX_free(b->rsa_verify);
    EVP_MD_CTX_free(b->ed_sign);
    EVP_MD_CTX_free(b->ed_verify);
    EVP_PKEY_free(b->pkey);
    buf_free(&b->msg);
    buf_free(&b->signed_msg);
    buf_free(&b->rec);
    buf_free(&b->sig_out);
    dkim_key_free(b->key);
}

/* dkim_bench_run - both pairs; prints the four rates; 0 or -1 */
static int dkim_bench_run(dkim_bench *b, double secs)
{
    dkim_meter sign = {dkim_bench_sign, b, 0, 0, 0}, sign_raw = {dkim_raw_sign, b, 0, 0, 0};
    if (dkim_meter_pair(&sign, &sign_raw, secs) < 0)
        return -1;
    printf("sign %.0f\nsign-raw %.0f\n", (double)sign.n / sign.secs, (double)sign_raw.n / sign_raw.secs);
    buf_append(&b->signed_msg, b->sig_out.data, b->sig_out.len);
    buf_append(&b->signed_msg, b->msg.data, b->msg.len);
    if (dkim_key_record(b->key, &b->rec) != DKIM_OK || !(b->base = event_base_new()) ||
        !(b->r = dns_static_new(b->base)))
        return -1;
    dns_static_add(b->r, "bench._domainkey.example.org", DNS_T_TXT, 0, b->rec.data, b->rec.len);
    dkim_meter verify = {dkim_bench_verify, b, 0, 0, 0}, verify_raw = {dkim_raw_verify, b, 0, 0, 0};
    if (dkim_meter_pair(&verify, &verify_raw, secs) < 0)
        return -1;
    printf("verify %.0f\nverify-raw %.0f\n", (double)verify.n / verify.secs, (double)verify_raw.n / verify_raw.secs);
    return 0;
}

/* cli_dkim_bench - the `pochta dkim bench` command */
int cli_dkim_bench(int argc, char **argv)
{
    const char *keyf = NULL;
    size_t size = 2048;
    double secs = 3;
    long parallel = DKIM_BENCH_PARALLEL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            keyf = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            secs = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = strtol(argv[++i], NULL, 10);
        else
            return cli_usage_err(DKIM_BENCH_USAGE);
    }
    if (!keyf || size == 0 || size > DKIM_MAX_MSG / 2 || !(secs > 0 && secs < 600) || parallel < 1 ||
        parallel > DKIM_BENCH_PARALLEL_MAX)
        return cli_usage_err(DKIM_BENCH_USAGE);
    dkim_bench b;
    memset(&b, 0, sizeof b);
    b.parallel = (int)parallel;
    b.verify_ok = 1;
    buf_init(&b.signed_msg, DKIM_MAX_MSG);
    buf_init(&b.rec, 8192);
    buf_init(&b.sig_out, 65536);
    dkim_bench_msg(size, &b.msg);
    char err[256];
    if (!(b.key = dkim_key_load(keyf, err, sizeof err))) {
        cli_err("%s", err);
        dkim_bench_free(&b);
        return CLI_FAIL;
    }
    b.ed25519 = dkim_key_get_type(b.key) == DKIM_KEY_ED25519;
    int rc = CLI_OK;
    if (dkim_raw_setup(&b, keyf) < 0) {
        cli_err("bench: cannot set up the bare %s contexts for %s", b.ed25519 ? "Ed25519" : "RSA", keyf);
        rc = CLI_FAIL;
    } else if (dkim_bench_run(&b, secs) < 0) {
        cli_err("bench: a signature or a verification failed");
        rc = CLI_FAIL;
    }
    dkim_bench_free(&b);
    return rc;
}
