/*
 * dkim_scan - the byte scanners under DKIM canonicalisation and tag-list
 * parsing (see dkim_internal.h): each returns the first index from i on
 * where its loop has to look at a byte, so long runs of ordinary text are
 * skipped 16 bytes at a time (SSE2 compares where the compiler offers
 * them, a plain loop elsewhere). Every message's body, signed header
 * fields and DKIM-Signature pass through these, so they decide much of
 * the cost per message beside the public-key operation.
 *
 * Each works on (pointer, length), reads nothing at or past len, and
 * returns len when nothing stops it.
 */
#include "auth/dkim_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* DKIM_SCAN_STEP - bytes looked at per vector step */
#define DKIM_SCAN_STEP 16

#if defined(__SSE2__)
/* dkim_load - 16 bytes at s, any alignment */
static inline __m128i dkim_load(const unsigned char *s)
{
    return _mm_loadu_si128((const __m128i *)(const void *)s);
}

/* dkim_first - index of the first set lane of mask (16 lanes), or -1 when none is */
static inline int dkim_first(__m128i mask)
{
    unsigned m = (unsigned)_mm_movemask_epi8(mask);
    return m ? __builtin_ctz(m) : -1;
}
#endif

/* dkim_scan_wsp_dirty - first index where relaxed body canonicalisation (RFC 6376 section 3.4.4)
 * changes a byte: an HTAB, or an SP followed by SP, HTAB, CR or the end */
size_t dkim_scan_wsp_dirty(const char *p, size_t i, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    for (; len - i > DKIM_SCAN_STEP; i += DKIM_SCAN_STEP) { /* the next byte is read too */
        __m128i c = dkim_load(s + i), d = dkim_load(s + i + 1);
        __m128i next = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(d, sp), _mm_cmpeq_epi8(d, tab)), _mm_cmpeq_epi8(d, cr));
        int k = dkim_first(_mm_or_si128(_mm_cmpeq_epi8(c, tab), _mm_and_si128(_mm_cmpeq_epi8(c, sp), next)));
        if (k >= 0)
            return i + (size_t)k;
    }
#endif
    for (; i < len; i++) {
        if (s[i] == '\t')
            return i;
        if (s[i] == ' ' && (i + 1 == len || s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\r'))
            return i;
    }
    return len;
}

/* dkim_scan_tagval - first index whose byte is not a VCHAR (0x21-0x7e) or is ';': where a tag
 * value (RFC 6376 section 3.2) has FWS, ends, or holds a byte it may not */
size_t dkim_scan_tagval(const char *p, size_t i, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
#if defined(__SSE2__)
    const __m128i lo = _mm_set1_epi8(0x21), del = _mm_set1_epi8(0x7f), semi = _mm_set1_epi8(';');
    for (; len - i >= DKIM_SCAN_STEP; i += DKIM_SCAN_STEP) {
        __m128i c = dkim_load(s + i);
        /* signed compare: bytes 0x80-0xff count as negative, so "below 0x21" catches them too */
        __m128i stop = _mm_or_si128(_mm_cmpgt_epi8(lo, c), _mm_or_si128(_mm_cmpeq_epi8(c, del), _mm_cmpeq_epi8(c, semi)));
        int k = dkim_first(stop);
        if (k >= 0)
            return i + (size_t)k;
    }
#endif
    for (; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ';')
            return i;
    return len;
}

/* dkim_scan_hdr_dirty - first index where relaxed header canonicalisation (section 3.4.2) may
 * change a byte: an HTAB, a CR or LF (unfolding), or an SP followed by SP, HTAB, CR, LF or the end.
 * Everything before it, single spaces between words included, is copied as it stands. */
size_t dkim_scan_hdr_dirty(const char *p, size_t i, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (; len - i > DKIM_SCAN_STEP; i += DKIM_SCAN_STEP) { /* the next byte is read too */
        __m128i c = dkim_load(s + i), d = dkim_load(s + i + 1);
        __m128i c_brk = _mm_or_si128(_mm_cmpeq_epi8(c, tab), _mm_or_si128(_mm_cmpeq_epi8(c, cr), _mm_cmpeq_epi8(c, lf)));
        __m128i d_ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(d, sp), _mm_cmpeq_epi8(d, tab)),
                                    _mm_or_si128(_mm_cmpeq_epi8(d, cr), _mm_cmpeq_epi8(d, lf)));
        int k = dkim_first(_mm_or_si128(c_brk, _mm_and_si128(_mm_cmpeq_epi8(c, sp), d_ws)));
        if (k >= 0)
            return i + (size_t)k;
    }
#endif
    for (; i < len; i++) {
        if (s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
            return i;
        if (s[i] == ' ' && (i + 1 == len || s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\r' || s[i + 1] == '\n'))
            return i;
    }
    return len;
}
