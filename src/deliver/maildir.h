/*
 * maildir - deliver one message into a Maildir (the format Dovecot reads).
 *
 * The mailbox of local@domain is mail_dir/DOMAIN/LOCAL/ with cur/ new/ tmp/
 * (created 0700 when missing). The message is written to tmp/NAME with
 * "Return-Path: <sender>" and "Delivered-To: address" first, fsync'ed,
 * linked to new/NAME, and new/ is fsync'ed: only then is it delivered.
 * NAME is "SECONDS.M<usec>P<pid>Q<counter>.HOST,S=<size>" (Dovecot's
 * unique name; S= is the file size so readers need not stat it).
 *
 * Results are three-valued: an address that cannot name a mailbox
 * (slash, leading dot, empty part) is DELIVER_PERMFAIL; every disk error
 * (ENOSPC, EDQUOT, EIO, permissions) is DELIVER_TEMPFAIL: retried, never lost.
 *
 * Folders (Maildir++): mail_dir/DOMAIN/LOCAL/.NAME/ is folder NAME; a
 * message the SMTP side quarantined (queue flag QUEUE_FLAG_JUNK) goes to
 * .Junk/, which Dovecot shows as the Junk mailbox.
 */
#ifndef POCHTA_DELIVER_MAILDIR_H
#define POCHTA_DELIVER_MAILDIR_H

#include <stddef.h>

typedef enum {
    DELIVER_OK = 0,
    DELIVER_TEMPFAIL = -1,
    DELIVER_PERMFAIL = -2,
} deliver_status;

/*
 * maildir_deliver - write data (CRLF lines) for address into its Maildir.
 * hostname goes into the unique name. On DELIVER_OK path receives the new/
 * file's path; otherwise err says what failed.
 */
deliver_status maildir_deliver(const char *mail_dir, const char *address, const char *sender,
                               const char *hostname, const char *data, size_t len, char *path,
                               size_t pathlen, char *err, size_t errlen);

/*
 * maildir_deliver_folder - the same into the Maildir++ folder .FOLDER of the
 * mailbox (created with cur/ new/ tmp/ and a maildirfolder marker when
 * missing); folder NULL = the INBOX. Used with "Junk" for DMARC quarantine.
 */
deliver_status maildir_deliver_folder(const char *mail_dir, const char *address, const char *folder,
                                      const char *sender, const char *hostname, const char *data, size_t len,
                                      char *path, size_t pathlen, char *err, size_t errlen);

/* maildir_path - mail_dir/DOMAIN/LOCAL for address (lower-cased); 0, or -1 when unsafe as a path */
int maildir_path(const char *mail_dir, const char *address, char *out, size_t outlen);

#endif
