/*
 * test_explain - `pochta explain` knows every failure the help-desk
 * articles list (issue 7): a got/want table of reply texts with the case
 * and reason expected, checked in English and in Russian (the Russian
 * text must differ from the English and be Cyrillic).
 */
#include "bounce/bounce.h"
#include "bounce/bounce_explain.h"
#include "check.h"

static const struct {
    const char *text, *id, *reason;
} cases[] = {
    {"554 5.7.1 <x@example.org>: Relay access denied", "relay_denied", "norelaying"},
    {"550 5.7.1 Unable to relay for x@example.org", "relay_denied", "norelaying"},
    {"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "rcpthosts", "norelaying"},
    {"0x800CCC79", "outlook_relay", "norelaying"},
    {"Error 0x800CCC0E: cannot connect to server", "outlook_connect", "networkerror"},
    {"550 5.7.23 SPF validation failed: example.com does not designate 192.0.2.1 as permitted sender", "spf", "authfailure"},
    {"550 5.7.1 Message failed SPF check", "spf", "authfailure"},
    {"550 5.7.20 DKIM signature verification failed", "dkim", "authfailure"},
    {"550 5.7.1 Email rejected per DMARC policy for example.com", "dmarc", "authfailure"},
    {"550 5.7.1 Message rejected as spam", "spam", "spamdetected"},
    {"554 5.7.1 Spam message discarded", "spam", "spamdetected"},
    {"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocklist", "blocked"},
    {"550 5.7.1 Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.1", "blocklist", "blocked"},
    {"554 Service unavailable; Client host blocked using Barracuda Reputation", "blocklist", "blocked"},
    {"550 5.7.1 Rejected: 192.0.2.1 listed at dnsbl.sorbs.net", "blocklist", "blocked"},
    {"550 5.7.1 Dynamic IP addresses not accepted, use your ISP's relay", "dynamic_ip", "blocked"},
    {"450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", "ptr", "requireptr"},
    {"550 5.7.25 The sending IP does not have a PTR record", "ptr", "requireptr"},
    {"550 5.1.1 Sender verify failed: callout verification failure", "callout", "rejected"},
    {"550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table", "user_unknown", "userunknown"},
    {"550 No such user here", "user_unknown", "userunknown"},
    {"552 5.2.2 Mailbox full", "mailbox_full", "mailboxfull"},
    {"452 4.2.2 Quota exceeded (mailbox for user is full)", "mailbox_full", "mailboxfull"},
    {"550 5.2.1 Mailbox disabled for this recipient", "mailbox_disabled", "suspend"},
    {"550 5.2.1 The email account that you tried to reach is disabled", "mailbox_disabled", "suspend"},
    {"550 5.7.1 Sending has been disabled for this account", "sending_disabled", "rejected"},
    {"451 4.7.1 Rate limit exceeded, try again later", "rate_limit", "speeding"},
    {"421 4.7.0 Too many connections from your IP", "too_many_conn", "toomanyconn"},
    {"452 4.5.3 Too many recipients", "too_many_rcpts", "toomanyconn"},
    {"552 5.3.4 Message size exceeds fixed maximum message size", "too_big", "mesgtoobig"},
    {"554 5.7.0 Virus found: Eicar-Test-Signature", "virus", "virusdetected"},
    {"450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/", "greylist", "onhold"},
    {"Synthatically invalid HELO argument(s)", "helo", "blocked"},
    {"504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", "helo", "blocked"},
    {"553 5.7.1 <alice@example.org>: Sender address rejected: not owned by user bob@example.org", "from_mismatch", "rejected"},
    {"530 5.7.0 Authentication required", "auth_required", "securityerror"},
    {"530 5.7.0 Must issue a STARTTLS command first", "tls_required", "securityerror"},
    {"connect to mx.example.org[192.0.2.1]:25: Connection refused", "conn_refused", "networkerror"},
    {"connect to mx.example.org[192.0.2.1]:25: Connection timed out", "conn_refused", "networkerror"},
    {"Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found", "dns_error", "hostunknown"},
    {"452 Space shortage, please try later", "space_shortage", "systemfull"},
};

/* has_cyrillic - whether s holds a Cyrillic letter (UTF-8 lead bytes 0xD0/0xD1) */
static int has_cyrillic(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s == 0xD0 || (unsigned char)*s == 0xD1)
            return 1;
    return 0;
}

int main(void)
{
    CHECK(bounce_init() == 0, "rules compile");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bounce_explanation en, ru;
        CHECK(bounce_explain(cases[i].text, "en", &en) == 0, "explain %s", cases[i].text);
        CHECK(bounce_explain(cases[i].text, "ru", &ru) == 0, "explain ru %s", cases[i].text);
        CHECK_STR(en.id, cases[i].id, cases[i].text);
        CHECK_STR(en.reason, cases[i].reason, cases[i].text);
        CHECK_STR(ru.reason, cases[i].reason, cases[i].text);
        CHECK(en.meaning && en.meaning[0] && en.fix && en.fix[0] && en.who && en.who[0],
              "English explanation complete for %s", cases[i].text);
        CHECK(has_cyrillic(ru.meaning) && has_cyrillic(ru.fix) && has_cyrillic(ru.who),
              "Russian explanation for %s", cases[i].text);
        CHECK(!has_cyrillic(en.meaning) && !has_cyrillic(en.fix), "English stays English for %s", cases[i].text);
    }
    /* codes are read from the text */
    bounce_explanation e;
    bounce_explain("550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", "en", &e);
    CHECK_STR(e.status, "5.1.1", "status read");
    CHECK_STR(e.reply_code, "550", "reply read");
    CHECK(e.hard, "user unknown is a hard bounce");
    bounce_explain("452 4.2.2 Mailbox full", "en", &e);
    CHECK(!e.hard, "mailbox full is soft");
    /* unknown text still gets an answer */
    CHECK(bounce_explain("something nobody has ever said", "en", &e) == 0 && e.fix && e.fix[0], "fallback");
    CHECK(bounce_explain("", "ru", &e) == 0 && e.meaning, "empty text");
    return check_summary();
}
