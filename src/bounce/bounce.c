/*
 * bounce - the parser's entry point: decode the message (bounce_mime),
 * decide what it is (delivery report, auto-reply, feedback report, or
 * nothing), list the recipients (RFC 3464 fields first, then the free-text
 * notice), fill each one's diagnostic, stage and remote host from the
 * notice when the report left them out, and classify (bounce_classify).
 */
#include "bounce/bounce_internal.h"
#include "lib/xalloc.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pcre2_code *re_unsub_subj, *re_dd, *re_bouncer, *re_bounce_subj, *re_auto_subj, *re_bounce_body, *re_temporary, *re_noconnect, *re_errline, *re_gateway_unknown, *re_addr_unknown, *re_mbox_from;
static int bounce_ready;

int bounce_init(void)
{
    if (bounce_ready)
        return bounce_ready > 0 ? 0 : -1;
    g_mime_init();
    bounce_ready = -1;
    if (bounce_rules_init() < 0 || bounce_explain_init() < 0)
        return -1;
    /* an RFC 2369 / RFC 8058 unsubscribe request sent by the recipient's mail program to a List-Unsubscribe mailto */
    re_unsub_subj = bounce_re_compile("^\\s*unsubscribe\\s*$");
    re_bouncer = bounce_re_compile("mailer[-_ ]?daemon|post_?master|mail delivery (?:system|subsystem|service)|mail ?administrator|\\bmdaemon\\b|\\bbounce|\\bdaemon@|system administrator|internet mail delivery|\\bmailer@|delivery status notification");
    re_bounce_subj = bounce_re_compile("undeliver|undelivered|delivery (?:status|fail|failure|notification|problem|report|has failed|incomplete)|returned (?:mail|to sender)|failure notice|non[- ]?delivery|could not be delivered|not delivered|mail delivery failed|delivery failed|warning: could not send|message delayed|delayed mail|mail system error|rejected|returned|bounce|not (?:a )?member|недостав|не доставлен|ошибка доставки|возврат");
    re_auto_subj = bounce_re_compile("^\\s*(?:auto(?:matic)?[- ]?(?:reply|response|answer|antwort)|out of (?:the )?office|vacation|away from|abwesen|automatische antwort|r[ée]ponse automatique|absence|автоответ|автоматический ответ|отпуск|нет на месте)|^\\s*auto:|\\(auto[- ]?reply\\)|out of office");
    re_bounce_body = bounce_re_compile("could not be delivered|(?:delivery|deliver) (?:to the following|has failed|failed)|undeliverable|permanent (?:error|fatal)|following (?:address|recipient)|returning message to sender|unable to deliver|not (?:be )?delivered|message (?:was )?not delivered|не (?:удалось|может быть) доставить|не доставлен");
    re_temporary = bounce_re_compile("temporary (?:failure|error|problem)|will be retried|will (?:continue|keep) (?:trying|to try)|still trying|has been delayed|delivery (?:is )?delayed|not yet been delivered|warning: (?:message|could not)|retry timeout exceeded|have been failing for a long time|временн\\w+ (?:ошибк|сбой)");
    re_noconnect = bounce_re_compile("connect to|not reachable|unreachable|(?:could not|unable to|can't|cannot) (?:connect|establish)|timed? ?out|connection refused");
    re_errline = bounce_re_compile("(?<![\\d.])[45]\\d\\d[ \\-:]|(?<![\\d.])[45]\\.\\d{1,3}\\.\\d{1,3}(?![\\d])");
    re_mbox_from = bounce_re_compile("(?m)^From \\S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\\d{1,2} \\d\\d:\\d\\d(?::\\d\\d)? \\d{4}\\r?$");
    re_gateway_unknown = bounce_re_compile("user unknown|unknown user|no such user|(?:doesn't|does not) have an? \\S+ account|\\binvalid address\\b|account that you tried to reach does not exist");
    /* Yahoo's "554 delivery error: dd ..." refuses a mailbox that does not exist, and it answers so after DATA */
    re_dd = bounce_re_compile("delivery error: dd ");
    /* "<bob@example.org>: User unknown": the server named the mailbox it does not have */
    re_addr_unknown = bounce_re_compile("<[^<>@\\s]+@[^<>\\s]+>(?::|\\.\\.\\.)\\s*user unknown|unknown user: \\S+");
    if (!re_unsub_subj || !re_dd || !re_mbox_from || !re_gateway_unknown || !re_addr_unknown || !re_errline || !re_bouncer || !re_bounce_subj || !re_auto_subj || !re_bounce_body || !re_temporary || !re_noconnect)
        return -1;
    bounce_ready = 1;
    return 0;
}

