#ifndef ECHO_COPENSSL_SHIM_H
#define ECHO_COPENSSL_SHIM_H
// Debian's OpenSSL 3 (libssl-dev). Only Sources/Shared/EchoTLS/OpenSSL.swift imports this module.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/core_names.h>

// Swift cannot call function-like macros: fixed-arity wrappers for the ones Echo uses.
static inline long echo_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long echo_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long echo_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long echo_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long echo_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
static inline void echo_bio_set_retry_read(BIO *bio) {
    BIO_set_retry_read(bio);
}
static inline void echo_bio_clear_retry_flags(BIO *bio) {
    BIO_clear_retry_flags(bio);
}

// SSL_OP_* are built with SSL_OP_BIT(n), which Swift does not import.
static inline uint64_t echo_ssl_op_no_compression(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t echo_ssl_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t echo_ssl_op_cipher_server_preference(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }

// The HMAC half of a session-ticket key (the ticket callback's EVP_MAC_CTX): SHA-256 with `key`.
// OSSL_PARAM arrays point at C strings, simplest built here.
static inline int echo_ticket_mac_init(EVP_MAC_CTX *mac, const unsigned char *key, size_t length) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, length);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(mac, params);
}
#endif
