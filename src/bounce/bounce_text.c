/*
 * bounce_text - read the free-text notices of MTAs that send no RFC 3464
 * part (qmail, Exim, older Sendmail, Exchange, webmail providers) and the
 * human-readable part of those that do: where the notice ends and the copy
 * of the returned message begins, which addresses it names as failed, the
 * lines it says about each, the SMTP stage and the remote host.
 *
 * The notice is UTF-8 (bounce_mime). Markers are patterns, not per-MTA code:
 * a line of dashes or a sentence announcing the original message, in
 * English or Russian, or the first header block of the copy.
 */
#include "bounce/bounce_internal.h"
#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNCE_CONTEXT_LINES 12

static pcre2_code *re_marker, *re_addr, *re_hdrline, *re_helpline, *re_stage, *re_host, *re_transcript, *re_stage_words;

/* text_init - compile this file's patterns once */
static bool text_init(void)
{
    if (re_addr)
        return true;
    re_marker = bounce_re_compile(
        "(?m)^[ \\t>|]*(?:[-=_*]{2,}.{0,40}(?:original|returned|undelivered|copy of|below this line|headers? of|message (?:headers|follows)|unsent message|исходн|оригинал)"
        "|(?:below this line is a copy|this is a copy of the message|the (?:original|returned) message (?:follows|headers)|original message (?:follows|headers)|(?:headers|copy) of (?:the |your )?(?:original|returned) message"
        "|included is a copy of|message headers follow|your message (?:reads|follows)|here is a copy of|исходное сообщение|текст (?:исходного )?сообщения)"
        "|content-type: (?:message/rfc822|text/rfc822-headers))");
    re_addr = bounce_re_compile(
        "(?<![\\w.+=-])([a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+[a-z][a-z0-9-]*[a-z0-9])(?![\\w-])");
    re_hdrline = bounce_re_compile(
        "^\\s*(?:message-id|in-reply-to|references|return-path|received|from|sender|reply-to|date|subject|cc|x-[\\w-]+|content-[\\w-]+|mime-version|dkim-signature|reporting-mta|arrival-date|envelope-from|by|from:|с уважением)\\s*[:;]");
    /* a line naming whom to ask for help ("please contact <postmaster@...>"), not a failed recipient */
    re_helpline = bounce_re_compile("(?:please|you (?:can|may|should)) contact|for (?:further |more )?(?:assistance|help|information)|contact (?:the|your) (?:postmaster|administrator|helpdesk)");
    re_stage = bounce_re_compile(
        "(?:after|in reply to|in response to|while (?:sending|talking)|during|>>>|command:?|on|\\[|smtp:|did not like our)\\s*(?:the\\s+)?(?:end of\\s+)?\\b(rcpt to|rcpt_to|rcpt|mail from|mail_from|data|helo|ehlo|starttls|auth|connect|connection|greeting|banner|initial connection|dot|message body)\\b");
    /* a transcript: the command the error answered is the last ">>>" line before "<<< 4xx/5xx" */
    re_transcript = bounce_re_compile(
        ">>>\\s*(rcpt to|mail from|data|helo|ehlo|starttls|auth|\\.)[^\\n]*\\n(?:<<<\\s*[123]\\d\\d[^\\n]*\\n|>>>[^\\n]*\\n)*<<<\\s*[45]\\d\\d");
    re_stage_words = bounce_re_compile("does not (like) recipient|but (sender) was rejected|but my (name) was rejected");
    re_host = bounce_re_compile(
        "(?:host|server|mx|by|from|talking to|remote[- ]mta:?|connect to)\\s+\\[?([a-z0-9][a-z0-9.-]*\\.[a-z]{2,}|\\d{1,3}(?:\\.\\d{1,3}){3})\\.?\\]?");
    return re_marker && re_addr && re_hdrline && re_helpline && re_stage && re_host && re_transcript && re_stage_words;
}