bounce_rcpt *bounce_rcpt_add(bounce_report *r, const char *addr, size_t len)
{
    if (r->nrcpt >= BOUNCE_MAX_RCPTS)
        return NULL;
    while (len && (*addr == '<' || *addr == ' ' || *addr == '"')) {
        addr++;
        len--;
    }
    while (len && (addr[len - 1] == '>' || addr[len - 1] == ' ' || addr[len - 1] == '"'))
        len--;
    r->rcpt = xrealloc(r->rcpt, (r->nrcpt + 1) * sizeof *r->rcpt);
    bounce_rcpt *rc = &r->rcpt[r->nrcpt++];
    memset(rc, 0, sizeof *rc);
    rc->recipient = xstrndup(addr, len);
    rc->diagnostic = xstrdup("");
    rc->remote_mta = xstrdup("");
    rc->reason = "undefined";
    return rc;
}

bounce_rcpt *bounce_rcpt_find(bounce_report *r, const char *addr)
{
    for (size_t i = 0; i < r->nrcpt; i++)
        if (strcasecmp(r->rcpt[i].recipient, addr) == 0)
            return &r->rcpt[i];
    return NULL;
}

char *bounce_one_line(const char *s, size_t len)
{
    buf b;
    buf_init(&b, BOUNCE_MAX_DIAG);
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = b.len > 0;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            continue;
        if ((space && buf_append_char(&b, ' ') != BUF_OK) || buf_append_char(&b, (char)c) != BUF_OK)
            break;
        space = false;
    }
    /* never leave half a UTF-8 sequence at the cut */
    while (b.len && ((unsigned char)b.data[b.len - 1] & 0xC0) == 0x80 &&
           !g_utf8_validate(b.data, (gssize)b.len, NULL))
        b.data[--b.len] = '\0';
    if (b.len && ((unsigned char)b.data[b.len - 1] & 0xC0) == 0xC0)
        b.data[--b.len] = '\0';
    return buf_steal(&b, NULL);
}

