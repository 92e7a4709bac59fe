/*
 * test_queue_file - queue message file round trip, torn and hostile files,
 * state-file replay (last record wins, torn lines ignored).
 */
#include "check.h"
#include "queue/queue.h"
#include "queue/queue_file.h"

#include <stdlib.h>
#include <string.h>

/* sample - a message with every field set */
static queue_msg *sample(void)
{
    queue_msg *m = queue_msg_new(1 << 20);
    memcpy(m->id, "0123456789ABCDEF", QUEUE_ID_SIZE);
    m->sender = strdup("carol@good.sender.test");
    queue_msg_add_rcpt(m, "alice@example.test");
    queue_msg_add_rcpt(m, "bob@example.test");
    m->client_ip = strdup("192.0.2.7");
    m->client_name = strdup("unknown");
    m->helo = strdup("mx.sender.test");
    m->auth_user = strdup("carol");
    m->arrival = 1790000000;
    m->body_8bit = 1;
    /* body with record-like bytes and a NUL to prove the body is opaque */
    buf_append(&m->data, "Subject: x\r\n\r\nE0:\nM3:abc\n\0tail\r\n", 33);
    return m;
}

/* encode - the full file bytes of m */
static void encode(const queue_msg *m, buf *out)
{
    size_t tl;
    buf_init(out, 1 << 22);
    queue_file_header(m, out);
    buf_append(out, m->data.data, m->data.len);
    const char *t = queue_file_trailer(&tl);
    buf_append(out, t, tl);
}

static void test_round_trip(void)
{
    queue_msg *m = sample(), *r = NULL;
    buf f;
    char err[128];
    encode(m, &f);
    CHECK(queue_file_read(f.data, f.len, &r, err, sizeof err) == QUEUE_OK, "read: %s", err);
    if (r) {
        CHECK_STR(r->id, m->id, "id");
        CHECK_STR(r->sender, m->sender, "sender");
        CHECK(r->nrcpts == 2, "nrcpts %zu", r->nrcpts);
        CHECK_STR(r->rcpts[1], "bob@example.test", "rcpt 1");
        CHECK_STR(r->client_ip, "192.0.2.7", "ip");
        CHECK_STR(r->helo, "mx.sender.test", "helo");
        CHECK_STR(r->auth_user, "carol", "auth");
        CHECK(r->arrival == m->arrival, "arrival");
        CHECK(r->body_8bit == 1 && r->smtputf8 == 0 && r->junk == 0, "flags");
        CHECK(r->data.len == m->data.len && memcmp(r->data.data, m->data.data, m->data.len) == 0, "body");
    }
    queue_msg_free(r);
    /* the Junk flag (DMARC quarantine) survives a round trip */
    m->junk = 1;
    buf jf;
    encode(m, &jf);
    r = NULL;
    CHECK(queue_file_read(jf.data, jf.len, &r, err, sizeof err) == QUEUE_OK && r && r->junk == 1, "junk flag");
    queue_msg_free(r);
    buf_free(&jf);
    m->junk = 0;
    /* every proper prefix is torn */
    int bad = 0;
    for (size_t n = 0; n < f.len; n++) {
        r = NULL;
        if (queue_file_read(f.data, n, &r, err, sizeof err) == QUEUE_OK)
            bad++, fprintf(stderr, "prefix %zu accepted\n", n);
        queue_msg_free(r);
    }
    CHECK(bad == 0, "%d truncations accepted", bad);
    /* bytes after END */
    buf_append(&f, "x", 1);
    r = NULL;
    CHECK(queue_file_read(f.data, f.len, &r, err, sizeof err) == QUEUE_TEMPFAIL, "trailing byte accepted");
    buf_free(&f);
    queue_msg_free(m);
}

/* test_dsn_params - RET, ENVID and per-recipient NOTIFY/ORCPT survive a round trip;
 * a file without them (written before they existed) reads as defaults */
