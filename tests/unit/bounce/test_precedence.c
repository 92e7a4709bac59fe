/*
 * test_precedence - which of the report's facts decides the reason when
 * they disagree: the DSN status, the stage, the server's words, the
 * Diagnostic-Code type, the action; and which addresses of a free-text
 * notice are failed recipients. Got/want tables over messages built here.
 */
#include "bounce/bounce.h"
#include "check.h"

#include <glib.h>
#include <string.h>

/* dsn_case - one RFC 3464 recipient group and the reason and status wanted */
typedef struct dsn_case {
    const char *name, *action, *status, *diag, *want_reason, *want_status;
} dsn_case;

static const dsn_case dsn_cases[] = {
    {"X-Unix output decides over a user-unknown status", "failed", "5.1.1",
     "X-Unix; procmail: cannot open mailbox: No such user", "mailererror", "5.1.1"},
    {"X-Unix output naming a full mailbox stays mailboxfull", "failed", "4.3.0",
     "x-unix; Quota exceeded, delivery to /var/mail/bob failed", "mailboxfull", "4.3.0"},
    {"x.2.1 with user-unknown words and no RCPT stage is the mailbox's filter", "failed", "5.2.1",
     "smtp; 550 5.2.1 <bob@example.com>... User Unknown", "filtered", "5.2.1"},
    {"x.2.1 refused at RCPT stays userunknown", "failed", "5.2.1",
     "smtp; 550 5.2.1 <bob@example.com>: User unknown (in reply to RCPT TO command)", "userunknown", "5.2.1"},
    {"still being retried with a vague status is expired", "delayed", "4.4.0", NULL, "expired", "4.4.0"},
    {"a final vague temporary status says nothing: onhold", "failed", "4.3.0",
     "smtp; 451 4.3.0 Message not delivered, please try again later", "onhold", "4.3.0"},
    {"x.4.7 quoting a DNS failure: the last error is the reason", "failed", "4.4.7",
     "smtp; Deferred: Name server: example.com.: host name lookup failure", "networkerror", "4.4.7"},
    {"x.4.7 with no recognised last error stays expired", "failed", "4.4.7",
     "smtp; Message could not be delivered for 5 days", "expired", "4.4.7"},
    {"a connection the receiver refused is blocked", "failed", "4.4.1",
     "smtp; Deferred: Connection refused by mx.example.com.", "blocked", "4.4.1"},
    {"our host refused as an open relay is blocked, not norelaying", "failed", "5.7.1",
     "smtp; 550 5.7.1 Your host 192.0.2.1 is an open relay", "blocked", "5.7.1"},
};

/* dsn_message - a report with one recipient group built from c; caller g_free()s */
static char *dsn_message(const dsn_case *c)
{
    return g_strdup_printf(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alice@example.org\r\nSubject: Delivery Status Notification\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\nAction: %s\r\nStatus: %s\r\n%s%s%s\r\n--B--\r\n",
        c->action, c->status, c->diag ? "Diagnostic-Code: " : "", c->diag ? c->diag : "", c->diag ? "\r\n" : "");
}

static void test_dsn_cases(void)
{
    for (size_t i = 0; i < sizeof dsn_cases / sizeof dsn_cases[0]; i++) {
        const dsn_case *c = &dsn_cases[i];
        char *msg = dsn_message(c);
        bounce_report r;
        CHECK(bounce_parse(msg, strlen(msg), &r) == BOUNCE_PARSE_OK && r.nrcpt == 1, "%s: one recipient", c->name);
        if (r.nrcpt == 1) {
            CHECK_STR(r.rcpt[0].reason, c->want_reason, c->name);
            CHECK_STR(r.rcpt[0].status, c->want_status, c->name);
        }
        bounce_report_free(&r);
        g_free(msg);
    }
}

/* parse_str - parse a C string */
static bounce_report parse_str(const char *msg)
{
    bounce_report r;
    CHECK(bounce_parse(msg, strlen(msg), &r) == BOUNCE_PARSE_OK, "parse ok");
    return r;
}

static void test_status_comment(void)
{
    /* no Diagnostic-Code: the comment of the Status field is the diagnostic */
    bounce_report r = parse_str(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alice@example.org\r\nSubject: Returned mail\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\nAction: delayed\r\n"
        "Status: 4.0.0 (example.com: host name lookup failure)\r\n\r\n--B--\r\n");
    CHECK(r.nrcpt == 1, "one recipient");
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].diagnostic, "example.com: host name lookup failure", "status comment");
        CHECK_STR(r.rcpt[0].reason, "networkerror", "status comment classified");
    }
    bounce_report_free(&r);
}

static void test_unsubscribe(void)
{
    bounce_report r = parse_str("From: bob@example.com\r\nTo: unsub-123@lists.example.org\r\nSubject: unsubscribe\r\n"
                                "Auto-Submitted: auto-replied\r\n\r\nThis mail program sent this to unsubscribe.\r\n");
    CHECK(r.kind == BOUNCE_KIND_FEEDBACK && r.nrcpt == 1, "automatic unsubscribe request is feedback");
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].recipient, "bob@example.com", "the person opting out");
        CHECK_STR(r.rcpt[0].reason, "feedback", "reason");
        CHECK(!r.rcpt[0].hard, "not a hard bounce");
    }
    bounce_report_free(&r);
}

static void test_help_address(void)
{
    /* the address to ask for help, quoted again in another language, is not a failed recipient */
    bounce_report r = parse_str(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alice@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
        "For further assistance, please contact <help@example.net>\r\n"
        "Bei Fragen: <help@example.net>\r\n\r\n"
        "<bob@example.com>: host mx.example.com[192.0.2.7] said: 552 5.2.2 Mailbox full\r\n");
    CHECK(r.nrcpt == 1, "one recipient, got %zu", r.nrcpt);
    if (r.nrcpt == 1) {
        CHECK_STR(r.rcpt[0].recipient, "bob@example.com", "the failed address");
        CHECK_STR(r.rcpt[0].reason, "mailboxfull", "its reason");
    }
    bounce_report_free(&r);
}

static void test_sendmail_sessions(void)
{
    /* the transcript of a session explains the "<addr>... Remote protocol error" line after it;
     * the next "While talking to" belongs to the next recipient */
    bounce_report r = parse_str(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\r\nTo: alice@example.org\r\n"
        "Subject: Returned mail: Remote protocol error\r\n\r\n"
        "   ----- Transcript of session follows -----\r\n"
        "While talking to mx.example.com:\r\n>>> MAIL From:<alice@example.org>\r\n"
        "<<< 550 Relaying denied\r\n"
        "554 <bob@example.com>... Remote protocol error\r\n"
        "While talking to mx.example.edu:\r\n>>> RCPT To:<carol@example.edu>\r\n"
        "<<< 550 <carol@example.edu>... User unknown\r\n"
        "550 <carol@example.edu>... User unknown\r\n");
    CHECK(r.nrcpt == 2, "two recipients, got %zu", r.nrcpt);
    if (r.nrcpt == 2) {
        CHECK_STR(r.rcpt[0].reason, "norelaying", "first: its own session's reply");
        CHECK_STR(r.rcpt[1].reason, "userunknown", "second: its own session's reply");
    }
    bounce_report_free(&r);
}

int main(void)
{
    CHECK(bounce_init() == 0, "rules compile");
    test_dsn_cases();
    test_status_comment();
    test_unsubscribe();
    test_help_address();
    test_sendmail_sessions();
    return check_summary();
}
