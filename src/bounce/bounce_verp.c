/*
 * bounce_verp - signed VERP return paths (API and the format's reasons in
 * bounce_verp.h). HMAC-SHA256 from OpenSSL; the key file holds 64 hex
 * digits and a newline.
 */
#include "bounce/bounce_verp.h"
#include "bounce/bounce_store.h"
#include "lib/fileio.h"
#include "lib/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define VERP_KEY_LEN 32
#define VERP_MAC_CHARS 10  /* 50 bits of the HMAC in base32 */
#define VERP_LOCAL_MAX 64  /* RFC 5321 4.5.3.1.1 */

static unsigned char verp_key[VERP_KEY_LEN];
static int verp_have_key;

/* bounce_verp_key_create - write a fresh random key unless one exists */
int bounce_verp_key_create(const char *state_dir, char *err, size_t errlen)
{
    char path[4096], tmp[4200], hex[VERP_KEY_LEN * 2 + 2];
    unsigned char k[VERP_KEY_LEN];
    snprintf(path, sizeof path, "%s/" BOUNCE_VERP_KEY_FILE, state_dir);
    if (access(path, F_OK) == 0)
        return 0;
    if (RAND_bytes(k, sizeof k) != 1) {
        snprintf(err, errlen, "no random bytes for %s", path);
        return -1;
    }
    for (size_t i = 0; i < sizeof k; i++)
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    hex[VERP_KEY_LEN * 2] = '\n';
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || fileio_write_all(fd, hex, VERP_KEY_LEN * 2 + 1) < 0 || fsync(fd) < 0 || close(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    /* link() never replaces a key another process created meanwhile */
    if (link(tmp, path) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    unlink(tmp);
    fileio_fsync_dir(state_dir);
    return 0;
}

/* bounce_verp_key_load - read the key into memory */
int bounce_verp_key_load(const char *state_dir, int create, char *err, size_t errlen)
{
    char path[4096], hex[VERP_KEY_LEN * 2 + 8];
    if (create && bounce_verp_key_create(state_dir, err, errlen) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/" BOUNCE_VERP_KEY_FILE, state_dir);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(hex, 1, sizeof hex - 1, f) : 0;
    if (f)
        fclose(f);
    if (!f || n < VERP_KEY_LEN * 2) {
        snprintf(err, errlen, "cannot read the VERP key %s: %s", path, f ? "too short" : strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < VERP_KEY_LEN; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(err, errlen, "the VERP key %s is not 64 hex digits", path);
            return -1;
        }
        verp_key[i] = (unsigned char)(hi << 4 | lo);
    }
    verp_have_key = 1;
    return 0;
}

int bounce_verp_ready(void)
{
    return verp_have_key;
}

/* verp_mac - base32 MAC over lower-cased "qid\nrcpt" into out[VERP_MAC_CHARS + 1] */
static void verp_mac(const char *qid, const char *rcpt, char *out)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    char msg[1200];
    int n = snprintf(msg, sizeof msg, "%s\n%s", qid, rcpt);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    for (size_t i = 0; i < len; i++)
        if (msg[i] >= 'A' && msg[i] <= 'Z')
            msg[i] = (char)(msg[i] - 'A' + 'a');
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), verp_key, VERP_KEY_LEN, (const unsigned char *)msg, len, md, &mdlen);
    for (int i = 0; i < VERP_MAC_CHARS; i++) { /* 5 bits each, from the front of the digest */
        unsigned bit = (unsigned)i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)md[byte] << 8 | md[byte + 1]) >> (11 - shift);
        out[i] = b32[v & 31];
    }
    out[VERP_MAC_CHARS] = '\0';
}

