import COpenSSL

/// An OpenSSL failure, with the reasons OpenSSL queued for it (the error queue is emptied, so
/// one connection's failure never shows up in another's).
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var reasons: [String]

    public init(_ operation: String, reasons: [String]) {
        self.operation = operation
        self.reasons = reasons
    }

    /// The error for `operation`, taking every reason off this thread's error queue.
    static func drained(_ operation: String) -> TLSError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return TLSError(operation, reasons: reasons)
    }

    public var description: String {
        reasons.isEmpty ? operation : "\(operation): \(reasons.joined(separator: "; "))"
    }
}

/// What a loaded certificate says about itself, for logs and for telling a renewal happened.
public struct TLSCertificateSummary: Sendable, Equatable {
    /// The leaf's serial number in hex (upper case, as `openssl x509 -serial` prints it).
    public var serial: String
    /// The leaf's subject, one line (`CN=chat.example.org`).
    public var subject: String
    /// The leaf's expiry, as OpenSSL prints it (`Dec  2 21:00:00 2027 GMT`).
    public var notAfter: String
}

/// Certificate files as the supervisor checks them before it starts or reloads workers.
public enum TLSCredentials {
    /// Loads the PEM chain at `certificateChain` and the key at `privateKey` and checks that the
    /// key belongs to the leaf: a worker given these files will be able to serve them.
    public static func check(certificateChain: String, privateKey: String) throws -> TLSCertificateSummary {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError.drained("SSL_CTX_new") }
        defer { SSL_CTX_free(context) }
        guard SSL_CTX_use_certificate_chain_file(context, certificateChain) == 1 else {
            throw TLSError.drained("reading the certificate chain \(certificateChain)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKey, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL checks the key against the leaf as it loads it.
            let error = TLSError.drained("reading the private key \(privateKey)")
            guard error.reasons.contains(where: { $0.contains("mismatch") }) else { throw error }
            throw TLSError("the private key \(privateKey) does not match the certificate \(certificateChain)", reasons: error.reasons)
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.drained("the private key \(privateKey) does not match the certificate \(certificateChain)")
        }
        guard let leaf = SSL_CTX_get0_certificate(context) else { throw TLSError.drained("no certificate in \(certificateChain)") }
        return summary(of: leaf)
    }

    static func summary(of certificate: OpaquePointer) -> TLSCertificateSummary {
        var serial = ""
        if let number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nil) {
            if let hex = BN_bn2hex(number) {
                serial = String(cString: hex)
                CRYPTO_free(hex, #fileID, #line)
            }
            BN_free(number)
        }
        var subject = ""
        if let name = X509_get_subject_name(certificate), let text = X509_NAME_oneline(name, nil, 0) {
            subject = String(cString: text)
            CRYPTO_free(text, #fileID, #line)
        }
        return TLSCertificateSummary(serial: serial, subject: subject, notAfter: printed(X509_get0_notAfter(certificate)))
    }

    private static func printed(_ time: UnsafePointer<ASN1_TIME>?) -> String {
        guard let time, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard ASN1_TIME_print(bio, time) == 1 else { return "" }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = BIO_read(bio, &bytes, Int32(bytes.count))
        return count > 0 ? String(decoding: bytes.prefix(Int(count)), as: UTF8.self) : ""
    }
}
