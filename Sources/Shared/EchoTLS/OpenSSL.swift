import COpenSSL
import Foundation

/// An OpenSSL failure, with the reasons OpenSSL queued for it (the error queue is emptied, so
/// one connection's failure never shows up in another's).
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var reasons: [String]
    /// The peer spoke plain HTTP (or a proxy CONNECT) where a TLS record was expected: a
    /// server may answer it in plain text.
    public var isPlainHTTP = false

    public init(_ operation: String, reasons: [String]) {
        self.operation = operation
        self.reasons = reasons
    }

    /// The error for `operation`, taking every reason off this thread's error queue.
    static func drained(_ operation: String) -> TLSError {
        var reasons: [String] = []
        var plainHTTP = false
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if ERR_GET_LIB(code) == ERR_LIB_SSL, [SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST].contains(ERR_GET_REASON(code)) {
                plainHTTP = true
            }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var error = TLSError(operation, reasons: reasons)
        error.isPlainHTTP = plainHTTP
        return error
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

// MARK: - Server context

/// Everything a worker's TLS connections share: the certificate and key, the protocol settings,
/// and the session-ticket keys. Built once per worker (not per connection).
// @unchecked: the SSL_CTX is only configured in `init`; afterwards OpenSSL reads it from any
// thread (it is reference counted and internally locked), and the ticket keys sit behind a lock.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    private let ticketKeys: TicketKeyring
    /// The leaf certificate this context presents.
    public let certificate: TLSCertificateSummary

    /// Mozilla's "intermediate" TLS 1.2 list without the DHE suites: every one is forward secret
    /// and AEAD, and ECDHE needs no Diffie-Hellman parameters. TLS 1.3 keeps OpenSSL's suites.
    static let cipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Loads `certificateChain` (PEM, leaf first) and `privateKey`; with `clientCA`, every client
    /// must present a certificate issued by it.
    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError.drained("SSL_CTX_new") }
        // A fresh key so tickets resume within this worker before the supervisor sends the shared ones.
        let keyring = TicketKeyring(initial: TicketKeyring.randomKey())
        do throws(TLSError) {
            certificate = try Self.configure(
                context, keyring: keyring, certificateChain: certificateChain, privateKey: privateKey, clientCA: clientCA
            )
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        ticketKeys = keyring
    }

    private static func configure(
        _ context: OpaquePointer, keyring: TicketKeyring, certificateChain: String, privateKey: String, clientCA: String?
    ) throws(TLSError) -> TLSCertificateSummary {
        guard echo_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1,
              echo_ssl_ctx_set_max_proto_version(context, TLS1_3_VERSION) == 1
        else { throw TLSError.drained("setting TLS 1.2 and 1.3 only") }
        guard SSL_CTX_set_cipher_list(context, cipherList) == 1 else { throw TLSError.drained("setting the cipher list") }
        SSL_CTX_set_options(context, echo_ssl_op_no_compression() | echo_ssl_op_no_renegotiation())
        // The client's order wins: it knows whether it has AES hardware (ChaCha20 on phones).
        SSL_CTX_clear_options(context, echo_ssl_op_cipher_server_preference())
        // An idle connection holds no 32 KiB of record buffers.
        _ = echo_ssl_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
        // Resumption is by stateless tickets only: no per-session memory in the worker, and a
        // ticket from one worker opens on any worker holding the same keys.
        _ = echo_ssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        // One ticket per handshake: a browser keeps one per connection anyway.
        SSL_CTX_set_num_tickets(context, 1)
        let sessionContext: [UInt8] = Array("echo".utf8)
        guard SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count)) == 1 else {
            throw TLSError.drained("setting the session id context")
        }
        // The ticket callback finds the keyring through the context; the keyring lives as long
        // as the TLSServerContext, and every TLSConnection keeps that alive.
        SSL_CTX_set_ex_data(context, 0, Unmanaged.passUnretained(keyring).toOpaque())
        SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticketKeyCallback)
        SSL_CTX_set_alpn_select_cb(context, alpnSelectCallback, nil)

        guard SSL_CTX_use_certificate_chain_file(context, certificateChain) == 1 else {
            throw TLSError.drained("reading the certificate chain \(certificateChain)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKey, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.drained("the private key \(privateKey) does not match the certificate \(certificateChain)")
        }
        guard let leaf = SSL_CTX_get0_certificate(context) else { throw TLSError.drained("no certificate in \(certificateChain)") }

        if let clientCA {
            guard SSL_CTX_load_verify_locations(context, clientCA, nil) == 1,
                  let names = SSL_load_client_CA_file(clientCA)
            else { throw TLSError.drained("reading the client CA \(clientCA)") }
            SSL_CTX_set_client_CA_list(context, names)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        return TLSCredentials.summary(of: leaf)
    }

    deinit { SSL_CTX_free(context) }

    /// Replaces the session-ticket keys: `keys[0]` encrypts new tickets, every key decrypts (the
    /// previous key keeps resuming until it is dropped). Each key is 80 bytes: name (16) | HMAC
    /// key (32) | AES-256 key (32); keys of another length are ignored, and an empty list keeps the
    /// current keys. Thread-safe: called from the control channel while loops handshake.
    public func setTicketKeys(_ keys: [[UInt8]]) {
        ticketKeys.replace(with: keys.filter { $0.count == TicketKeyring.keyLength })
    }
}

