/* test_data_reader - DATA phase: dot-stuffing, end of data, bare CR/LF refusal, limits.
 * Every case is fed whole, byte by byte and split in two at every offset; all
 * must agree. Also drives ../shared/conformance/smtp/smtp-proto/data_receiver.tsv. */
#include "check.h"
#include "mail/data_reader.h"

#include <stdlib.h>
#include <string.h>

typedef struct result {
    data_status st;
    data_error err;
    size_t used;
    char out[4096];
    size_t outlen;
    size_t total;
} result;

/* feed - run the reader over in, in pieces of at most step bytes (0 = whole), with an
 * optional split point; stops like a session would at DONE or an error */
static void feed(const char *in, size_t len, size_t cap, size_t step, size_t split, result *r)
{
    buf out;
    buf_init(&out, cap);
    data_reader dr;
    data_reader_init(&dr, &out);
    size_t pos = 0;
    r->st = DATA_MORE;
    while (pos < len) {
        size_t n = len - pos;
        if (step && n > step)
            n = step;
        if (split && pos < split && pos + n > split)
            n = split - pos;
        size_t used = data_reader_feed(&dr, in + pos, n, &r->st);
        CHECK(used <= n, "used %zu of %zu", used, n);
        pos += used;
        if (r->st != DATA_MORE || used < n)
            break;
    }
    r->used = pos;
    r->err = dr.error;
    r->total = dr.total;
    r->outlen = out.len < sizeof r->out ? out.len : sizeof r->out - 1;
    memcpy(r->out, buf_cstr(&out), r->outlen);
    r->out[r->outlen] = '\0';
    if (r->st != DATA_MORE) {
        data_status again;
        CHECK(data_reader_feed(&dr, "x", 1, &again) == 0 && again == r->st, "no input after the end");
    }
    buf_free(&out);
}

/* same - two results agree in every field */
static int same(const result *a, const result *b)
{
    return a->st == b->st && a->err == b->err && a->used == b->used && a->total == b->total &&
           a->outlen == b->outlen && memcmp(a->out, b->out, a->outlen) == 0;
}

/* check_case - whole, byte by byte, and every two-piece split agree; whole matches want */
static void check_case(const char *name, const char *in, size_t len, size_t cap, data_status want_st,
                       data_error want_err, const char *want_out, size_t want_used)
{
    static result whole, other;
    feed(in, len, cap, 0, 0, &whole);
    CHECK(whole.st == want_st, "%s: status %d want %d", name, whole.st, want_st);
    CHECK(whole.err == want_err, "%s: error %d want %d", name, whole.err, want_err);
    CHECK(whole.used == want_used, "%s: used %zu want %zu", name, whole.used, want_used);
    CHECK(whole.total == want_used, "%s: total %zu want %zu", name, whole.total, want_used);
    if (want_out)
        CHECK(whole.outlen == strlen(want_out) && memcmp(whole.out, want_out, whole.outlen) == 0,
              "%s: out [%s] want [%s]", name, whole.out, want_out);
    feed(in, len, cap, 1, 0, &other);
    CHECK(same(&whole, &other), "%s: byte-by-byte feeding differs", name);
    for (size_t k = 1; k < len && k < 64; k++) {
        feed(in, len, cap, 0, k, &other);
        CHECK(same(&whole, &other), "%s: split at %zu differs", name, k);
    }
}

#define C(name, in, st, err, out, used) check_case(name, in, sizeof(in) - 1, 1 << 20, st, err, out, used)

