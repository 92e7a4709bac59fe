/*
 * smtp_tls - server-side TLS for SMTP sessions (STARTTLS, RFC 3207) with
 * OpenSSL 3 through libevent's OpenSSL filter.
 *
 * The context accepts TLS 1.2 and 1.3 only, with OpenSSL's default cipher
 * lists (which already exclude export, NULL and RC4 suites).
 */
#include "smtp/smtp_session.h"

#include "config/config.h"
#include "event/evconn.h"
#include "lib/log.h"

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

/* smtp_tls_context - load cert chain and key; NULL with err on failure */
SSL_CTX *smtp_tls_context(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        goto fail;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        goto fail;
    if (SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    return ctx;
fail:
    snprintf(err, errlen, "TLS setup with certificate %s and key %s failed: %s", cert, key,
             ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return NULL;
}

/* smtp_tls_start - put a TLS filter over the session's connection */
int smtp_tls_start(smtp_session *s)
{
    struct bufferevent *tls = evconn_tls_accept(s->srv->base, s->bev, s->srv->tls, s->srv->cfg->idle_timeout,
                                                256 * 1024);
    if (!tls) {
        log_error(s->id, "event=tls_error error=\"cannot start TLS\"");
        return -1;
    }
    s->bev = tls;
    return 0;
}

/* smtp_tls_describe - protocol, cipher and bits of the session's TLS, for Received: */
int smtp_tls_describe(smtp_session *s, char *out, size_t outlen)
{
    if (!(s->flags & SMTP_FLAG_TLS))
        return -1;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    if (!ssl)
        return -1;
    int alg_bits = 0;
    int bits = SSL_get_cipher_bits(ssl, &alg_bits);
    snprintf(out, outlen, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl), SSL_get_cipher_name(ssl),
             bits, alg_bits);
    return 0;
}