/* bounce_verp_make - signed return path for (qid, rcpt) */
int bounce_verp_make(char *out, size_t outlen, const char *qid, const char *rcpt, const char *domain)
{
    const char *at = strrchr(rcpt, '@');
    char mac[VERP_MAC_CHARS + 1];
    if (!verp_have_key || !at || strchr(qid, '=') || strchr(qid, '@'))
        return -1;
    verp_mac(qid, rcpt, mac);
    int local = snprintf(out, outlen, BOUNCE_VERP_PREFIX "%s=%.*s=%s=%s", qid, (int)(at - rcpt), rcpt, at + 1, mac);
    int plain = 1; /* quoted, spaced or non-ASCII recipients would make the return path need SMTPUTF8 or quotes */
    for (const char *c = rcpt; *c; c++)
        plain &= (unsigned char)*c > ' ' && (unsigned char)*c < 0x7f && *c != '"' && *c != '\\';
    if (local < 0 || local > VERP_LOCAL_MAX || !plain)
        return bounce_verp_make_short(out, outlen, qid, domain);
    int total = snprintf(out + local, outlen - (size_t)local, "@%s", domain);
    return total < 0 || (size_t)(local + total) >= outlen ? -1 : 0;
}

/* bounce_verp_make_short - bounces+QID=MAC@domain (see bounce_verp.h) */
int bounce_verp_make_short(char *out, size_t outlen, const char *qid, const char *domain)
{
    char mac[VERP_MAC_CHARS + 1];
    if (!verp_have_key || strchr(qid, '=') || strchr(qid, '@'))
        return -1;
    verp_mac(qid, "", mac);
    int n = snprintf(out, outlen, BOUNCE_VERP_PREFIX "%s=%s@%s", qid, mac, domain);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* verp_equal - constant-time comparison of two MACs of VERP_MAC_CHARS */
static int verp_equal(const char *a, const char *b, size_t blen)
{
    unsigned diff = blen != VERP_MAC_CHARS;
    for (size_t i = 0; i < VERP_MAC_CHARS && i < blen; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

/* bounce_verp_check - verify a bounces+ address */
bounce_verp_result bounce_verp_check(const char *addr, char *qid, size_t qidlen, char *rcpt, size_t rcptlen)
{
    size_t plen = strlen(BOUNCE_VERP_PREFIX);
    const char *at = strrchr(addr, '@');
    if (strncasecmp(addr, BOUNCE_VERP_PREFIX, plen) != 0 || !at)
        return VERP_NONE;
    const char *p = addr + plen;
    const char *eq1 = memchr(p, '=', (size_t)(at - p));
    const char *last = eq1;
    for (const char *q = at - 1; eq1 && q > eq1; q--)
        if (*q == '=') {
            last = q;
            break;
        }
    if (!verp_have_key || !eq1 || eq1 == p || (size_t)(eq1 - p) >= qidlen || (size_t)(at - p) >= rcptlen)
        return VERP_FORGED;
    snprintf(qid, qidlen, "%.*s", (int)(eq1 - p), p);
    for (char *c = qid; *c; c++) /* queue IDs are upper-case hex; RCPT lower-cased them */
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    rcpt[0] = '\0';
    if (last != eq1) { /* full form: local=domain between the first and the last '=' */
        const char *mid = eq1 + 1, *dsep = NULL;
        for (const char *q = last - 1; q > mid; q--)
            if (*q == '=') {
                dsep = q;
                break;
            }
        if (!dsep || dsep + 1 == last)
            return VERP_FORGED;
        snprintf(rcpt, rcptlen, "%.*s@%.*s", (int)(dsep - mid), mid, (int)(last - dsep - 1), dsep + 1);
    }
    char mac[VERP_MAC_CHARS + 1];
    verp_mac(qid, rcpt, mac);
    const char *given = last + 1;
    char low[VERP_MAC_CHARS + 1];
    size_t glen = (size_t)(at - given);
    for (size_t i = 0; i < glen && i < VERP_MAC_CHARS; i++)
        low[i] = (char)(given[i] >= 'A' && given[i] <= 'Z' ? given[i] - 'A' + 'a' : given[i]);
    if (!verp_equal(mac, low, glen)) {
        qid[0] = rcpt[0] = '\0';
        return VERP_FORGED;
    }
    return VERP_VALID;
}
