/*
 * maildir_quota - Maildir++ quota: the `maildirsize` file in a Maildir's
 * root, kept the way Dovecot's "maildir" quota backend keeps it, so that
 * pochta (local delivery, POP3 deletions) and Dovecot agree on usage.
 *
 * Format (Maildir++): the first line is the quota definition, e.g.
 * "1048576S,100C" (bytes, messages; a missing part means no limit); every
 * further line is "BYTES COUNT", a delta; usage is the sum of the deltas.
 * The file is recalculated from the messages in new/ and cur/ (also of
 * .Folder/ subfolders) when it is missing, when its definition differs from
 * the mailbox's limits, or when it grew past MAILDIR_QUOTA_FILE_MAX bytes.
 * A message's size is its S= from the file name, else its file size.
 *
 * Results are three-valued: a disk error is a temporary failure, never
 * "full" and never "fine".
 */
#ifndef POCHTA_DELIVER_MAILDIR_QUOTA_H
#define POCHTA_DELIVER_MAILDIR_QUOTA_H

#include <stddef.h>

struct accounts;

typedef struct maildir_usage {
    long long bytes;
    long long messages;
} maildir_usage;

typedef enum {
    MAILBOX_OK = 0,        /* active, room for the message */
    MAILBOX_NOT_MAILBOX,   /* not a mailbox of ours (alias, stranger): no state to check */
    MAILBOX_DISABLED,      /* state 'disabled': refuse with 5.2.1 */
    MAILBOX_FULL,          /* over its quota: 4.2.2 (or 5.2.2) */
    MAILBOX_TEMPFAIL = -1, /* database or disk error */
} maildir_quota_verdict;

/*
 * maildir_quota_usage - usage of the Maildir at root with limits (0 = none);
 * rewrites maildirsize when it must be recalculated and limits are set.
 * 0, or -1 with errno.
 */
int maildir_quota_usage(const char *root, long long max_bytes, long long max_messages, maildir_usage *u);

/* maildir_quota_update - append the delta "BYTES COUNT" when root has a maildirsize; 0 or -1 */
int maildir_quota_update(const char *root, long long bytes, long long messages);

/*
 * maildir_quota_check - may address receive a message of size bytes (0 = size
 * unknown, as at RCPT: full means at or over the limit)? why gets a short
 * reason for logs and bounces. Reads the database and maildirsize; with
 * size 0 it never scans the Maildir (a missing or stale maildirsize then
 * counts as not full), so RCPT on the event loop reads one small file.
 */
maildir_quota_verdict maildir_quota_check(struct accounts *a, const char *mail_dir, const char *address, size_t size,
                              char *why, size_t whylen);

/* maildir_quota_refresh - after a delivery (worker): write the maildirsize a mailbox with a quota lacks,
 * so that RCPT, which never scans a Maildir, sees its usage */
void maildir_quota_refresh(struct accounts *a, const char *mail_dir, const char *address);

#endif