/* test_basic - the table */
static void test_basic(void)
{
    C("simple", "hello\r\n.\r\n", DATA_DONE, DATA_OK, "hello\r\n", 10);
    C("empty message", ".\r\n", DATA_DONE, DATA_OK, "", 3);
    C("empty lines", "\r\n\r\n.\r\n", DATA_DONE, DATA_OK, "\r\n\r\n", 7);
    C("stuffed dot line", "..\r\n.\r\n", DATA_DONE, DATA_OK, ".\r\n", 7);
    C("stuffed dots", "..x\r\n.x\r\n...\r\n. \r\n.\r\n", DATA_DONE, DATA_OK, ".x\r\nx\r\n..\r\n \r\n", 21);
    C("dot inside line", "a.b\r\na.\r\n.\r\n", DATA_DONE, DATA_OK, "a.b\r\na.\r\n", 12);
    C("pipelined command after end", "a\r\n.\r\nMAIL FROM:<x@y.org>\r\n", DATA_DONE, DATA_OK, "a\r\n", 6);
    C("pipelined data after end", ".\r\n.\r\n", DATA_DONE, DATA_OK, "", 3);
    C("8-bit and NUL bytes pass", "\xc3\xa9\0x\r\n.\r\n", DATA_DONE, DATA_OK, NULL, 9);
    C("incomplete", "abc\r\n.", DATA_MORE, DATA_OK, "abc\r\n", 6);
    C("CR at the end waits", "abc\r", DATA_MORE, DATA_OK, "abc", 4);
    C("dot CR at the end waits", "abc\r\n.\r", DATA_MORE, DATA_OK, "abc\r\n", 7);
    C("nothing", "", DATA_MORE, DATA_OK, "", 0);
    /* bare LF / bare CR: refused at the offending byte */
    C("bare LF", "a\nb\r\n.\r\n", DATA_ERR_BARE_LF, DATA_OK, NULL, 1);
    C("bare LF at start", "\n.\r\n", DATA_ERR_BARE_LF, DATA_OK, NULL, 0);
    C("bare CR", "a\rb\r\n.\r\n", DATA_ERR_BARE_CR, DATA_OK, NULL, 2);
    C("CR CR LF", "a\r\r\n.\r\n", DATA_ERR_BARE_CR, DATA_OK, NULL, 2);
    C("smuggling CRLF.LF", "a\r\n.\nMAIL FROM:<x@y.org>\r\n", DATA_ERR_BARE_LF, DATA_OK, NULL, 4);
    C("smuggling LF.CRLF", "a\n.\r\nMAIL FROM:<x@y.org>\r\n", DATA_ERR_BARE_LF, DATA_OK, NULL, 1);
    C("smuggling LF.LF", "a\n.\n", DATA_ERR_BARE_LF, DATA_OK, NULL, 1);
    C("smuggling CR.CRLF", "a\r.\r\n", DATA_ERR_BARE_CR, DATA_OK, NULL, 2);
    C("smuggling CRLF.CR", "a\r\n.\rMAIL\r\n", DATA_ERR_BARE_CR, DATA_OK, NULL, 5);
    C("smuggling CRLF.CR.", "a\r\n.\r.\r\n", DATA_ERR_BARE_CR, DATA_OK, NULL, 5);
}

/* test_limits - 998-octet lines (RFC 5321 4.5.3.1.6) and the size cap */
static void test_limits(void)
{
    static char in[4096], want[4096];
    memset(in, 'x', 998);
    memcpy(in + 998, "\r\n.\r\n", 6);
    memcpy(want, in, 1000);
    want[1000] = '\0';
    check_case("line of 998", in, 1003, 1 << 20, DATA_DONE, DATA_OK, want, 1003);
    memset(in, 'x', 999);
    memcpy(in + 999, "\r\nok\r\n.\r\n", 10);
    check_case("line of 999", in, 1008, 1 << 20, DATA_DONE, DATA_LINE_TOO_LONG, "", 1008);
    in[0] = '.';
    memset(in + 1, 'x', 997);
    memcpy(in + 998, "\r\n.\r\n", 6);
    check_case("stuffed line of 998 as sent", in, 1003, 1 << 20, DATA_DONE, DATA_OK, NULL, 1003);
    memset(in + 1, 'x', 998);
    memcpy(in + 999, "\r\n.\r\n", 6);
    check_case("stuffed line of 999 as sent", in, 1004, 1 << 20, DATA_DONE, DATA_LINE_TOO_LONG, NULL, 1004);
    /* a bare LF still refuses at once after a deferred error */
    memset(in, 'x', 1200);
    memcpy(in + 1200, "\n.\r\n", 5);
    check_case("bare LF after long line", in, 1204, 1 << 20, DATA_ERR_BARE_LF, DATA_LINE_TOO_LONG, NULL, 1200);
    check_case("fits the cap", "0123456789\r\n.\r\n", 15, 12, DATA_DONE, DATA_OK, "0123456789\r\n", 15);
    check_case("over the cap", "0123456789\r\n.\r\n", 15, 11, DATA_DONE, DATA_TOO_BIG, "", 15);
    check_case("over the cap, read to the end", "0123456789\r\nabc\r\n..\r\n.\r\nQUIT\r\n", 30, 5, DATA_DONE,
               DATA_TOO_BIG, "", 24);
    /* a long message through big feeds */
    buf out;
    buf_init(&out, 1 << 22);
    data_reader dr;
    data_reader_init(&dr, &out);
    data_status st = DATA_MORE;
    static const char line[] = "The quick brown fox jumps over the lazy dog.\r\n..stuffed\r\n";
    for (int i = 0; i < 10000; i++)
        CHECK(data_reader_feed(&dr, line, sizeof line - 1, &st) == sizeof line - 1 && st == DATA_MORE, "big");
    CHECK(data_reader_feed(&dr, ".\r\n", 3, &st) == 3 && st == DATA_DONE, "big end");
    CHECK(out.len == 10000 * (sizeof line - 2) && dr.total == 10000 * (sizeof line - 1) + 3, "big sizes");
    buf_free(&out);
    /* data_reader_init appends after what the caller put in out (e.g. a Received: header) */
    buf_init(&out, 100);
    buf_append_str(&out, "Received: x\r\n");
    data_reader_init(&dr, &out);
    data_reader_feed(&dr, "a\r\n.\r\n", 6, &st);
    CHECK_STR(buf_cstr(&out), "Received: x\r\na\r\n", "prefix kept");
    buf_free(&out);
}

