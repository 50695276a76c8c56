/*
 * tls.c: see tls.h. The context is TLS 1.2 and later, without
 * compression or renegotiation; h2o's own ALPN list (h2, then http/1.1)
 * is registered, so a client that offers h2 gets h2o's HTTP/2 and any
 * other HTTP/1.1. With client_ca, the CAs in that file are the only trust
 * anchors for client certificates and are named to clients in the
 * CertificateRequest; `client_cert: optional` lets a client without one
 * in (its subject is NULL), a certificate that fails verification ends
 * the handshake either way.
 */
#include "gateway/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* h2o 2.2.5 keeps a socket's SSL in a struct of lib/common/socket.c that
 * it does not export, whose first two members are the context and the
 * connection (h2o has no call that returns the peer's certificate). The
 * context is compared with the ones made here before the second is
 * trusted, so a different layout reads as "no certificate", never as a
 * wrong pointer followed. */
struct h2o_ssl_head {
    SSL_CTX *ssl_ctx;
    SSL *ossl;
};

#define MAX_CONTEXTS 4
static SSL_CTX *contexts[MAX_CONTEXTS];
static pthread_mutex_t contexts_lock = PTHREAD_MUTEX_INITIALIZER;

static int ours(const SSL_CTX *ctx)
{
    int found = 0;
    pthread_mutex_lock(&contexts_lock);
    for (int i = 0; i < MAX_CONTEXTS && !found; i++)
        found = ctx != NULL && contexts[i] == ctx;
    pthread_mutex_unlock(&contexts_lock);
    return found;
}

/* OpenSSL's last reason, for a message ("" when it has none). */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, len, " (OpenSSL: %s)", r ? r : "unknown error");
    }
    ERR_clear_error();
    return buf;
}

/* An encrypted key is refused, never prompted for on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

SSL_CTX *kumo__tls_context(const kumo__tls_config *c, kumo__error *err)
{
    char why[200];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        kumo__error_set(err, -ENOMEM, "cannot make a TLS context%s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
        kumo__error_set(err, -EINVAL,
                        "%s: http.tls.cert: '%s' holds no PEM certificate kumo can use%s; give the certificate "
                        "(then its intermediates) in PEM",
                        c->where_cert, c->cert, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    FILE *f = fopen(c->key, "r");
    EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, no_password, NULL) : NULL;
    if (f)
        fclose(f);
    if (pkey == NULL) {
        kumo__error_set(err, -EINVAL,
                        "%s: http.tls.key: '%s' holds no PEM private key kumo can use%s; give the unencrypted key "
                        "in PEM",
                        c->where_key, c->key, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    int used = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pkey);
    if (!used) {
        kumo__error_set(err, -EINVAL,
                        "%s: http.tls.key: '%s' is not the private key of the certificate in '%s'%s; give the key "
                        "the certificate was made for",
                        c->where_key, c->key, c->cert, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    if (c->client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, c->client_ca, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            kumo__error_set(err, -EINVAL,
                            "%s: http.tls.client_ca: '%s' holds no PEM CA certificate%s; give the certificates of "
                            "the CAs that sign client certificates",
                            c->where_client_ca, c->client_ca, ssl_reason(why, sizeof(why)));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        /* OpenSSL refuses to resume a session whose certificate was verified
         * unless the context names the sessions it may resume: without it, a
         * client's second connection (browsers, curl) fails its handshake */
        static const unsigned char sid_ctx[] = "kumo-api";
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (c->client_optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT), NULL);
        SSL_CTX_set_verify_depth(ctx, 8);
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    pthread_mutex_lock(&contexts_lock);
    int slot = -1;
    for (int i = 0; i < MAX_CONTEXTS && slot < 0; i++)
        if (contexts[i] == NULL)
            slot = i;
    if (slot >= 0)
        contexts[slot] = ctx;
    pthread_mutex_unlock(&contexts_lock);
    if (slot < 0) {
        kumo__error_set(err, -EMFILE, "more than %d TLS contexts in one process", MAX_CONTEXTS);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

const char *kumo__tls_client_subject(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->ssl == NULL)
        return NULL;
    const struct h2o_ssl_head *head = (const struct h2o_ssl_head *)sock->ssl;
    if (!ours(head->ssl_ctx) || head->ossl == NULL || SSL_get_SSL_CTX(head->ossl) != head->ssl_ctx)
        return NULL;
    if (SSL_get_verify_result(head->ossl) != X509_V_OK)
        return NULL;
    X509 *peer = SSL_get0_peer_certificate(head->ossl);
    if (peer == NULL)
        return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return NULL;
    const char *out = NULL;
    /* RFC 2253 with UTF-8 kept as is; a subject is at most 1 KiB here */
    if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n > 0 && n <= 1024)
            out = h2o_strdup(&req->pool, data, (size_t)n).base;
    }
    BIO_free(b);
    return out;
}