/// The ticket keys of one server context, read by OpenSSL's callback on every loop.
// @unchecked: `keys` is only read and written under `lock`.
final class TicketKeyring: @unchecked Sendable {
    static let keyLength = 80
    private let lock = NSLock()
    private var keys: [[UInt8]]

    init(initial: [UInt8]) { keys = [initial] }

    static func randomKey() -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyLength)
        // RAND_bytes fails only without an entropy source; then the all-zero key still works
        // within this worker, and the supervisor's keys replace it.
        _ = RAND_bytes(&key, Int32(keyLength))
        return key
    }

    func replace(with newKeys: [[UInt8]]) {
        guard !newKeys.isEmpty else { return }
        lock.withLock { keys = newKeys }
    }

    var current: [UInt8] { lock.withLock { keys[0] } }

    /// The key whose name is the 16 bytes at `name`, and whether it is the one encrypting now.
    func key(named name: UnsafePointer<UInt8>) -> (key: [UInt8], isCurrent: Bool)? {
        lock.withLock {
            for (index, key) in keys.enumerated() where key.withUnsafeBufferPointer({ memcmp($0.baseAddress!, name, 16) == 0 }) {
                return (key, index == 0)
            }
            return nil
        }
    }
}

/// OpenSSL's ticket callback: `encrypt` 1 seals a new ticket with the current key; 0 opens one
/// (0: unknown key, full handshake; 1: opened; 2: opened with an older key, so issue a new ticket).
private let ticketKeyCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
) -> Int32 = { ssl, name, iv, cipher, mac, encrypt in
    guard let ssl, let name, let iv, let cipher, let mac, let context = SSL_get_SSL_CTX(ssl),
          let ring = SSL_CTX_get_ex_data(context, 0)
    else { return -1 }
    let keyring = Unmanaged<TicketKeyring>.fromOpaque(ring).takeUnretainedValue()
    if encrypt == 1 {
        let key = keyring.current
        guard RAND_bytes(iv, 16) == 1 else { return -1 }
        let ok = key.withUnsafeBufferPointer { key -> Bool in
            name.update(from: key.baseAddress!, count: 16)
            return echo_ticket_mac_init(mac, key.baseAddress! + 16, 32) == 1
                && EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nil, key.baseAddress! + 48, iv) == 1
        }
        return ok ? 1 : -1
    }
    guard let (key, isCurrent) = keyring.key(named: name) else { return 0 }
    let ok = key.withUnsafeBufferPointer { key -> Bool in
        echo_ticket_mac_init(mac, key.baseAddress! + 16, 32) == 1
            && EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nil, key.baseAddress! + 48, iv) == 1
    }
    guard ok else { return -1 }
    return isCurrent ? 1 : 2
}

