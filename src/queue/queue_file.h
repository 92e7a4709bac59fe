/*
 * queue_file - the on-disk formats of the queue: message files and
 * per-recipient state files. Pure functions over bytes (plus small file
 * helpers), so the parsers can be unit-tested and fuzzed without a loop.
 *
 * Message file (queue_dir/active/ID): a sequence of typed records
 *     TYPE LENGTH ':' BYTES '\n'
 * TYPE is one letter, LENGTH a decimal byte count (at most 12 digits, no
 * sign, no leading zero unless it is "0"). Record order:
 *     V "1"   version          I id          A arrival (decimal seconds)
 *     S sender ("" = <>)      W RET "FULL"|"HDRS" (optional)   X ENVID (optional, decoded)
 *     R recipient (one per recipient, at least one), each optionally followed by
 *     P its DSN parameters: NOTIFY flags in decimal, then ";ORCPT" as received
 *     C client ip   N client name   H helo   U auth user (optional)
 *     F flags (decimal bitmask, QUEUE_FLAG_*)   M message body   E "" (end)
 * A file without the final E record, with bytes after it, with a length
 * that runs past the end, or with a record missing is rejected as torn.
 * W, X and P (RFC 3461 DSN parameters) are written only when given, so a
 * file from before them, or a message without them, reads as defaults.
 *
 * State file (queue_dir/state/ID): append-only lines, each
 *     'D' LENGTH ':' PAYLOAD '\n'
 * PAYLOAD is one of
 *     "INDEX done" | "INDEX bounced [REASON]" |
 *     "INDEX deferred ATTEMPTS NEXT_TIME REASON" | "INDEX part ADDRESS"
 * ("part" marks one final address of an expanded recipient as finished, so
 * a retry does not deliver it twice). The last done/bounced/deferred record
 * of an index wins; a line whose length does not match (torn write) is
 * ignored, and the appender starts a fresh line after a torn tail.
 */
#ifndef POCHTA_QUEUE_QUEUE_FILE_H
#define POCHTA_QUEUE_QUEUE_FILE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "lib/buf.h"
#include "queue/queue.h"

#define QUEUE_FILE_VERSION "1"
#define QUEUE_MAX_RCPTS 100000       /* a file claiming more is hostile */
#define QUEUE_STATE_REASON_MAX 400   /* reason text kept per recipient */

#define QUEUE_ENVID_MAX 100          /* RFC 3461 4.4 */
#define QUEUE_ORCPT_MAX 500          /* RFC 3461 4.2 */

/* dsn_ret values and NOTIFY bits: the same numbers as smtp_ret and SMTP_NOTIFY_* (mail/smtp_cmd.h) */
enum { QUEUE_RET_FULL = 1, QUEUE_RET_HDRS = 2 };
enum {
    QUEUE_NOTIFY_NEVER = 1,
    QUEUE_NOTIFY_SUCCESS = 2,
    QUEUE_NOTIFY_FAILURE = 4,
    QUEUE_NOTIFY_DELAY = 8,
    QUEUE_NOTIFY_ALL = 15,
};

enum {
    QUEUE_FLAG_8BIT = 1,
    QUEUE_FLAG_SMTPUTF8 = 2,
    QUEUE_FLAG_JUNK = 4,      /* local copies go to the mailbox's .Junk/ folder (DMARC quarantine) */
};

/* queue_id_valid - 1 when s is exactly 16 upper-case hex digits */
int queue_id_valid(const char *s);

/* queue_file_header - append every record before the body (V..F) and the M record's prefix to out */
buf_status queue_file_header(const queue_msg *m, buf *out);
/* queue_file_trailer - the bytes after the body: "\nE0:\n" */
const char *queue_file_trailer(size_t *len);
/*
 * queue_file_write - the whole message file at path, which must not exist
 * yet, written and fsync'ed (the directory entry is the caller's to make
 * durable). 0, or -1 with errno and *op naming the step that failed.
 */
int queue_file_write(const char *path, const queue_msg *m, mode_t mode, const char **op);

/*
 * queue_file_read - parse a whole message file. QUEUE_OK with *out a new
 * message (caller frees with queue_msg_free), or QUEUE_TEMPFAIL with err
 * naming the problem ("torn", "bad length", ...). Safe on any bytes.
 */
queue_status queue_file_read(const char *data, size_t len, queue_msg **out, char *err, size_t errlen);

typedef enum {
    QRCPT_PENDING = 0,  /* never tried */
    QRCPT_DEFERRED = 1,
    QRCPT_DONE = 2,
    QRCPT_BOUNCED = 3,
} queue_rcpt_status;

typedef struct queue_rcpt_state {
    queue_rcpt_status status;
    unsigned attempts;
    time_t next;                          /* deferred: earliest next attempt */
    char reason[QUEUE_STATE_REASON_MAX];
    char **parts;                         /* finished final addresses (heap, owned here) */
    size_t nparts;
} queue_rcpt_state;

/* queue_state_parse - replay state bytes into st[0..n-1] (zeroed by the caller); returns records used */
size_t queue_state_parse(const char *data, size_t len, queue_rcpt_state *st, size_t n);
/* queue_state_free - release the parts lists of st[0..n-1] */
void queue_state_free(queue_rcpt_state *st, size_t n);
/* queue_state_has_part - 1 when addr is among the finished parts */
int queue_state_has_part(const queue_rcpt_state *st, const char *addr);
/* queue_state_format - one state line for payload (newlines in it are replaced) into out */
buf_status queue_state_format(buf *out, const char *payload);

/* File helpers shared by the queue and the scheduler (run on worker threads). */

/* queue_read_file - read path whole into out (capped at cap); QUEUE_OK, or TEMPFAIL with errno set (ENOENT: gone) */
queue_status queue_read_file(const char *path, buf *out, size_t cap);
/* queue_state_append - append one fsync'ed record to dir/state/ID; QUEUE_OK or TEMPFAIL */
queue_status queue_state_append(const char *queue_dir, const char *id, const char *payload);
/* queue_load - read active/ID and state/ID; OK, or TEMPFAIL with *gone=1 when the file does not exist */
queue_status queue_load(const char *queue_dir, const char *id, queue_msg **msg, queue_rcpt_state **st,
                        int *gone, char *err, size_t errlen);
/* queue_remove - delete active/ID and state/ID and fsync both directories */
queue_status queue_remove(const char *queue_dir, const char *id);
/* queue_quarantine - move active/ID to corrupt/ID (never delete what may hold mail) */
void queue_quarantine(const char *queue_dir, const char *id, const char *why);

#endif