size_t bounce_notice_end(const char *body, size_t len)
{
    size_t ov[2];
    if (!text_init())
        return len;
    /* one multi-line search: the match starts at the marker line's first byte */
    return bounce_re_find(re_marker, body, len, 0, ov, 1) ? ov[0] : len;
}

/* text_skipped - whether addr is one of skip[] (case-insensitive) */
static bool text_skipped(const char *addr, size_t n, const char *const *skip)
{
    for (size_t i = 0; skip && skip[i]; i++)
        if (strlen(skip[i]) == n && strncasecmp(skip[i], addr, n) == 0)
            return true;
    return false;
}

/* text_scan - add addresses of notice not in skip; those on header-like and help lines too when headers */
static size_t text_scan(const char *notice, size_t len, const char *const *skip, bool headers, bounce_report *r)
{
    size_t added = 0, off = 0, ov[4];
    while (off < len && bounce_re_find(re_addr, notice, len, off, ov, 2)) {
        const char *a = notice + ov[2];
        size_t an = ov[3] - ov[2];
        off = ov[1] > off ? ov[1] : off + 1;
        size_t ls = ov[2];
        while (ls > 0 && notice[ls - 1] != '\n')
            ls--;
        const char *le = memchr(notice + ls, '\n', len - ls);
        size_t llen = le ? (size_t)(le - notice) - ls : len - ls;
        if (!headers && (bounce_re_find(re_hdrline, notice + ls, llen, 0, NULL, 1) ||
                         bounce_re_find(re_helpline, notice + ls, llen, 0, NULL, 1)))
            continue;
        char *tmp = xstrndup(a, an);
        if (!text_skipped(a, an, skip) && !bounce_rcpt_find(r, tmp) && bounce_rcpt_add(r, a, an))
            added++;
        free(tmp);
    }
    return added;
}

/* text_help_addr - whether addr is named on a help line of notice ("please contact <support@...>") */
static bool text_help_addr(const char *notice, size_t len, const char *addr)
{
    size_t pos = 0, alen = strlen(addr);
    while (pos < len) {
        const char *nl = memchr(notice + pos, '\n', len - pos);
        size_t lend = nl ? (size_t)(nl - notice) : len;
        for (size_t i = pos; alen && i + alen <= lend; i++)
            if (strncasecmp(notice + i, addr, alen) == 0) {
                if (bounce_re_find(re_helpline, notice + pos, lend - pos, 0, NULL, 1))
                    return true;
                break;
            }
        pos = lend + 1;
    }
    return false;
}

/* text_drop_help - remove the recipients from index first on that the notice names as whom to ask for help */
static size_t text_drop_help(const char *notice, size_t len, size_t first, bounce_report *r)
{
    size_t kept = first, dropped = 0;
    for (size_t i = first; i < r->nrcpt; i++) {
        bounce_rcpt *rc = &r->rcpt[i];
        /* keep the last one when every address found is a help address */
        if (kept == first && i + 1 == r->nrcpt) {
            r->rcpt[kept++] = *rc;
            continue;
        }
        if (text_help_addr(notice, len, rc->recipient)) {
            free(rc->recipient);
            free(rc->diagnostic);
            free(rc->remote_mta);
            dropped++;
            continue;
        }
        r->rcpt[kept++] = *rc;
    }
    r->nrcpt = kept;
    return dropped;
}

size_t bounce_text_recipients(const char *notice, size_t len, const char *const *skip, bounce_report *r)
{
    if (!text_init())
        return 0;
    size_t first = r->nrcpt;
    size_t n = text_scan(notice, len, skip, false, r);
    /* a help address quoted again on a line without the words ("<support@...>" in a translation) */
    if (n > 1)
        n -= text_drop_help(notice, len, first, r);
    if (!n)
        n = text_scan(notice, len, skip, true, r);
    if (!n && skip && skip[0]) {
        /* a bounce to oneself: the failed address is the bounce's To; only the reporter stays out */
        const char *only[2] = {skip[0], NULL};
        n = text_scan(notice, len, only, false, r);
    }
    return n;
}