/// ALPN: `http/1.1` when the client offers it; otherwise no ALPN at all rather than a failed
/// handshake (a client offering only `h2` still gets HTTP/1.1, which it must accept).
private let alpnSelectCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
) -> Int32 = { _, selected, selectedLength, offered, offeredLength, _ in
    guard let selected, let selectedLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
    let wanted = Array("http/1.1".utf8)
    var index = 0
    while index < Int(offeredLength) {
        let length = Int(offered[index])
        let start = index + 1
        guard start + length <= Int(offeredLength) else { break }
        if length == wanted.count, memcmp(offered + start, wanted, length) == 0 {
            selected.pointee = offered + start
            selectedLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

// MARK: - Client context

/// What an outgoing TLS connection (Redis over `rediss://`, tests) verifies the server against.
// @unchecked: the SSL_CTX is only configured in `init`; OpenSSL reads it from any thread after.
public final class TLSClientContext: @unchecked Sendable {
    let context: OpaquePointer

    /// Verifies the peer against `caFile` (nil: the system's CAs) unless `verifyPeer` is false.
    /// `certificateChain` and `privateKey` present a client certificate (a Redis with
    /// `tls-auth-clients yes`); `applicationProtocols` are offered by ALPN.
    public convenience init(
        caFile: String?, verifyPeer: Bool = true, certificateChain: String? = nil, privateKey: String? = nil,
        applicationProtocols: [String] = []
    ) throws(TLSError) {
        try self.init(
            caFile: caFile, verifyPeer: verifyPeer, certificateChain: certificateChain, privateKey: privateKey,
            applicationProtocols: applicationProtocols, legacyTLS11: false
        )
    }

    /// `legacyTLS11`: a TLS 1.1-only client with every cipher allowed, for tests that check
    /// servers refuse it.
    init(
        caFile: String?, verifyPeer: Bool, certificateChain: String?, privateKey: String?,
        applicationProtocols: [String], legacyTLS11: Bool
    ) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError.drained("SSL_CTX_new") }
        self.context = context
        if legacyTLS11 {
            guard echo_ssl_ctx_set_min_proto_version(context, TLS1_1_VERSION) == 1,
                  echo_ssl_ctx_set_max_proto_version(context, TLS1_1_VERSION) == 1,
                  SSL_CTX_set_cipher_list(context, "DEFAULT@SECLEVEL=0") == 1
            else { throw TLSError.drained("setting TLS 1.1") }
        } else {
            guard echo_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1 else { throw TLSError.drained("setting TLS 1.2 at least") }
        }
        _ = echo_ssl_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
        if verifyPeer {
            if let caFile {
                guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else { throw TLSError.drained("reading the CA file \(caFile)") }
            } else {
                guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw TLSError.drained("loading the system CAs") }
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        if let certificateChain {
            guard SSL_CTX_use_certificate_chain_file(context, certificateChain) == 1 else {
                throw TLSError.drained("reading the client certificate chain \(certificateChain)")
            }
            guard let privateKey, SSL_CTX_use_PrivateKey_file(context, privateKey, SSL_FILETYPE_PEM) == 1,
                  SSL_CTX_check_private_key(context) == 1
            else { throw TLSError.drained("the client key \(privateKey ?? "(none)") does not match \(certificateChain)") }
        }
        if !applicationProtocols.isEmpty {
            let wire = applicationProtocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            // SSL_CTX_set_alpn_protos returns 0 on success.
            guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else { throw TLSError.drained("setting ALPN") }
        }
    }

    deinit { SSL_CTX_free(context) }
}

/// A session a client got from a server, to resume with on the next connection.
// @unchecked: an SSL_SESSION is immutable once handed out and reference counted by OpenSSL.
public final class TLSSession: @unchecked Sendable {
    let session: OpaquePointer
    init(_ session: OpaquePointer) { self.session = session }
    deinit { SSL_SESSION_free(session) }
}

// MARK: - Connection

/// One TLS connection driven through memory: the caller feeds the ciphertext it received
/// (``receive(_:)``), steps the handshake, reads and writes plaintext, and sends whatever
/// ``drainCiphertext(_:)`` hands it. OpenSSL never touches a socket.
///
/// Not thread-safe: one per channel, used on that channel's event loop. Ciphertext waits in two
/// plain arrays (a custom BIO, not a BIO pair, whose fixed buffers would stay allocated while
/// the connection idles); both are released as soon as they are empty.
public final class TLSConnection {
    private let ssl: OpaquePointer
    /// Keeps the context (and the ticket keyring its callback reaches) alive as long as the SSL.
    private let owner: AnyObject
    fileprivate var inbound: [UInt8] = []
    fileprivate var inboundOffset = 0
    fileprivate var outbound: [UInt8] = []
    /// While ``write(_:ciphertextInto:)`` runs: the caller's memory the BIO writes ciphertext
    /// into, and how much of it is used. Bytes that do not fit go to `outbound`.
    fileprivate var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    fileprivate var outputCount = 0
    /// After a fatal error OpenSSL must not be asked for a close_notify.
    private var failed = false

    /// The server end of a connection accepted with `context`.
    public convenience init(server context: TLSServerContext) throws(TLSError) {
        try self.init(context: context.context, owner: context)
        SSL_set_accept_state(ssl)
    }

    /// The client end, verifying that the server's certificate names `serverName` (a host name,
    /// sent as SNI, or an IP address) and resuming `session` when given.
    public convenience init(client context: TLSClientContext, serverName: String, session: TLSSession? = nil) throws(TLSError) {
        try self.init(context: context.context, owner: context)
        SSL_set_connect_state(ssl)
        if Self.isIPAddress(serverName) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                throw TLSError.drained("checking the server address \(serverName)")
            }
        } else {
            guard echo_ssl_set_tlsext_host_name(ssl, serverName) == 1, SSL_set1_host(ssl, serverName) == 1 else {
                throw TLSError.drained("checking the server name \(serverName)")
            }
        }
        if let session, SSL_set_session(ssl, session.session) != 1 { throw TLSError.drained("resuming a session") }
    }

    private init(context: OpaquePointer, owner: AnyObject) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.drained("SSL_new") }
        self.ssl = ssl
        self.owner = owner
        guard let bio = BIO_new(echoBIOMethod) else { throw TLSError.drained("BIO_new") }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        // The SSL takes the one reference and frees the BIO with itself.
        SSL_set_bio(ssl, bio, bio)
    }

    deinit { SSL_free(ssl) }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: Ciphertext

    /// Ciphertext received from the peer, kept until OpenSSL reads it.
    public func receive(_ ciphertext: UnsafeRawBufferPointer) {
        inbound.append(contentsOf: ciphertext.bindMemory(to: UInt8.self))
    }

    /// Bytes received and not yet read by OpenSSL.
    public var unreadCiphertextCount: Int { inbound.count - inboundOffset }

    /// Whether a read could produce anything: ciphertext not yet read, or a record OpenSSL holds.
    public var hasBufferedInput: Bool { inbound.count > inboundOffset || SSL_has_pending(ssl) == 1 }

    /// Bytes OpenSSL has produced for the peer and nobody has sent yet.
    public var pendingCiphertextCount: Int { outbound.count }

    /// Hands the ciphertext waiting for the peer to `body` and forgets it; nil when there is none.
    @discardableResult
    public func drainCiphertext<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result? {
        guard !outbound.isEmpty else { return nil }
        defer { outbound = [] }
        return try outbound.withUnsafeBytes(body)
    }

    // MARK: Operations

    /// Advances the handshake with the ciphertext received so far.
    public func handshake() throws(TLSError) -> TLSProgress {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        return try progress(after: result, "TLS handshake")
    }

    /// Whether the handshake has finished.
    public var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Decrypts into `buffer`: the count of plaintext bytes, or why there are none.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        ERR_clear_error()
        let result = SSL_read(ssl, base, Int32(clamping: buffer.count))
        if result > 0 { return .bytes(Int(result)) }
        switch try progress(after: result, "TLS read") {
        case .complete: return .bytes(0)
        case .needsInput: return .needsInput
        case .closed: return .closed
        }
    }

    /// Encrypts all of `plaintext` (the ciphertext then waits in ``drainCiphertext(_:)``).
    /// Returns false when OpenSSL first needs input from the peer; nothing was written then.
    public func write(_ plaintext: UnsafeRawBufferPointer) throws(TLSError) -> Bool {
        guard let base = plaintext.baseAddress, plaintext.count > 0 else { return true }
        ERR_clear_error()
        // Without SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write succeeds for all the bytes or none;
        // the BIO never refuses bytes, so "none" only means it must read first.
        let result = SSL_write(ssl, base, Int32(clamping: plaintext.count))
        if result > 0 { return true }
        switch try progress(after: result, "TLS write") {
        case .complete, .closed: return true
        case .needsInput: return false
        }
    }

    /// Encrypts all of `plaintext` as ``write(_:)`` does, putting the ciphertext straight into
    /// `output` (the caller's send buffer) instead of copying it through ``drainCiphertext(_:)``.
    /// Returns whether the plaintext was written and how many bytes at the start of `output`
    /// now hold ciphertext. Ciphertext that does not fit, or that follows bytes already waiting,
    /// waits in ``drainCiphertext(_:)`` as usual and goes out after those `output` bytes.
    public func write(
        _ plaintext: UnsafeRawBufferPointer, ciphertextInto output: UnsafeMutableRawBufferPointer
    ) throws(TLSError) -> (written: Bool, ciphertextCount: Int) {
        self.output = output
        outputCount = 0
        defer {
            self.output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            outputCount = 0
        }
        let written = try write(plaintext)
        return (written, outputCount)
    }

    /// Queues a close_notify for the peer. Returns false when there is nothing to say: the
    /// handshake has not finished, or the connection already failed.
    @discardableResult
    public func shutdown() -> Bool {
        guard !failed, isHandshakeComplete else { return false }
        ERR_clear_error()
        let result = SSL_shutdown(ssl)
        ERR_clear_error()
        return result >= 0
    }

    private func progress(after result: Int32, _ operation: String) throws(TLSError) -> TLSProgress {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needsInput
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            failed = true
            var error = TLSError.drained(operation)
            let verification = SSL_get_verify_result(ssl)
            if verification != Int(X509_V_OK) {
                error.reasons.append(String(cString: X509_verify_cert_error_string(verification)))
            }
            if error.reasons.isEmpty { error.reasons.append("the peer broke the connection") }
            throw error
        }
    }

    // MARK: What was negotiated

    /// Whether the handshake resumed an earlier session (a ticket) instead of a full handshake.
    public var sessionReused: Bool { SSL_session_reused(ssl) == 1 }

    /// The protocol ALPN settled on, if any.
    public var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.3`, `TLSv1.2`.
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The cipher suite's OpenSSL name, empty before the handshake.
    public var cipherName: String {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return "" }
        return String(cString: name)
    }

    /// The session to resume with next time (for TLS 1.3, known once the server's ticket arrived,
    /// that is after the first read following the handshake).
    public var session: TLSSession? {
        SSL_get1_session(ssl).map(TLSSession.init)
    }
}

// MARK: - The memory BIO

/// A source/sink BIO whose bytes live in the ``TLSConnection`` set as its data: reads take from
/// `inbound`, writes go to the caller's `output` while they fit there and nothing waits before
/// them, else they append to `outbound`.
// nonisolated(unsafe): created once (Swift's lazy global initialisation is thread-safe) and never
// mutated after; OpenSSL only reads a BIO_METHOD.
nonisolated(unsafe) private let echoBIOMethod: OpaquePointer = {
    let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "echo memory")!
    BIO_meth_set_write(method, bioWrite)
    BIO_meth_set_read(method, bioRead)
    BIO_meth_set_ctrl(method, bioControl)
    BIO_meth_set_create(method, bioCreate)
    BIO_meth_set_destroy(method, bioDestroy)
    return method
}()

private func connection(of bio: OpaquePointer?) -> TLSConnection? {
    guard let bio, let data = BIO_get_data(bio) else { return nil }
    return Unmanaged<TLSConnection>.fromOpaque(data).takeUnretainedValue()
}

private let bioWrite: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { bio, bytes, count in
    guard let connection = connection(of: bio), let bytes, count >= 0 else { return -1 }
    echo_bio_clear_retry_flags(bio)
    let free = connection.output.count - connection.outputCount
    if connection.outbound.isEmpty, let base = connection.output.baseAddress, free >= Int(count) {
        (base + connection.outputCount).copyMemory(from: bytes, byteCount: Int(count))
        connection.outputCount += Int(count)
        return count
    }
    bytes.withMemoryRebound(to: UInt8.self, capacity: Int(count)) {
        connection.outbound.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(count)))
    }
    return count
}

private let bioRead: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32 = { bio, buffer, capacity in
    guard let connection = connection(of: bio), let buffer, capacity >= 0 else { return -1 }
    echo_bio_clear_retry_flags(bio)
    let available = connection.inbound.count - connection.inboundOffset
    guard available > 0 else {
        echo_bio_set_retry_read(bio)
        return -1
    }
    let count = min(available, Int(capacity))
    connection.inbound.withUnsafeBytes { bytes in
        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + connection.inboundOffset, byteCount: count)
    }
    connection.inboundOffset += count
    if connection.inboundOffset == connection.inbound.count {
        connection.inbound = []
        connection.inboundOffset = 0
    }
    return Int32(count)
}

private let bioControl: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = { bio, command, _, _ in
    switch command {
    case BIO_CTRL_FLUSH: return 1
    case BIO_CTRL_PENDING: return connection(of: bio).map { $0.inbound.count - $0.inboundOffset } ?? 0
    case BIO_CTRL_WPENDING: return connection(of: bio)?.outbound.count ?? 0
    default: return 0
    }
}

private let bioCreate: @convention(c) (OpaquePointer?) -> Int32 = { bio in
    BIO_set_init(bio, 1)
    return 1
}

private let bioDestroy: @convention(c) (OpaquePointer?) -> Int32 = { bio in
    BIO_set_data(bio, nil)
    return 1
}