static void test_dsn_params(void)
{
    queue_msg *m = sample(), *r = NULL;
    buf f;
    char err[128];
    m->dsn_ret = QUEUE_RET_HDRS;
    m->dsn_envid = strdup("QQ314159 a+b=c");
    queue_msg_add_rcpt_dsn(m, "carol@example.test", QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE,
                           "rfc822;Carol+2Bx@Example.test");
    queue_msg_add_rcpt_dsn(m, "dave@example.test", QUEUE_NOTIFY_NEVER, NULL);
    encode(m, &f);
    CHECK(queue_file_read(f.data, f.len, &r, err, sizeof err) == QUEUE_OK, "read: %s", err);
    if (r) {
        CHECK(r->nrcpts == 4, "nrcpts %zu", r->nrcpts);
        CHECK(r->dsn_ret == QUEUE_RET_HDRS, "ret %d", r->dsn_ret);
        CHECK_STR(r->dsn_envid ? r->dsn_envid : "", "QQ314159 a+b=c", "envid");
        CHECK(r->rcpt_dsn[0].notify == 0 && r->rcpt_dsn[0].orcpt == NULL, "rcpt 0 defaults");
        CHECK(r->rcpt_dsn[2].notify == (QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE), "rcpt 2 notify");
        CHECK_STR(r->rcpt_dsn[2].orcpt ? r->rcpt_dsn[2].orcpt : "", "rfc822;Carol+2Bx@Example.test", "orcpt");
        CHECK(r->rcpt_dsn[3].notify == QUEUE_NOTIFY_NEVER && !r->rcpt_dsn[3].orcpt, "rcpt 3 never");
    }
    queue_msg_free(r);
    buf_free(&f);
    queue_msg_free(m);
    const char *old = "V1:1\nI16:0123456789ABCDEF\nA1:1\nS3:a@b\nR1:a\nR1:b\nF1:0\nM0:\nE0:\n";
    r = NULL;
    CHECK(queue_file_read(old, strlen(old), &r, err, sizeof err) == QUEUE_OK, "old file: %s", err);
    CHECK(r && r->dsn_ret == 0 && !r->dsn_envid && r->rcpt_dsn[1].notify == 0 && !r->rcpt_dsn[1].orcpt,
          "old file has default DSN parameters");
    queue_msg_free(r);
}

static void test_null_sender_no_auth(void)
{
    queue_msg *m = sample(), *r = NULL;
    free(m->sender);
    m->sender = strdup("");
    free(m->auth_user);
    m->auth_user = NULL;
    buf f;
    char err[128];
    encode(m, &f);
    CHECK(queue_file_read(f.data, f.len, &r, err, sizeof err) == QUEUE_OK, "read: %s", err);
    CHECK(r && r->sender && r->sender[0] == '\0', "null sender");
    CHECK(r && r->auth_user == NULL, "no auth");
    queue_msg_free(r);
    buf_free(&f);
    queue_msg_free(m);
}

