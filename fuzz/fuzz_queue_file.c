/*
 * fuzz_queue_file - queue_file_read() and queue_state_parse() on arbitrary
 * bytes: they must never crash, leak or read out of bounds, and a message
 * that parses must encode back to bytes that parse to the same message.
 */
#include "queue/queue.h"
#include "queue/queue_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* fuzz_reencode - write m again and check it reads back identically */
static void fuzz_reencode(const queue_msg *m)
{
    buf f;
    size_t tl;
    buf_init(&f, (size_t)1 << 30);
    queue_file_header(m, &f);
    buf_append(&f, m->data.data, m->data.len);
    const char *t = queue_file_trailer(&tl);
    buf_append(&f, t, tl);
    queue_msg *r = NULL;
    char err[128];
    if (queue_file_read(f.data, f.len, &r, err, sizeof err) != QUEUE_OK || r->nrcpts != m->nrcpts ||
        r->data.len != m->data.len || strcmp(r->sender, m->sender) != 0 || r->dsn_ret != m->dsn_ret ||
        !r->dsn_envid != !m->dsn_envid || (m->dsn_envid && strcmp(r->dsn_envid, m->dsn_envid) != 0))
        abort();
    for (size_t i = 0; i < m->nrcpts; i++) {
        const queue_rcpt_dsn *a = &m->rcpt_dsn[i], *b = &r->rcpt_dsn[i];
        if (a->notify != b->notify || !a->orcpt != !b->orcpt || (a->orcpt && strcmp(a->orcpt, b->orcpt) != 0))
            abort();
    }
    queue_msg_free(r);
    buf_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    queue_msg *m = NULL;
    char err[128];
    if (queue_file_read((const char *)data, size, &m, err, sizeof err) == QUEUE_OK) {
        fuzz_reencode(m);
        queue_msg_free(m);
    }
    queue_rcpt_state st[4];
    memset(st, 0, sizeof st);
    queue_state_parse((const char *)data, size, st, 4);
    queue_state_free(st, 4);
    return 0;
}
