/*
 * buf - capped growable byte buffer (see buf.h for the contract).
 */
#include "lib/buf.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* buf_init - empty buffer with a hard cap */
void buf_init(buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

/* buf_free - release storage, keep the cap */
void buf_free(buf *b)
{
    free(b->data);
    buf_init(b, b->cap);
}

/* buf_reset - empty the buffer without freeing */
void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* buf_reserve - make room for n more bytes plus the NUL, within the cap */
static buf_status buf_reserve(buf *b, size_t n)
{
    if (n > b->cap || b->len > b->cap - n)
        return BUF_TOO_BIG;
    size_t need = b->len + n + 1;
    if (need <= b->alloc)
        return BUF_OK;
    size_t grow = b->alloc ? b->alloc : 64;
    while (grow < need)
        grow = grow * 2;
    if (grow > b->cap + 1)
        grow = b->cap + 1;
    b->data = xrealloc(b->data, grow);
    b->alloc = grow;
    return BUF_OK;
}

/* buf_append - append n bytes or fail without change */
buf_status buf_append(buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != BUF_OK)
        return BUF_TOO_BIG;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BUF_OK;
}

/* buf_append_str - append a C string */
buf_status buf_append_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* buf_append_char - append one byte */
buf_status buf_append_char(buf *b, char c)
{
    return buf_append(b, &c, 1);
}

/* buf_vprintf - append formatted text */
buf_status buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0 || buf_reserve(b, (size_t)n) != BUF_OK)
        return BUF_TOO_BIG;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return BUF_OK;
}

/* buf_printf - append formatted text */
buf_status buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_status st = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

/* buf_cstr - contents as a C string */
const char *buf_cstr(const buf *b)
{
    return b->data ? b->data : "";
}

/* buf_steal - transfer ownership of the storage */
char *buf_steal(buf *b, size_t *len)
{
    char *p = b->data ? b->data : xstrdup("");
    if (len)
        *len = b->len;
    buf_init(b, b->cap);
    return p;
}

/* buf_consume - drop a prefix */
void buf_consume(buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}