/* text_has - whether needle occurs in hay[0..n) ignoring ASCII case */
static bool text_has(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k && i + k <= n; i++)
        if (strncasecmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* text_names_other - whether line names a recipient of r other than addr */
static bool text_names_other(const char *line, size_t llen, const char *addr, const bounce_report *r)
{
    for (size_t i = 0; i < r->nrcpt; i++) {
        const char *o = r->rcpt[i].recipient;
        if (strcasecmp(o, addr) == 0 || !o[0])
            continue;
        if (text_has(line, llen, o))
            return true;
    }
    return false;
}

/* text_new_session - whether line starts the transcript of another SMTP session ("While talking to host:") */
static bool text_new_session(const char *line, size_t llen)
{
    size_t i = 0;
    while (i < llen && (line[i] == ' ' || line[i] == '\t' || line[i] == '.'))
        i++;
    return llen - i >= 16 && strncasecmp(line + i, "while talking to", 16) == 0;
}

char *bounce_text_context(const char *notice, size_t len, const char *addr, const bounce_report *r)
{
    buf out;
    buf_init(&out, 16 * 1024);
    size_t pos = 0, alen = strlen(addr), session = len; /* start of the open "While talking to" transcript */
    int taking = 0;
    while (pos < len) {
        const char *nl = memchr(notice + pos, '\n', len - pos);
        size_t lend = nl ? (size_t)(nl - notice) : len;
        const char *line = notice + pos;
        size_t llen = lend - pos;
        bool mine = alen && text_has(line, llen, addr), other = !mine && text_names_other(line, llen, addr, r);
        bool starts = text_new_session(line, llen);
        /* Sendmail's transcript of a session comes before the "<addr>... Remote protocol error" line it explains */
        if (mine && !out.len && session < pos)
            (void)buf_append(&out, notice + session, pos - session);
        if (mine)
            taking = BOUNCE_CONTEXT_LINES;
        else if (taking && (other || starts))
            taking = 0;
        if (taking) {
            (void)buf_append(&out, line, llen);
            (void)buf_append_char(&out, '\n');
            taking--;
        }
        session = starts ? pos : other ? len : session;
        pos = lend + 1;
    }
    return buf_steal(&out, NULL);
}

void bounce_stage(const char *text, char out[12])
{
    size_t ov[4];
    out[0] = '\0';
    if (!text_init())
        return;
    /* qmail's words name the stage without naming the command */
    size_t wv[8];
    if (bounce_re_find(re_stage_words, text, strlen(text), 0, wv, 4)) {
        snprintf(out, 12, "%s", wv[2] != PCRE2_UNSET ? "RCPT" : wv[4] != PCRE2_UNSET ? "MAIL" : "HELO");
        return;
    }
    if (!bounce_re_find(re_transcript, text, strlen(text), 0, ov, 2) &&
        !bounce_re_find(re_stage, text, strlen(text), 0, ov, 2))
        return;
    const char *w = text + ov[2];
    size_t n = ov[3] - ov[2];
    static const struct { const char *word, *cmd; } map[] = {
        {"rcpt to", "RCPT"}, {"rcpt_to", "RCPT"}, {"rcpt", "RCPT"}, {"mail from", "MAIL"}, {"mail_from", "MAIL"}, {"data", "DATA"}, {"dot", "DATA"},
        {"message body", "DATA"}, {"helo", "HELO"}, {"ehlo", "EHLO"}, {"starttls", "STARTTLS"},
        {"auth", "AUTH"}, {".", "DATA"}, {"connect", "CONN"}, {"connection", "CONN"}, {"greeting", "CONN"},
        {"banner", "CONN"}, {"initial connection", "CONN"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].word) == n && strncasecmp(map[i].word, w, n) == 0) {
            snprintf(out, 12, "%s", map[i].cmd);
            return;
        }
}

char *bounce_remote_host(const char *text)
{
    size_t ov[4];
    if (!text_init() || !bounce_re_find(re_host, text, strlen(text), 0, ov, 2))
        return NULL;
    return xstrndup(text + ov[2], ov[3] - ov[2]);
}
