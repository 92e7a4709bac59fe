/*
 * bounce_mime - decode a bounce message with GMime into a bounce_doc:
 * the human-readable text, the message/delivery-status fields (RFC 3464),
 * the returned message's headers, and the top-level headers that tell an
 * auto-reply (RFC 3834) from a bounce. GMime handles multipart nesting,
 * quoted-printable/base64, RFC 2047 words and charset conversion, so every
 * byte stored in the doc is UTF-8 (undeclared 8-bit text goes through
 * g_mime_utils_decode_8bit, which tries UTF-8 then the locale fallbacks).
 *
 * Limits: each buffer is capped at BOUNCE_DOC_CAP; parts nested deeper than
 * BOUNCE_MAX_DEPTH are ignored (a hostile message cannot recurse us away).
 */
#include "bounce/bounce_internal.h"
#include "lib/xalloc.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#define BOUNCE_DOC_CAP (256u * 1024)
#define BOUNCE_MAX_DEPTH 8

static void mime_walk(GMimeObject *obj, bounce_doc *doc, int depth, bool inside_rfc822);

/* mime_dup_header - decoded value of header name on obj, or NULL; caller frees */
static char *mime_dup_header(GMimeObject *obj, const char *name)
{
    const char *v = g_mime_object_get_header(obj, name);
    return v ? xstrdup(v) : NULL;
}

/* mime_part_bytes - the part's content with its transfer encoding undone; caller frees with g_byte_array_unref */
static GByteArray *mime_part_bytes(GMimePart *part)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (!w)
        return NULL;
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_object_unref(mem);
    return ba;
}

/* mime_append_utf8 - append bytes to b as UTF-8, converting undeclared 8-bit text */
static void mime_append_utf8(buf *b, const char *p, size_t n)
{
    if (g_utf8_validate(p, (gssize)n, NULL)) {
        (void)buf_append(b, p, n);
    } else {
        char *s = g_mime_utils_decode_8bit(NULL, p, n);
        (void)buf_append_str(b, s);
        g_free(s);
    }
    (void)buf_append_char(b, '\n');
}

/* mime_strip_html - append html's text to b: tags dropped, <br>/<p> become line ends */
static void mime_strip_html(buf *b, const char *html)
{
    bool in_tag = false;
    for (const char *p = html; *p; p++) {
        if (*p == '<') {
            in_tag = true;
            if (g_ascii_strncasecmp(p, "<br", 3) == 0 || g_ascii_strncasecmp(p, "<p", 2) == 0 ||
                g_ascii_strncasecmp(p, "</p", 3) == 0 || g_ascii_strncasecmp(p, "<tr", 3) == 0 ||
                g_ascii_strncasecmp(p, "<div", 4) == 0)
                (void)buf_append_char(b, '\n');
        } else if (*p == '>' && in_tag) {
            in_tag = false;
        } else if (!in_tag) {
            if (strncmp(p, "&nbsp;", 6) == 0) {
                (void)buf_append_char(b, ' ');
                p += 5;
            } else if (strncmp(p, "&lt;", 4) == 0) {
                (void)buf_append_char(b, '<');
                p += 3;
            } else if (strncmp(p, "&gt;", 4) == 0) {
                (void)buf_append_char(b, '>');
                p += 3;
            } else if (strncmp(p, "&amp;", 5) == 0) {
                (void)buf_append_char(b, '&');
                p += 4;
            } else {
                (void)buf_append_char(b, *p);
            }
        }
    }
    (void)buf_append_char(b, '\n');
}

/* mime_headers_of - append "Name: value" lines of msg's interesting headers to b */
static void mime_headers_of(GMimeObject *msg, buf *b)
{
    static const char *const names[] = {"Message-ID", "From", "To", "Subject", "Date"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = g_mime_object_get_header(msg, names[i]);
        if (v)
            (void)buf_printf(b, "%s: %s\n", names[i], v);
    }
}

/* mime_leaf - store one leaf part by its content type */
static void mime_leaf(GMimePart *part, bounce_doc *doc, bool inside_rfc822)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    const char *type = ct ? g_mime_content_type_get_media_type(ct) : "text";
    const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
    if (!type || !sub)
        return;
    bool is_msg = g_ascii_strcasecmp(type, "message") == 0;
    if (is_msg && (g_ascii_strcasecmp(sub, "delivery-status") == 0 ||
                   g_ascii_strcasecmp(sub, "global-delivery-status") == 0)) {
        GByteArray *ba = mime_part_bytes(part);
        if (ba) {
            mime_append_utf8(&doc->dsn, (const char *)ba->data, ba->len);
            g_byte_array_unref(ba);
        }
        return;
    }
    if (is_msg && g_ascii_strcasecmp(sub, "feedback-report") == 0) {
        doc->feedback = true;
        GByteArray *ba = mime_part_bytes(part);
        if (ba) {
            mime_append_utf8(&doc->fbl, (const char *)ba->data, ba->len);
            g_byte_array_unref(ba);
        }
        return;
    }
    if ((g_ascii_strcasecmp(type, "text") == 0 && g_ascii_strcasecmp(sub, "rfc822-headers") == 0) ||
        (is_msg && (g_ascii_strcasecmp(sub, "rfc822-headers") == 0 ||
                    g_ascii_strcasecmp(sub, "global-headers") == 0))) {
        GByteArray *ba = mime_part_bytes(part);
        if (ba) {
            mime_append_utf8(&doc->orig, (const char *)ba->data, ba->len);
            g_byte_array_unref(ba);
        }
        return;
    }
    if (inside_rfc822 || g_ascii_strcasecmp(type, "text") != 0)
        return;
    if (g_ascii_strcasecmp(sub, "plain") != 0 && g_ascii_strcasecmp(sub, "html") != 0)
        return;
    char *text = GMIME_IS_TEXT_PART(part) ? g_mime_text_part_get_text(GMIME_TEXT_PART(part)) : NULL;
    if (!text)
        return;
    if (g_ascii_strcasecmp(sub, "html") == 0)
        mime_strip_html(&doc->body, text);
    else
        mime_append_utf8(&doc->body, text, strlen(text));
    g_free(text);
}

