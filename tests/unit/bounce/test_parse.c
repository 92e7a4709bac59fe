/*
 * test_parse - the bounce parser on messages built here: an RFC 3464
 * report, free-text notices in quoted-printable and base64 with KOI8-R,
 * Windows-1251 and ISO-8859-1 text and RFC 2047 subjects, an auto-reply,
 * a feedback report, a plain message, and hostile input (empty, garbage,
 * oversize). Each case checks the fields the CLI prints.
 */
#include "bounce/bounce.h"
#include "check.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* parse - parse a C string */
static bounce_report parse(const char *msg)
{
    bounce_report r;
    CHECK(bounce_parse(msg, strlen(msg), &r) == BOUNCE_PARSE_OK, "parse ok");
    return r;
}

/* encode - text (UTF-8) converted to charset and base64'd; caller g_free()s */
static char *encode_b64(const char *utf8, const char *charset)
{
    gsize n = 0;
    char *conv = g_convert(utf8, -1, charset, "UTF-8", NULL, &n, NULL);
    char *b64 = g_base64_encode((const guchar *)conv, n);
    g_free(conv);
    return b64;
}

static void test_rfc3464(void)
{
    const char *msg =
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: alice@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail system\r\n\r\n"
        "<bob@example.com>: host mx.example.com[192.0.2.7] said: 550 5.1.1 <bob@example.com>:\r\n"
        "    Recipient address rejected: User unknown (in reply to RCPT TO command)\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.com\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address\r\n"
        "    rejected: User unknown\r\n\r\n"
        "Final-Recipient: rfc822; carol@example.com\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
        "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <m1@example.org>\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
        "Subject: =?KOI8-R?B?8NLJ18XU?=\r\n\r\n--B--\r\n";
    bounce_report r = parse(msg);
    CHECK(r.kind == BOUNCE_KIND_DSN, "kind dsn");
    CHECK(r.nrcpt == 2, "two recipients, got %zu", r.nrcpt);
    if (r.nrcpt == 2) {
        CHECK_STR(r.rcpt[0].recipient, "bob@example.com", "first in report order");
        CHECK_STR(r.rcpt[0].status, "5.1.1", "status");
        CHECK_STR(r.rcpt[0].reply_code, "550", "reply");
        CHECK_STR(r.rcpt[0].reason, "userunknown", "reason");
        CHECK(r.rcpt[0].hard, "user unknown is hard");
        CHECK_STR(r.rcpt[0].remote_mta, "mx.example.com", "remote mta");
        CHECK_STR(r.rcpt[0].action, "failed", "action");
        CHECK_STR(r.rcpt[1].recipient, "carol@example.com", "second");
        CHECK_STR(r.rcpt[1].reason, "mailboxfull", "mailbox full");
        CHECK_STR(r.rcpt[1].status, "4.2.2", "delayed status");
        CHECK(!r.rcpt[1].hard, "mailbox full is soft");
    }
    CHECK_STR(r.reporting_mta, "mx.example.net", "reporting mta");
    CHECK_STR(r.original.message_id, "<m1@example.org>", "original id");
    CHECK_STR(r.original.subject, "Привет", "RFC 2047 KOI8-R subject decoded");
    CHECK(r.original.from && strstr(r.original.from, "alice@example.org"), "original from");
    bounce_report_free(&r);
}

static void test_qmail_qp(void)
{
    const char *msg =
        "From: MAILER-DAEMON@mail.example.net\r\nTo: alice@example.org\r\nSubject: failure notice\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Hi. This is the qmail-send program at mail.example.net.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        "<dave@example.com>:\r\n192.0.2.9 does not like recipient.\r\n"
        "Remote host said: 552 5.2.2 <dave@example.com>... Mailbox=\r\n Full\r\n"
        "Giving up on 192.0.2.9.\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        "Message-ID: <q1@example.org>\r\nFrom: alice@example.org\r\nTo: dave@example.com\r\n"
        "Subject: hello\r\n\r\nbody\r\n";
    bounce_report r = parse(msg);
    CHECK(r.nrcpt == 1, "one recipient, got %zu", r.nrcpt);
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].recipient, "dave@example.com", "free-text recipient");
        CHECK_STR(r.rcpt[0].status, "5.2.2", "status in text");
        CHECK_STR(r.rcpt[0].reason, "mailboxfull", "soft line break undone");
    }
    CHECK_STR(r.original.message_id, "<q1@example.org>", "inline original headers");
    CHECK_STR(r.original.subject, "hello", "inline subject");
    bounce_report_free(&r);
}

/* russian_bounce - a free-text notice in charset, base64, with an RFC 2047 subject */
static void russian_bounce(const char *charset, const char *text, const char *want_reason)
{
    char *b64 = encode_b64(text, charset);
    char *subj = encode_b64("Письмо не доставлено", charset);
    char *msg = g_strdup_printf(
        "From: Mailer Daemon <mailer-daemon@mx.example.ru>\r\nTo: alice@example.org\r\n"
        "Subject: =?%s?B?%s?=\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
        charset, subj, charset, b64);
    bounce_report r = parse(msg);
    CHECK(r.kind == BOUNCE_KIND_DSN, "%s: recognised as a bounce", charset);
    CHECK(r.nrcpt == 1, "%s: one recipient, got %zu", charset, r.nrcpt);
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].recipient, "ivan@example.ru", charset);
        CHECK_STR(r.rcpt[0].reason, want_reason, charset);
        CHECK(strstr(r.rcpt[0].diagnostic, "не") != NULL, "%s: diagnostic decoded to UTF-8: %s", charset,
              r.rcpt[0].diagnostic);
    }
    bounce_report_free(&r);
    g_free(msg);
    g_free(b64);
    g_free(subj);
}

