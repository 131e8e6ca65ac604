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
#include <openssl/core_names.h>

// Swift cannot call function-like macros: fixed-arity wrappers for the ones Echo uses.
static inline long echo_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long echo_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
#endif