static void test_bad_files(void)
{
    static const struct { const char *in; const char *why; } cases[] = {
        {"", "empty"},
        {"V1:1\nE0:\n", "no records"},
        {"V1:2\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM0:\nE0:\n", "bad version"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM9:\nE0:\n", "length past end"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM99999999999999999999:\nE0:\n", "huge length"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM-1:\nE0:\n", "negative length"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM01:x\nE0:\n", "leading zero"},
        {"V1:1\nI16:0123456789abcdef\nA1:1\nS0:\nR1:a\nF1:0\nM0:\nE0:\n", "lower-case id"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nF1:0\nM0:\nE0:\n", "no recipient"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM0:\nE1:x\n", "end with bytes"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM0:\nQ0:\nE0:\n", "unknown record"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nX0:\nR1:a\nF1:0\nM0:\nE0:\n", "empty envid"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nX2:a\n\nR1:a\nF1:0\nM0:\nE0:\n", "envid with a newline"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nW3:ALL\nR1:a\nF1:0\nM0:\nE0:\n", "bad ret"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nW4:FULL\nW4:HDRS\nR1:a\nF1:0\nM0:\nE0:\n", "two rets"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nP1:4\nR1:a\nF1:0\nM0:\nE0:\n", "P before any R"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nP1:4\nP1:2\nF1:0\nM0:\nE0:\n", "two P for one R"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nP1:9\nF1:0\nM0:\nE0:\n", "NEVER with DELAY"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nP2:16\nF1:0\nM0:\nE0:\n", "notify out of range"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nP9:4;rfc822\nF1:0\nM0:\nE0:\n", "orcpt without type"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nP12:4;rfc822;a\r\n\nF1:0\nM0:\nE0:\n", "orcpt with CR LF"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nS0:\nR1:a\nF1:0\nM0:\nE0:\n", "two senders"},
        {"V1:1\nI16:0123456789ABCDEF\nA2:1x\nS0:\nR1:a\nF1:0\nM0:\nE0:\n", "bad arrival"},
        {"V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM0:xE0:\n", "missing newline"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        queue_msg *r = NULL;
        char err[128];
        CHECK(queue_file_read(cases[i].in, strlen(cases[i].in), &r, err, sizeof err) == QUEUE_TEMPFAIL,
              "%s accepted", cases[i].why);
        queue_msg_free(r);
    }
    const char *good = "V1:1\nI16:0123456789ABCDEF\nA1:1\nS0:\nR1:a\nF1:0\nM0:\nE0:\n";
    queue_msg *r = NULL;
    char err[128];
    CHECK(queue_file_read(good, strlen(good), &r, err, sizeof err) == QUEUE_OK, "minimal: %s", err);
    queue_msg_free(r);
}

/* state_line - one formatted state record */
static void state_line(buf *b, const char *payload)
{
    queue_state_format(b, payload);
}

static void test_state_replay(void)
{
    buf b;
    buf_init(&b, 1 << 16);
    state_line(&b, "0 deferred 1 1000 disk full");
    state_line(&b, "1 deferred 1 1000 x");
    state_line(&b, "0 deferred 2 2000 still\nfull");  /* newline sanitised */
    state_line(&b, "1 done");
    state_line(&b, "2 part bob@example.test");
    state_line(&b, "2 bounced");
    state_line(&b, "9 done");              /* index out of range: ignored */
    buf_append_str(&b, "D99:0 done\n");    /* length mismatch: ignored */
    buf_append_str(&b, "garbage\n");
    state_line(&b, "3 deferred 1 5000 y");
    buf_append_str(&b, "D6:3 done");       /* torn last line: ignored */
    queue_rcpt_state st[4] = {0};
    size_t used = queue_state_parse(b.data, b.len, st, 4);
    CHECK(used == 7, "used %zu", used);
    CHECK(st[0].status == QRCPT_DEFERRED && st[0].attempts == 2 && st[0].next == 2000, "rcpt 0");
    CHECK_STR(st[0].reason, "still full", "rcpt 0 reason");
    CHECK(st[1].status == QRCPT_DONE, "rcpt 1 last wins");
    CHECK(st[2].status == QRCPT_BOUNCED, "rcpt 2 bounced");
    CHECK(queue_state_has_part(&st[2], "BOB@example.test"), "rcpt 2 part");
    CHECK(!queue_state_has_part(&st[1], "bob@example.test"), "rcpt 1 no part");
    CHECK(st[3].status == QRCPT_DEFERRED && st[3].next == 5000, "torn line ignored");
    /* a record appended after the torn tail on a fresh line counts */
    buf_append_char(&b, '\n');
    state_line(&b, "3 done");
    queue_state_free(st, 4);
    memset(st, 0, sizeof st);
    queue_state_parse(b.data, b.len, st, 4);
    CHECK(st[3].status == QRCPT_DONE, "record after torn tail");
    queue_state_free(st, 4);
    buf_free(&b);
}

static void test_ids(void)
{
    char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];
    queue_new_id(a);
    queue_new_id(b);
    CHECK(queue_id_valid(a) && queue_id_valid(b), "valid %s %s", a, b);
    CHECK(strcmp(a, b) != 0, "distinct");
    CHECK(!queue_id_valid("../../etc/passwd"), "path");
    CHECK(!queue_id_valid("0123456789ABCDEF0"), "long");
    CHECK(!queue_id_valid("0123456789ABCDE"), "short");
}

int main(void)
{
    test_round_trip();
    test_null_sender_no_auth();
    test_dsn_params();
    test_bad_files();
    test_state_replay();
    test_ids();
    return check_summary();
}