/* addr_of - the first address in a header value ("Name <a@b>"), or NULL; caller frees */
static char *addr_of(const char *v)
{
    if (!v)
        return NULL;
    InternetAddressList *l = internet_address_list_parse(NULL, v);
    char *out = NULL;
    if (l && internet_address_list_length(l) > 0) {
        InternetAddress *ia = internet_address_list_get_address(l, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            out = xstrdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
    }
    if (l)
        g_object_unref(l);
    return out;
}

/* header_in - value of header name in a "Name: value" block (first hit, unfolded); caller frees */
static char *header_in(const char *block, size_t len, const char *name)
{
    size_t nlen = strlen(name), pos = 0;
    while (pos < len) {
        const char *nl = memchr(block + pos, '\n', len - pos);
        size_t lend = nl ? (size_t)(nl - block) : len;
        const char *line = block + pos;
        while (line < block + lend && (*line == ' ' || *line == '>'))
            line++;
        if ((size_t)(block + lend - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            size_t vend = lend;
            while (vend + 1 < len && (block[vend + 1] == ' ' || block[vend + 1] == '\t')) {
                const char *nn = memchr(block + vend + 1, '\n', len - vend - 1);
                vend = nn ? (size_t)(nn - block) : len;
            }
            const char *v = line + nlen + 1;
            char *one = bounce_one_line(v, (size_t)(block + vend - v));
            char *dec = g_mime_utils_header_decode_text(NULL, one);
            free(one);
            char *res = xstrdup(dec ? dec : "");
            g_free(dec);
            return res;
        }
        pos = lend + 1;
    }
    return NULL;
}

/* fill_original - Message-ID/From/To/Subject of the returned message */
static void fill_original(const bounce_doc *doc, size_t notice_end, bounce_report *r)
{
    const char *blk = doc->orig.len ? doc->orig.data : doc->body.data ? doc->body.data + notice_end : "";
    size_t len = doc->orig.len ? doc->orig.len : doc->body.len - notice_end;
    r->original.message_id = header_in(blk, len, "Message-ID");
    r->original.from = header_in(blk, len, "From");
    r->original.to = header_in(blk, len, "To");
    r->original.subject = header_in(blk, len, "Subject");
}

/* looks_bounce - whether the headers or words say delivery failed */
static bool looks_bounce(const bounce_doc *doc, size_t notice_len)
{
    if (doc->dsn.len || doc->failed_rcpts)
        return true;
    if (doc->body.len && bounce_notify_is(doc->body.data, doc->body.len))
        return true;
    if (doc->from && bounce_re_find(re_bouncer, doc->from, strlen(doc->from), 0, NULL, 1))
        return true;
    if (doc->subject && bounce_re_find(re_bounce_subj, doc->subject, strlen(doc->subject), 0, NULL, 1))
        return true;
    return doc->body.len && bounce_re_find(re_bounce_body, doc->body.data, notice_len, 0, NULL, 1);
}

/* looks_autoreply - RFC 3834 headers or the usual subjects, and no sign of a bounce */
static bool looks_autoreply(const bounce_doc *doc)
{
    if (doc->dsn.len || doc->failed_rcpts)
        return false;
    if (doc->from && bounce_re_find(re_bouncer, doc->from, strlen(doc->from), 0, NULL, 1))
        return false;
    bool hdr = doc->autoreply_hdr ||
               (doc->auto_submitted && strncasecmp(doc->auto_submitted, "auto-replied", 12) == 0);
    bool subj = doc->subject && bounce_re_find(re_auto_subj, doc->subject, strlen(doc->subject), 0, NULL, 1);
    return hdr || subj;
}

/* error_lines - the lines of text that carry a reply code or status, else all of it, as one line; caller frees */
static char *error_lines(const char *text)
{
    buf b;
    buf_init(&b, BOUNCE_MAX_DIAG);
    size_t len = strlen(text), pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t lend = nl ? (size_t)(nl - text) : len;
        if (bounce_re_find(re_errline, text + pos, lend - pos, 0, NULL, 1)) {
            if (b.len)
                (void)buf_append_char(&b, ' ');
            (void)buf_append(&b, text + pos, lend - pos);
        }
        pos = lend + 1;
    }
    char *out = bounce_one_line(b.len ? b.data : text, b.len ? b.len : len);
    buf_free(&b);
    return out;
}

/*
 * by_stage - refine a vague reason by the SMTP command that was refused:
 * a refusal at MAIL FROM is about the sender, one at connect or HELO is
 * about the sending host, "unknown user" after DATA is a content decision.
 */
static const char *by_stage(const char *reason, const char *cmd)
{
    bool vague = !strcmp(reason, "undefined") || !strcmp(reason, "onhold") || !strcmp(reason, "filtered");
    if (!strcmp(cmd, "MAIL") && (vague || !strcmp(reason, "userunknown") || !strcmp(reason, "hostunknown")))
        return "rejected";
    if ((!strcmp(cmd, "CONN") || !strcmp(cmd, "HELO") || !strcmp(cmd, "EHLO")) &&
        (vague || !strcmp(reason, "rejected") || !strcmp(reason, "userunknown")))
        return "blocked";
    /* "unknown user" after DATA: the recipient's side filtered the message (a dead mailbox is refused at RCPT) */
    if (!strcmp(cmd, "DATA") && !strcmp(reason, "userunknown"))
        return "filtered";
    return reason;
}

/* notice_facts - what the whole notice says, computed once per bounce */
typedef struct notice_facts {
    const char *text;     /* the notice */
    size_t len;
    int reason_done;      /* reason computed (lazily: most bounces never need it) */
    const char *reason;   /* first rule matching the whole notice, or NULL */
    bool temporary;       /* the notice calls the failure temporary */
} notice_facts;

/* notice_reason - the whole notice's reason, computed on first use */
static const char *notice_reason(notice_facts *nf)
{
    if (!nf->reason_done) {
        nf->reason_done = 1;
        nf->reason = nf->len ? bounce_rules_match(nf->text, nf->len) : NULL;
    }
    return nf->reason;
}

/* rcpt_context - the notice lines about rc (all of the notice when it names no address); fills an empty diagnostic; caller frees */
static char *rcpt_context(bounce_rcpt *rc, const bounce_doc *doc, size_t notice_len, const bounce_report *r)
{
    char *ctx = doc->body.len ? bounce_text_context(doc->body.data, notice_len, rc->recipient, r) : xstrdup("");
    bool whole = false;
    if (!ctx[0] && r->nrcpt == 1 && doc->body.len) {
        /* the notice never names the address (it came from VERP): the notice is about it */
        free(ctx);
        ctx = xstrndup(doc->body.data, notice_len);
        whole = true;
    }
    /* the only recipient, but the server's reply stands before the address (a notice that quotes the
     * error first, then the message details): the notice's reply lines are its diagnostic */
    if (!rc->diagnostic[0] && !whole && r->nrcpt == 1 && doc->body.len &&
        !bounce_re_find(re_errline, ctx, strlen(ctx), 0, NULL, 1) &&
        bounce_re_find(re_errline, doc->body.data, notice_len, 0, NULL, 1)) {
        char *notice = xstrndup(doc->body.data, notice_len);
        free(rc->diagnostic);
        rc->diagnostic = error_lines(notice);
        free(notice);
    }
    if (!rc->diagnostic[0] && ctx[0]) {
        free(rc->diagnostic);
        rc->diagnostic = whole ? error_lines(ctx) : bounce_one_line(ctx, strlen(ctx));
    }
    return ctx;
}

/* rcpt_stage - the SMTP command refused: from the diagnostic, the context, or a one-recipient notice */
static void rcpt_stage(bounce_rcpt *rc, const char *basis, const char *ctx, const bounce_doc *doc, size_t notice_len,
                       const bounce_report *r)
{
    bounce_stage(basis, rc->smtp_command);
    if (!rc->smtp_command[0])
        bounce_stage(ctx, rc->smtp_command);
    if (!rc->smtp_command[0] && doc->body.len && r->nrcpt == 1) {
        char *notice = xstrndup(doc->body.data, notice_len);
        bounce_stage(notice, rc->smtp_command);
        free(notice);
    }
}

/* refine_reason - stage, gateway, expiry and "nothing known" adjustments of c.reason (see docs/internals/bounce.md) */
static const char *refine_reason(const bounce_class *c, const bounce_rcpt *rc, const char *basis, bool temp)
{
    const char *reason = c->reason;
    /* x.1.1 names the mailbox as unknown whatever the stage; words may still say otherwise (rules ran first) */
    bool firm = bounce_status_decisive(c->status) || (c->status[0] && !strcmp(c->status + 1, ".1.1")) ||
                bounce_re_find(re_dd, basis, strlen(basis), 0, NULL, 1);
    if (!firm)
        reason = by_stage(reason, rc->smtp_command);
    /* "user unknown" under x.2.1 (mailbox disabled, not accepting) and not at RCPT: the mailbox's filter refused it */
    if (!strcmp(reason, "userunknown") && strcmp(rc->smtp_command, "RCPT") != 0 && c->status[0] &&
        !strcmp(c->status + 1, ".2.1"))
        reason = "filtered";
    /* a gateway's "user unknown" with no RCPT stage and no x.1.1 status: its filter refused the message */
    if (!strcmp(reason, "userunknown") && strcmp(rc->smtp_command, "RCPT") != 0 &&
        !firm && bounce_re_find(re_gateway_unknown, basis, strlen(basis), 0, NULL, 1) &&
        !bounce_re_find(re_addr_unknown, basis, strlen(basis), 0, NULL, 1))
        reason = "filtered";
    /* a temporary failure reported as final, or a host never reached: the retry time ran out */
    bool no_status = !c->status[0] || strstr(c->status, ".0.9") != NULL;
    bool final = strcasecmp(rc->action, "delayed") != 0;
    bool never_connected = !strcmp(reason, "networkerror") &&
                           bounce_re_find(re_noconnect, basis, strlen(basis), 0, NULL, 1);
    bool temp_class = c->status[0] == '4' || (!rc->status[0] && temp);
    if (final && ((temp_class && never_connected) || (no_status && never_connected)))
        reason = "expired";
    /* still being retried and nothing says why (Sisimai): the delay itself is the reason */
    if (!final && !strcmp(reason, "undefined"))
        reason = "expired";
    /* a failure was reported but nothing says why: Sisimai's "onhold", not a guess */
    if (!strcmp(reason, "undefined") && strcasecmp(rc->action, "delivered") != 0)
        reason = "onhold";
    return reason;
}

/* finish_rcpt - diagnostic, stage, host from the notice; then classify */
static void finish_rcpt(bounce_rcpt *rc, const bounce_doc *doc, size_t notice_len, notice_facts *nf,
                        bounce_report *r)
{
    char *ctx = rcpt_context(rc, doc, notice_len, r);
    const char *basis = rc->diagnostic[0] ? rc->diagnostic : ctx;
    bounce_class c;
    bounce_classify(basis, rc->status, "", &c);
    /* only when the answer could still change: nothing found, or no rule and a status without a meaning */
    if (!bounce_status_decisive(c.status) &&
        (!strcmp(c.reason, "undefined") || (!c.by_rule && !bounce_status_reason(rc->status)))) {
        /* the recipient's own lines said nothing we know: read the whole notice, then the subject */
        const char *why = bounce_rules_match(ctx, strlen(ctx));
        if (!why)
            why = notice_reason(nf);
        if (!why && !strcmp(c.reason, "undefined") && doc->subject) /* "Returned mail: User unknown" */
            why = bounce_rules_match(doc->subject, strlen(doc->subject));
        if (why)
            c.reason = why;
    }
    rcpt_stage(rc, basis, ctx, doc, notice_len, r);
    bool temp = c.reply_code[0] == '4' || !strcasecmp(rc->action, "delayed") || nf->temporary;
    rc->reason = refine_reason(&c, rc, basis, temp);
    if (!rc->status[0] && strstr(c.status, ".0.9"))
        c.status[0] = '\0';
    memcpy(rc->status, c.status, sizeof rc->status);
    memcpy(rc->reply_code, c.reply_code, sizeof rc->reply_code);
    if (!rc->status[0] && !strcmp(rc->smtp_command, "MAIL"))
        bounce_pseudo_status("onhold", temp ? '4' : '5', rc->status); /* Sisimai: refused before any recipient */
    else if (!rc->status[0])
        bounce_pseudo_status(rc->reason, temp ? '4' : '5', rc->status);
    rc->hard = bounce_reason_hard(rc->reason, rc->status[0]);
    if (!rc->remote_mta[0]) {
        char *h = bounce_remote_host(basis);
        if (h) {
            free(rc->remote_mta);
            rc->remote_mta = h;
        }
    }
    free(ctx);
}

/* fill_feedback - one entry per Original-Rcpt-To of an RFC 5965 report (else the original To) */
static void fill_feedback(const bounce_doc *doc, bounce_report *r)
{
    const char *f = doc->fbl.data ? doc->fbl.data : "";
    const char *p = f;
    while ((p = strcasestr(p, "Original-Rcpt-To:")) != NULL) {
        p += 17;
        size_t n = strcspn(p, "\r\n");
        bounce_rcpt_add(r, p, n);
        p += n;
    }
    if (!r->nrcpt) {
        char *to = addr_of(r->original.to);
        bounce_rcpt_add(r, to ? to : "", to ? strlen(to) : 0);
        free(to);
    }
    for (size_t i = 0; i < r->nrcpt; i++) {
        r->rcpt[i].reason = "feedback";
        snprintf(r->rcpt[i].action, sizeof r->rcpt[i].action, "%s", "feedback");
    }
}

/* looks_unsubscribe - an automatic "unsubscribe" request (List-Unsubscribe mailto), no delivery report */
static bool looks_unsubscribe(const bounce_doc *doc)
{
    bool automatic = doc->autoreply_hdr || (doc->auto_submitted && strncasecmp(doc->auto_submitted, "no", 2) != 0);
    return automatic && !doc->dsn.len && doc->subject &&
           bounce_re_find(re_unsub_subj, doc->subject, strlen(doc->subject), 0, NULL, 1);
}

/* fill_unsubscribe - the person opting out is the one recipient, as a feedback entry */
static void fill_unsubscribe(const bounce_doc *doc, bounce_report *r)
{
    char *from = addr_of(doc->from);
    bounce_rcpt *rc = bounce_rcpt_add(r, from ? from : "", from ? strlen(from) : 0);
    free(from);
    if (rc) {
        rc->reason = "feedback";
        snprintf(rc->action, sizeof rc->action, "%s", "unsubscribe");
    }
}

/* fill_autoreply - the away person is the one recipient */
static void fill_autoreply(const bounce_doc *doc, bounce_report *r)
{
    char *from = addr_of(doc->from);
    bounce_rcpt *rc = bounce_rcpt_add(r, from ? from : "", from ? strlen(from) : 0);
    free(from);
    if (rc) {
        rc->reason = "vacation";
        snprintf(rc->action, sizeof rc->action, "%s", "autoreply");
        char *d = bounce_one_line(doc->subject ? doc->subject : "", doc->subject ? strlen(doc->subject) : 0);
        free(rc->diagnostic);
        rc->diagnostic = d;
    }
}

/* fill_bounce - recipients of a delivery report */
static void fill_bounce(const bounce_doc *doc, size_t notice_len, const char *hint, bounce_report *r)
{
    if (doc->dsn.len)
        bounce_dsn_read(doc->dsn.data, doc->dsn.len, r);
    if (!r->nrcpt && doc->body.len && bounce_notify_is(doc->body.data, doc->body.len))
        bounce_notify_read(doc->body.data, doc->body.len, r);
    if (!r->nrcpt && doc->failed_rcpts) {
        const char *p = doc->failed_rcpts;
        while (*p) {
            size_t n = strcspn(p, ", \t");
            if (n)
                bounce_rcpt_add(r, p, n);
            p += n;
            p += strspn(p, ", \t");
        }
    }
    if (!r->nrcpt && doc->body.len) {
        char *skip[6] = {addr_of(doc->from), addr_of(doc->to), addr_of(r->original.from), NULL, NULL, NULL};
        const char *sk[6];
        size_t k = 0;
        sk[k++] = skip[0] ? skip[0] : ""; /* the reporter first: see bounce_text_recipients */
        for (size_t i = 1; i < 3; i++)
            if (skip[i])
                sk[k++] = skip[i];
        sk[k] = NULL;
        bounce_text_recipients(doc->body.data, notice_len, sk, r);
        for (size_t i = 0; i < 3; i++)
            free(skip[i]);
    }
    if (!r->nrcpt && hint && hint[0])
        bounce_rcpt_add(r, hint, strlen(hint));
    if (!r->nrcpt && hint && hint[0])
        bounce_rcpt_add(r, hint, strlen(hint));
    if (!r->nrcpt) {
        char *to = addr_of(r->original.to);
        if (to)
            bounce_rcpt_add(r, to, strlen(to));
        free(to);
    }
    notice_facts nf = {doc->body.len ? doc->body.data : "", doc->body.len ? notice_len : 0, 0, NULL, false};
    nf.temporary = nf.len && bounce_re_find(re_temporary, nf.text, nf.len, 0, NULL, 1);
    for (size_t i = 0; i < r->nrcpt; i++)
        finish_rcpt(&r->rcpt[i], doc, notice_len, &nf, r);
}

bounce_parse_status bounce_parse_hint(const char *raw, size_t len, const char *hint, bounce_report *out)
{
    memset(out, 0, sizeof *out);
    if (len > BOUNCE_MAX_INPUT)
        return BOUNCE_PARSE_TOO_BIG;
    if (bounce_init() < 0)
        return BOUNCE_PARSE_ERROR;
    bounce_doc doc = {0};
    if (!bounce_mime_read(raw, len, &doc)) {
        bounce_doc_free(&doc);
        return BOUNCE_PARSE_OK;
    }
    size_t notice_len = doc.body.len ? bounce_notice_end(doc.body.data, doc.body.len) : 0;
    fill_original(&doc, notice_len, out);
    if (doc.feedback) {
        out->kind = BOUNCE_KIND_FEEDBACK;
        fill_feedback(&doc, out);
    } else if (looks_unsubscribe(&doc)) {
        out->kind = BOUNCE_KIND_FEEDBACK;
        fill_unsubscribe(&doc, out);
    } else if (looks_autoreply(&doc)) {
        out->kind = BOUNCE_KIND_AUTOREPLY;
        fill_autoreply(&doc, out);
    } else if (looks_bounce(&doc, notice_len)) {
        out->kind = BOUNCE_KIND_DSN;
        fill_bounce(&doc, notice_len, hint, out);
    }
    if (!out->reporting_mta)
        out->reporting_mta = xstrdup("");
    bounce_doc_free(&doc);
    return BOUNCE_PARSE_OK;
}

/* mbox_next - offset of the next mbox separator ("From SENDER DATE" line) after from, or len */
static size_t mbox_next(const char *raw, size_t len, size_t from)
{
    size_t ov[2];
    if (from < len && raw[from] == 'F')
        from++; /* the separator starting this message */
    return bounce_re_find(re_mbox_from, raw, len, from, ov, 1) ? ov[0] : len;
}

/* report_merge - move the recipients of more to the end of into (as far as the limit allows) */
static void report_merge(bounce_report *into, bounce_report *more)
{
    for (size_t i = 0; i < more->nrcpt; i++) {
        if (into->nrcpt >= BOUNCE_MAX_RCPTS) {
            free(more->rcpt[i].recipient);
            free(more->rcpt[i].diagnostic);
            free(more->rcpt[i].remote_mta);
            continue;
        }
        into->rcpt = xrealloc(into->rcpt, (into->nrcpt + 1) * sizeof *into->rcpt);
        into->rcpt[into->nrcpt++] = more->rcpt[i];
    }
    if (into->kind == BOUNCE_KIND_NONE)
        into->kind = more->kind;
    free(more->rcpt);
    more->rcpt = NULL;
    more->nrcpt = 0;
    bounce_report_free(more);
}

/*
 * bounce_parse - one message, or an mbox of several (each "From " line after
 * a blank line starts one): the recipients of all of them, in order; the
 * original-message fields are the first message's.
 */
bounce_parse_status bounce_parse(const char *raw, size_t len, bounce_report *out)
{
    memset(out, 0, sizeof *out);
    if (len > BOUNCE_MAX_INPUT)
        return BOUNCE_PARSE_TOO_BIG;
    if (bounce_init() < 0)
        return BOUNCE_PARSE_ERROR;
    size_t end = len > 5 && memcmp(raw, "From ", 5) == 0 ? mbox_next(raw, len, 0) : len;
    bounce_parse_status st = bounce_parse_hint(raw, end, NULL, out);
    while (st == BOUNCE_PARSE_OK && end < len) {
        size_t next = mbox_next(raw, len, end);
        bounce_report more;
        st = bounce_parse_hint(raw + end, next - end, NULL, &more);
        report_merge(out, &more);
        end = next;
    }
    return st;
}

void bounce_report_free(bounce_report *r)
{
    for (size_t i = 0; i < r->nrcpt; i++) {
        free(r->rcpt[i].recipient);
        free(r->rcpt[i].diagnostic);
        free(r->rcpt[i].remote_mta);
    }
    free(r->rcpt);
    free(r->reporting_mta);
    free(r->original.message_id);
    free(r->original.from);
    free(r->original.to);
    free(r->original.subject);
    memset(r, 0, sizeof *r);
}