static void test_latin1_qp(void)
{
    const char *msg =
        "From: =?ISO-8859-1?Q?Syst=E8me_de_messagerie?= <postmaster@example.fr>\r\n"
        "To: alice@example.org\r\nSubject: =?ISO-8859-1?Q?Non_remis_=E0_son_destinataire?=\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Le message n'a pas pu =EAtre remis.\r\n\r\n"
        "<jean@example.fr>: 550 5.1.1 Adresse d=E9sactiv=E9e: user unknown\r\n";
    bounce_report r = parse(msg);
    CHECK(r.nrcpt == 1, "latin1: one recipient, got %zu", r.nrcpt);
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].reason, "userunknown", "latin1 reason");
        CHECK(strstr(r.rcpt[0].diagnostic, "désactivée") != NULL, "latin1 decoded: %s", r.rcpt[0].diagnostic);
    }
    bounce_report_free(&r);
}

static void test_autoreply(void)
{
    const char *msg =
        "From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: Out of Office: hello\r\n"
        "Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n";
    bounce_report r = parse(msg);
    CHECK(r.kind == BOUNCE_KIND_AUTOREPLY, "auto-reply recognised");
    CHECK(r.nrcpt == 1 && !strcmp(r.rcpt[0].reason, "vacation") && !r.rcpt[0].hard, "vacation, not a failure");
    bounce_report_free(&r);
    const char *ru =
        "From: ivan@example.ru\r\nTo: alice@example.org\r\n"
        "Subject: =?UTF-8?B?0JDQstGC0L7QvtGC0LLQtdGCOiDQv9GA0LjQstC10YI=?=\r\n\r\nЯ в отпуске.\r\n";
    r = parse(ru);
    CHECK(r.kind == BOUNCE_KIND_AUTOREPLY, "Russian auto-reply subject recognised");
    bounce_report_free(&r);
}

static void test_not_bounce(void)
{
    bounce_report r = parse("From: bob@example.com\r\nTo: alice@example.org\r\nSubject: lunch?\r\n\r\n"
                            "Meet at noon? Mail me at carol@example.com.\r\n");
    CHECK(r.kind == BOUNCE_KIND_NONE && r.nrcpt == 0, "a plain message is not a bounce");
    bounce_report_free(&r);
}

static void test_feedback(void)
{
    const char *msg =
        "From: fbl@isp.example\r\nTo: abuse@example.org\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n"
        "--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        "Original-Rcpt-To: user1@isp.example\r\nOriginal-Rcpt-To: user2@isp.example\r\n"
        "--F--\r\n";
    bounce_report r = parse(msg);
    CHECK(r.kind == BOUNCE_KIND_FEEDBACK && r.nrcpt == 2, "feedback with two recipients");
    if (r.nrcpt == 2)
        CHECK(!strcmp(r.rcpt[1].reason, "feedback") && !r.rcpt[1].hard, "feedback is not a failure");
    bounce_report_free(&r);
}

static void test_hostile(void)
{
    bounce_report r;
    CHECK(bounce_parse("", 0, &r) == BOUNCE_PARSE_OK && r.nrcpt == 0, "empty input");
    bounce_report_free(&r);
    CHECK(bounce_parse("\x01\x02\xff\xfe\n\n\n", 7, &r) == BOUNCE_PARSE_OK && r.nrcpt == 0, "garbage");
    bounce_report_free(&r);
    size_t big = BOUNCE_MAX_INPUT + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    CHECK(bounce_parse(huge, big, &r) == BOUNCE_PARSE_TOO_BIG, "oversize refused");
    bounce_report_free(&r);
    /* a long diagnostic is cut to BOUNCE_MAX_DIAG */
    GString *g = g_string_new("From: MAILER-DAEMON@x.example\r\nSubject: Undelivered Mail\r\nTo: a@example.org\r\n\r\n"
                              "<z@example.com>: 550 5.1.1 ");
    for (int i = 0; i < 5000; i++)
        g_string_append(g, "unknown ");
    r = parse(g->str);
    CHECK(r.nrcpt == 1 && strlen(r.rcpt[0].diagnostic) <= BOUNCE_MAX_DIAG, "diagnostic capped");
    bounce_report_free(&r);
    g_string_free(g, TRUE);
    free(huge);
}

int main(void)
{
    CHECK(bounce_init() == 0, "rules compile");
    test_rfc3464();
    test_qmail_qp();
    russian_bounce("KOI8-R", "Сообщение не доставлено.\n\n<ivan@example.ru>: 550 Пользователь не найден\n", "userunknown");
    russian_bounce("windows-1251", "Ваше письмо не доставлено.\n\n<ivan@example.ru>: 552 Почтовый ящик переполнен\n", "mailboxfull");
    russian_bounce("UTF-8", "Письмо не доставлено.\n\n<ivan@example.ru>: 550 Адрес не существует\n", "userunknown");
    test_latin1_qp();
    test_autoreply();
    test_not_bounce();
    test_feedback();
    test_hostile();
    return check_summary();
}
