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
#include <openssl/kdf.h>
#include <string.h>

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
// TLS 1.3 application records after the handshake (EchoTLS frees the SSL object then and
// protects records itself; RFC 8446 section 5.2-5.3 and 7.1).

// HKDF-Expand-Label(secret, label, "", length) with `digest` ("SHA256" or "SHA384").
static inline int echo_tls13_expand_label(const char *digest, const unsigned char *secret, size_t secret_length,
                                          const char *label, unsigned char *out, size_t length) {
    unsigned char info[2 + 1 + 255 + 1];
    size_t label_length = strlen(label);
    if (label_length > 249 || length > 0xffff) return 0;
    info[0] = (unsigned char)(length >> 8);
    info[1] = (unsigned char)length;
    info[2] = (unsigned char)(6 + label_length);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, label_length);
    info[9 + label_length] = 0;  // empty context
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *context = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (context == NULL) return 0;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[5];
    params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_length);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + label_length);
    params[4] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(context, out, length, params);
    EVP_KDF_CTX_free(context);
    return ok;
}

// The per-record nonce: the write IV XOR the 64-bit sequence number, right-aligned.
static inline void echo_tls13_nonce(const unsigned char iv[12], uint64_t sequence, unsigned char nonce[12]) {
    memcpy(nonce, iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (unsigned char)(sequence >> (8 * i));
}

// Encrypts `length` bytes of `content` and then its content `type` with `context` (keyed once)
// into `out` (length + 1 + 16: ciphertext, then tag); `header` (5 bytes) is the additional data.
static inline int echo_tls13_seal(EVP_CIPHER_CTX *context, const unsigned char iv[12], uint64_t sequence,
                                  const unsigned char *header, const unsigned char *content, int length,
                                  unsigned char type, unsigned char *out) {
    unsigned char nonce[12];
    int written = 0, final = 0;
    echo_tls13_nonce(iv, sequence, nonce);
    if (EVP_EncryptInit_ex(context, NULL, NULL, NULL, nonce) != 1) return 0;
    if (EVP_EncryptUpdate(context, NULL, &written, header, 5) != 1) return 0;
    if (length > 0 && EVP_EncryptUpdate(context, out, &written, content, length) != 1) return 0;
    if (EVP_EncryptUpdate(context, out + length, &written, &type, 1) != 1) return 0;
    if (EVP_EncryptFinal_ex(context, out + length + 1, &final) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, out + length + 1) == 1;
}

// Decrypts a record body (`length` bytes: ciphertext then 16-byte tag) into `out` (length - 16);
// 0 when the tag does not verify.
static inline int echo_tls13_open(EVP_CIPHER_CTX *context, const unsigned char iv[12], uint64_t sequence,
                                  const unsigned char *header, const unsigned char *body, int length,
                                  unsigned char *out) {
    unsigned char nonce[12];
    int written = 0, final = 0;
    if (length < 16) return 0;
    echo_tls13_nonce(iv, sequence, nonce);
    if (EVP_DecryptInit_ex(context, NULL, NULL, NULL, nonce) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(body + length - 16)) != 1) return 0;
    if (EVP_DecryptUpdate(context, NULL, &written, header, 5) != 1) return 0;
    if (EVP_DecryptUpdate(context, out, &written, body, length - 16) != 1) return 0;
    return EVP_DecryptFinal_ex(context, out + written, &final) == 1;
}
#endif
