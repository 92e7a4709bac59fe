/*
 * data_reader - DATA phase state machine (see data_reader.h).
 *
 * States, one per position in a line:
 *   BOL    at the beginning of a line
 *   DOT    a "." was the first byte of the line (not yet known: stuffing or end)
 *   DOTCR  "." CR at the start of a line: LF ends the data, anything else is a bare CR
 *   TEXT   inside a line
 *   CR     a CR inside a line (or after text): LF ends the line, anything else is a bare CR
 *   END+s  status s (DONE or an error) was reported; no more input is taken
 * Runs of ordinary text are appended with one buf_append, so feeding large
 * chunks costs one scan per byte and one copy.
 */
#include "mail/data_reader.h"

#include <string.h>

enum { DR_BOL = 0, DR_DOT, DR_DOTCR, DR_TEXT, DR_CR, DR_END };

/* data_reader_init - fresh reader appending to out */
void data_reader_init(data_reader *dr, buf *out)
{
    dr->state = DR_BOL;
    dr->line_len = 0;
    dr->out = out;
    dr->base = out->len;
    dr->error = DATA_OK;
    dr->total = 0;
}

/* dr_defer - remember the first deferred error and drop the body read so far */
static void dr_defer(data_reader *dr, data_error e)
{
    if (dr->error != DATA_OK)
        return;
    dr->error = e;
    /* buf has no truncate call; its fields are public and this keeps its invariants */
    dr->out->len = dr->base;
    if (dr->out->data)
        dr->out->data[dr->base] = '\0';
}

/* dr_emit - append body bytes unless a deferred error already condemned the message */
static void dr_emit(data_reader *dr, const char *p, size_t n)
{
    if (dr->error != DATA_OK || n == 0)
        return;
    if (buf_append(dr->out, p, n) != BUF_OK)
        dr_defer(dr, DATA_TOO_BIG);
}

/* dr_line_grow - count n more octets on this line; past 998 the message is refused at the end */
static void dr_line_grow(data_reader *dr, size_t n)
{
    dr->line_len += n;
    if (dr->line_len > DATA_LINE_MAX - 2)
        dr_defer(dr, DATA_LINE_TOO_LONG);
}

/* dr_text - consume a run of line text starting at p[i]; returns the new index */
static size_t dr_text(data_reader *dr, const char *p, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && p[j] != '\r' && p[j] != '\n')
        j++;
    dr_line_grow(dr, j - i);
    dr_emit(dr, p + i, j - i);
    return j;
}

/* dr_stop - finish a feed: count the octets, set the status */
static size_t dr_stop(data_reader *dr, size_t used, data_status *st, data_status what)
{
    dr->total += used;
    if (what != DATA_MORE)
        dr->state = DR_END + (int)what; /* remembered for later feeds */
    *st = what;
    return used;
}

/* data_reader_feed - run the state machine over p[0..n) */
size_t data_reader_feed(data_reader *dr, const char *p, size_t n, data_status *st)
{
    size_t i = 0;
    if (dr->state >= DR_END)
        return dr_stop(dr, 0, st, (data_status)(dr->state - DR_END));
    while (i < n) {
        char c = p[i];
        switch (dr->state) {
        case DR_BOL:
            if (c == '.') {
                dr_line_grow(dr, 1);
                dr->state = DR_DOT;
                i++;
            } else {
                dr->state = DR_TEXT;
            }
            break;
        case DR_DOT:
            if (c == '\r') {
                dr->state = DR_DOTCR;
                i++;
            } else {
                dr->state = DR_TEXT; /* RFC 5321 4.5.2: drop the leading dot, keep the rest */
            }
            break;
        case DR_DOTCR:
            if (c != '\n')
                return dr_stop(dr, i, st, DATA_ERR_BARE_CR);
            return dr_stop(dr, i + 1, st, DATA_DONE);
        case DR_TEXT:
            if (c == '\r') {
                dr->state = DR_CR;
                i++;
            } else if (c == '\n') {
                return dr_stop(dr, i, st, DATA_ERR_BARE_LF);
            } else {
                i = dr_text(dr, p, i, n);
            }
            break;
        case DR_CR:
            if (c != '\n')
                return dr_stop(dr, i, st, DATA_ERR_BARE_CR);
            dr_emit(dr, "\r\n", 2);
            dr->line_len = 0;
            dr->state = DR_BOL;
            i++;
            break;
        default:
            return dr_stop(dr, i, st, (data_status)(dr->state - DR_END));
        }
    }
    return dr_stop(dr, i, st, DATA_MORE);
}