/* mime_walk - visit obj and its children, filling doc */
static void mime_walk(GMimeObject *obj, bounce_doc *doc, int depth, bool inside_rfc822)
{
    if (!obj || depth > BOUNCE_MAX_DEPTH)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        /* in multipart/alternative the plain part is enough: skip html when one was read */
        size_t before = doc->body.len;
        for (int i = 0; i < n; i++) {
            GMimeObject *child = g_mime_multipart_get_part(mp, i);
            GMimeContentType *ct = g_mime_object_get_content_type(child);
            if (doc->body.len > before && ct && g_mime_content_type_is_type(ct, "text", "html"))
                continue;
            mime_walk(child, doc, depth + 1, inside_rfc822);
        }
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (m && !inside_rfc822 && doc->orig.len == 0)
            mime_headers_of(GMIME_OBJECT(m), &doc->orig);
        /* a forwarded bounce may carry the real report one level down */
        if (m && !inside_rfc822 && doc->dsn.len == 0 && doc->body.len == 0)
            mime_walk(g_mime_message_get_mime_part(m), doc, depth + 1, false);
    } else if (GMIME_IS_PART(obj)) {
        mime_leaf(GMIME_PART(obj), doc, inside_rfc822);
    }
}

/* mime_top_headers - the top-level headers the parser needs */
static void mime_top_headers(GMimeMessage *msg, bounce_doc *doc)
{
    GMimeObject *o = GMIME_OBJECT(msg);
    doc->from = mime_dup_header(o, "From");
    doc->to = mime_dup_header(o, "To");
    doc->subject = mime_dup_header(o, "Subject");
    doc->auto_submitted = mime_dup_header(o, "Auto-Submitted");
    doc->precedence = mime_dup_header(o, "Precedence");
    doc->failed_rcpts = mime_dup_header(o, "X-Failed-Recipients");
    doc->autoreply_hdr = g_mime_object_get_header(o, "X-Autoreply") ||
                         g_mime_object_get_header(o, "X-Autorespond") ||
                         g_mime_object_get_header(o, "X-Autoresponse") ||
                         (doc->precedence && g_ascii_strcasecmp(doc->precedence, "auto_reply") == 0);
    GMimeContentType *ct = g_mime_object_get_content_type(g_mime_message_get_mime_part(msg));
    doc->report = ct && g_mime_content_type_is_type(ct, "multipart", "report");
}

/* mime_raw_body - a report whose MIME structure is broken: take the text after the header */
static void mime_raw_body(const char *raw, size_t len, bounce_doc *doc)
{
    const char *end = raw + len, *p = raw;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        if (nl == p || (nl == p + 1 && *p == '\r')) {
            mime_append_utf8(&doc->body, nl + 1, (size_t)(end - nl - 1));
            return;
        }
        p = nl + 1;
    }
}

/* mime_inline_dsn - RFC 3464 fields pasted into the text (no delivery-status part): copy them to dsn */
static void mime_inline_dsn(bounce_doc *doc)
{
    static const char *const starts[] = {"\nReporting-MTA:", "\nFinal-Recipient:", "\nOriginal-Recipient:"};
    const char *best = NULL;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        const char *hit = strcasestr(doc->body.data, starts[i]);
        if (hit && (!best || hit < best))
            best = hit;
    }
    if (best && strcasestr(best, "Recipient:"))
        (void)buf_append(&doc->dsn, best + 1, doc->body.len - (size_t)(best + 1 - doc->body.data));
}

bool bounce_mime_read(const char *raw, size_t len, bounce_doc *doc)
{
    buf_init(&doc->body, BOUNCE_DOC_CAP);
    buf_init(&doc->dsn, BOUNCE_DOC_CAP);
    buf_init(&doc->orig, BOUNCE_DOC_CAP);
    buf_init(&doc->fbl, BOUNCE_DOC_CAP);
    /* skip an mbox "From " line: GMime would take it for a broken header */
    if (len > 5 && memcmp(raw, "From ", 5) == 0) {
        const char *nl = memchr(raw, '\n', len);
        if (!nl)
            return false;
        len -= (size_t)(nl + 1 - raw);
        raw = nl + 1;
    }
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (!msg)
        return false;
    mime_top_headers(msg, doc);
    mime_walk(g_mime_message_get_mime_part(msg), doc, 0, false);
    g_object_unref(msg);
    if (doc->body.len == 0 && doc->dsn.len == 0)
        mime_raw_body(raw, len, doc);
    if (doc->dsn.len == 0 && doc->body.len)
        mime_inline_dsn(doc);
    return true;
}

void bounce_doc_free(bounce_doc *doc)
{
    buf_free(&doc->body);
    buf_free(&doc->dsn);
    buf_free(&doc->orig);
    buf_free(&doc->fbl);
    free(doc->from);
    free(doc->to);
    free(doc->subject);
    free(doc->auto_submitted);
    free(doc->precedence);
    free(doc->failed_rcpts);
}