/* unescape - TSV C escapes */
static size_t unescape(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < len) {
            c = s[++i];
            c = c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

/* test_smtp_proto - data_receiver.tsv. Upstream delivers the content without the final
 * CRLF.CRLF; pochta keeps the CRLF that ends the last line (RFC 5321 4.1.1.4: it belongs to
 * the text), so a pochta body is the upstream one plus "\r\n". Upstream keeps bare CR/LF as
 * data; pochta refuses them at once (the README lists that as conformant too), so those rows
 * are explicit differences with the refusal we expect. */
static void test_smtp_proto(void)
{
    static const data_status pochta_says[] = {DATA_DONE, DATA_ERR_BARE_CR, DATA_ERR_BARE_LF, DATA_ERR_BARE_LF,
                                              DATA_ERR_BARE_CR, DATA_ERR_BARE_CR};
    const char *dir = getenv("POCHTA_SHARED");
    char path[1024], row[4096];
    snprintf(path, sizeof path, "%s/conformance/smtp/smtp-proto/data_receiver.tsv", dir ? dir : "../shared");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    int rows = 0, diffs = 0;
    while (fgets(row, sizeof row, f)) {
        row[strcspn(row, "\n")] = '\0';
        char *tab1 = strchr(row, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (row[0] == '#' || !tab2 || strncmp(row, "chunks\t", 7) == 0)
            continue;
        if (rows >= (int)(sizeof pochta_says / sizeof pochta_says[0])) {
            CHECK(0, "unexpected extra row %s", row);
            break;
        }
        /* chunks joined by " + ": feed them one by one, like separate reads */
        buf out;
        buf_init(&out, 1 << 20);
        data_reader dr;
        data_reader_init(&dr, &out);
        data_status st = DATA_MORE;
        char chunk[1024];
        for (char *p = row; p < tab1 && st == DATA_MORE;) {
            char *plus = strstr(p, " + ");
            char *end = plus && plus < tab1 ? plus : tab1;
            size_t n = unescape(p, (size_t)(end - p), chunk);
            size_t used = data_reader_feed(&dr, chunk, n, &st);
            CHECK(st != DATA_MORE || used == n, "row %d: chunk not consumed", rows + 1);
            p = end == tab1 ? tab1 : end + 3;
        }
        char want[1024];
        size_t wn = unescape(tab1 + 1, (size_t)(tab2 - tab1 - 1), want);
        CHECK(st == pochta_says[rows], "smtp-proto data row %d (%s): status %d want %d", rows + 1, tab2 + 1, st,
              pochta_says[rows]);
        if (pochta_says[rows] == DATA_DONE) {
            memcpy(want + wn, "\r\n", 3);
            CHECK(out.len == wn + 2 && memcmp(out.data, want, wn + 2) == 0, "row %d: body differs", rows + 1);
        } else {
            diffs++;
        }
        buf_free(&out);
        rows++;
    }
    fclose(f);
    printf("smtp-proto data_receiver: %d rows checked, %d refused by design (bare CR/LF)\n", rows, diffs);
    CHECK(rows == 6, "rows: %d", rows);
}

int main(void)
{
    test_basic();
    test_limits();
    test_smtp_proto();
    return check_summary();
}
