/*
 * test_maildrop - a POP3 maildrop over a temp Maildir: delivery order from
 * the name's time, UIDs (base name, stable across a move to cur/ with
 * flags; SHA-256 for names unusable as a unique-id), RETR and TOP content
 * (CRLF, dot-stuffing) as got/want tables, and expunge with maildirsize.
 */
#include "check.h"
#include "pop3/pop3_maildrop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* put - write text to root/name */
static void put(const char *root, const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static const char msg_a[] = "Subject: a\r\nX: 1\r\n\r\nbody 1\r\n.dot line\r\nbody 3\r\n";
static const char msg_lf[] = "Subject: lf\n\nbare lf\n..two dots\nno final newline";

int main(void)
{
    char root[] = "/tmp/pochta-drop-XXXXXX", p[700], err[256];
    if (!mkdtemp(root))
        return 1;
    snprintf(p, sizeof p, "%s/new", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/cur", root);
    mkdir(p, 0700);
    /* same second: the microseconds decide (numerically: M900 before M10000) */
    put(root, "new/1700000000.M10000P1Q2.host,S=46", msg_a);
    put(root, "new/1700000000.M900P1Q1.host,S=60", msg_lf);
    put(root, "cur/1600000000.M5P1Q1.host:2,S", "Subject: old\r\n\r\nold\r\n");
    char longname[200];
    snprintf(longname, sizeof longname, "new/1800000000.M1P1Q1.%0120d", 7);
    put(root, longname, "Subject: long\r\n\r\nx\r\n");
    put(root, "new/.hidden", "not a message");

    pop3_maildrop *d = NULL;
    CHECK(pop3_maildrop_open(root, &d, err, sizeof err) == 0 && d && d->n == 4, "open: %s", err);
    if (!d)
        return check_summary();
    CHECK_STR(d->msg[0].uid, "1600000000.M5P1Q1.host", "uid without flags");
    CHECK_STR(d->msg[1].uid, "1700000000.M900P1Q1.host,S=60", "usec order 1");
    CHECK_STR(d->msg[2].uid, "1700000000.M10000P1Q2.host,S=46", "usec order 2");
    CHECK(strlen(d->msg[3].uid) == 64 && strspn(d->msg[3].uid, "0123456789abcdef") == 64, "long name hashed");
    CHECK(d->msg[2].size == strlen(msg_a), "size is file size");

    static const struct {
        size_t i;
        long lines;
        const char *want;
    } reads[] = {
        {2, -1, "Subject: a\r\nX: 1\r\n\r\nbody 1\r\n..dot line\r\nbody 3\r\n"},
        {2, 0, "Subject: a\r\nX: 1\r\n\r\n"},
        {2, 2, "Subject: a\r\nX: 1\r\n\r\nbody 1\r\n..dot line\r\n"},
        {2, 99, "Subject: a\r\nX: 1\r\n\r\nbody 1\r\n..dot line\r\nbody 3\r\n"},
        {1, -1, "Subject: lf\r\n\r\nbare lf\r\n...two dots\r\nno final newline\r\n"},
        {1, 1, "Subject: lf\r\n\r\nbare lf\r\n"},
    };
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++) {
        buf out;
        buf_init(&out, 16);
        CHECK(pop3_maildrop_read(d, reads[k].i, reads[k].lines, &out, err, sizeof err) == 0, "read %zu", k);
        CHECK_STR(buf_cstr(&out), reads[k].want, "read content");
        buf_free(&out);
    }

    /* another reader moves message 3 to cur/ with flags: found again, same UID */
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/new/1700000000.M10000P1Q2.host,S=46", root);
    snprintf(to, sizeof to, "%s/cur/1700000000.M10000P1Q2.host,S=46:2,S", root);
    CHECK(rename(from, to) == 0, "rename");
    buf out;
    buf_init(&out, 16);
    CHECK(pop3_maildrop_read(d, 2, 0, &out, err, sizeof err) == 0, "read moved");
    buf_free(&out);
    pop3_maildrop *again = NULL;
    CHECK(pop3_maildrop_open(root, &again, err, sizeof err) == 0 && again->n == 4 &&
              strcmp(again->msg[2].uid, d->msg[2].uid) == 0, "uid stable after move");
    pop3_maildrop_free(again);

    /* expunge: the moved file and the old one; maildirsize gets the negative delta */
    put(root, "maildirsize", "1000S\n152 4\n");
    d->msg[0].deleted = d->msg[2].deleted = 1;
    size_t removed = 0;
    CHECK(pop3_maildrop_expunge(d, &removed, err, sizeof err) == 0 && removed == 2, "expunge: %s", err);
    CHECK(access(to, F_OK) != 0, "moved file deleted");
    snprintf(p, sizeof p, "%s/maildirsize", root);
    FILE *f = fopen(p, "rb");
    char text[200] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    char want[200];
    snprintf(want, sizeof want, "1000S\n152 4\n-%zu -2\n", d->msg[0].size + d->msg[2].size);
    CHECK_STR(text, want, "maildirsize delta");
    pop3_maildrop_free(d);

    /* a mailbox that never got mail is an empty maildrop */
    char none[800];
    snprintf(none, sizeof none, "%s/nobody", root);
    CHECK(pop3_maildrop_open(none, &d, err, sizeof err) == 0 && d->n == 0 && d->total == 0, "empty");
    pop3_maildrop_free(d);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
