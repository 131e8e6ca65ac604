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
    /// Whether a TLS 1.3 connection hands its records to ``TLS13Records`` and frees its SSL object
    /// once the handshake ends (`ECHO_TLS_RECORDS=compact`).
    let compactRecords: Bool

    /// Mozilla's "intermediate" TLS 1.2 list without the DHE suites: every one is forward secret
    /// and AEAD, and ECDHE needs no Diffie-Hellman parameters. TLS 1.3 keeps OpenSSL's suites.
    static let cipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Loads `certificateChain` (PEM, leaf first) and `privateKey`; with `clientCA`, every client
    /// must present a certificate issued by it. `compactRecords`: see ``TLS13Records``.
    public init(certificateChain: String, privateKey: String, clientCA: String? = nil, compactRecords: Bool = false) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError.drained("SSL_CTX_new") }
        self.compactRecords = compactRecords
        do throws(TLSError) {
            // A fresh key so tickets resume within this worker before the supervisor sends the shared ones.
            let keyring = try TicketKeyring(initial: TicketKeyring.randomKey())
            certificate = try Self.configure(
                context, keyring: keyring, certificateChain: certificateChain, privateKey: privateKey, clientCA: clientCA,
                compactRecords: compactRecords
            )
            ticketKeys = keyring
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
    }

    private static func configure(
        _ context: OpaquePointer, keyring: TicketKeyring, certificateChain: String, privateKey: String, clientCA: String?,
        compactRecords: Bool
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
        // The application traffic secrets let a TLS 1.3 connection drop its SSL object once the
        // handshake is over (see ``TLS13Records``); without compact records they never leave OpenSSL.
        if compactRecords { SSL_CTX_set_keylog_callback(context, keylogCallback) }

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

    /// A key from OpenSSL's CSPRNG. Its failure (no entropy source) is an error: a predictable
    /// ticket key would let anyone decrypt tickets and so recover their sessions' secrets.
    static func randomKey() throws(TLSError) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyLength)
        guard RAND_bytes(&key, Int32(keyLength)) == 1 else { throw TLSError.drained("making a session-ticket key") }
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

/// Hands the two TLS 1.3 application traffic secrets of a server connection to its
/// ``TLSConnection`` (OpenSSL passes every secret as an NSS key-log line; the rest are ignored).
private let keylogCallback: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { ssl, line in
    guard let ssl, let line, let connection = connection(of: SSL_get_rbio(ssl)) else { return }
    let fields = String(cString: line).split(separator: " ")
    // A TLS 1.3 secret is at most 48 bytes (SHA-384): anything longer is not one.
    guard fields.count == 3, fields[2].utf8.count <= 128, let secret = Hex.decode(fields[2]) else { return }
    switch fields[0] {
    case "CLIENT_TRAFFIC_SECRET_0": connection.clientTrafficSecret = secret
    case "SERVER_TRAFFIC_SECRET_0": connection.serverTrafficSecret = secret
    default: break
    }
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
///
/// A server connection that negotiated TLS 1.3 frees its SSL object when the handshake ends and
/// protects the application records itself (``TLS13Records``): OpenSSL 3.0 keeps about 12 KB
/// per connection after a handshake (the SSL object alone is 7.6 KB) that only the handshake
/// needed, and an idle chat connection would hold it for hours.
public final class TLSConnection {
    private var ssl: OpaquePointer?
    /// Keeps the context (and the ticket keyring its callback reaches) alive as long as the SSL.
    private let owner: AnyObject
    /// A server connection whose context chose compact records (``TLS13Records``).
    private let mayReleaseSSL: Bool
    fileprivate var inbound: [UInt8] = []
    fileprivate var inboundOffset = 0
    fileprivate var outbound: [UInt8] = []
    /// While ``write(_:ciphertextInto:)`` runs: the caller's memory the BIO writes ciphertext
    /// into, and how much of it is used. Bytes that do not fit go to `outbound`.
    fileprivate var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    fileprivate var outputCount = 0
    /// After a fatal error OpenSSL must not be asked for a close_notify.
    private var failed = false
    /// Set by the key-log callback during a TLS 1.3 handshake; cleared once used.
    fileprivate var clientTrafficSecret: [UInt8] = []
    fileprivate var serverTrafficSecret: [UInt8] = []
    /// The record layer that replaced the SSL object, once a TLS 1.3 server handshake ended.
    private var records: TLS13Records?
    /// What the handshake settled, kept for when the SSL object is gone.
    private var negotiated: (reused: Bool, alpn: String?, version: String, cipher: String)?

    /// The server end of a connection accepted with `context`.
    public convenience init(server context: TLSServerContext) throws(TLSError) {
        try self.init(context: context.context, owner: context, mayReleaseSSL: context.compactRecords)
        SSL_set_accept_state(ssl)
    }

    /// The client end, verifying that the server's certificate names `serverName` (a host name,
    /// sent as SNI, or an IP address) and resuming `session` when given.
    public convenience init(client context: TLSClientContext, serverName: String, session: TLSSession? = nil) throws(TLSError) {
        try self.init(context: context.context, owner: context, mayReleaseSSL: false)
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

    private init(context: OpaquePointer, owner: AnyObject, mayReleaseSSL: Bool) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.drained("SSL_new") }
        self.ssl = ssl
        self.owner = owner
        self.mayReleaseSSL = mayReleaseSSL
        guard let bio = BIO_new(echoBIOMethod) else { throw TLSError.drained("BIO_new") }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        // The SSL takes the one reference and frees the BIO with itself.
        SSL_set_bio(ssl, bio, bio)
    }

    deinit { if let ssl { SSL_free(ssl) } }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    /// Whether OpenSSL's SSL object is gone and ``TLS13Records`` protects the records.
    var usesOwnRecordLayer: Bool { records != nil }

    /// Asks the peer for new keys both ways (a TLS 1.3 KeyUpdate, sent with the next write):
    /// what a long-lived client may do, for tests.
    func requestKeyUpdate() -> Bool { ssl.map { SSL_key_update($0, SSL_KEY_UPDATE_REQUESTED) == 1 } ?? false }

    // MARK: Ciphertext

    /// Ciphertext received from the peer, kept until OpenSSL reads it.
    public func receive(_ ciphertext: UnsafeRawBufferPointer) {
        inbound.append(contentsOf: ciphertext.bindMemory(to: UInt8.self))
    }

    /// Bytes received and not yet read by OpenSSL.
    public var unreadCiphertextCount: Int { inbound.count - inboundOffset }

    /// Whether a read could produce anything: ciphertext not yet read, or a record OpenSSL holds.
    public var hasBufferedInput: Bool {
        if let records { return inbound.count > inboundOffset || records.hasBufferedInput }
        guard let ssl else { return false }
        return inbound.count > inboundOffset || SSL_has_pending(ssl) == 1
    }

    /// Bytes OpenSSL has produced for the peer and nobody has sent yet.
    public var pendingCiphertextCount: Int { outbound.count }

    /// Hands the ciphertext waiting for the peer to `body` and forgets it; nil when there is none.
    @discardableResult
    public func drainCiphertext<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result? {
        guard !outbound.isEmpty else { return nil }
        defer { outbound = [] }
        return try outbound.withUnsafeBytes(body)
    }

    /// Moves the records ``TLS13Records`` produced behind whatever waits to be sent.
    private func collectOutput(of records: TLS13Records) {
        let produced = records.takeOutput()
        if outbound.isEmpty { outbound = produced } else { outbound += produced }
    }

    /// The unread ciphertext, consumed: what the record layer reads after the handshake.
    private func takeInbound() -> ArraySlice<UInt8> {
        defer {
            inbound = []
            inboundOffset = 0
        }
        return inbound[inboundOffset...]
    }

    // MARK: Operations

    /// Advances the handshake with the ciphertext received so far.
    public func handshake() throws(TLSError) -> TLSProgress {
        guard let ssl else { return records != nil ? .complete : .closed }
        ERR_clear_error()
        let sentBefore = outbound.count
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            finishHandshake(ssl, recordsSentAtTheEnd: TLS13Records.recordCount(in: outbound[sentBefore...]))
            return .complete
        }
        return try progress(after: result, "TLS handshake")
    }

    /// Remembers what was negotiated and, on a TLS 1.3 server, hands the records to
    /// ``TLS13Records`` and frees the SSL object. The server's last handshake step sent only its
    /// session tickets, the first records under its application key, so its write sequence
    /// starts after them; OpenSSL reads exactly one record at a time (no read-ahead), so none of
    /// the client's application records has been read yet.
    private func finishHandshake(_ ssl: OpaquePointer, recordsSentAtTheEnd: Int) {
        var alpnData: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnData, &alpnLength)
        let alpn = alpnData.flatMap { alpnLength > 0 ? String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) : nil }
        let cipher = SSL_get_current_cipher(ssl)
        negotiated = (
            SSL_session_reused(ssl) == 1, alpn, String(cString: SSL_get_version(ssl)),
            cipher.flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        )
        defer {
            clientTrafficSecret = []
            serverTrafficSecret = []
        }
        guard mayReleaseSSL, SSL_version(ssl) == TLS1_3_VERSION, SSL_has_pending(ssl) == 0, let cipher,
              let suite = TLS13Records.Suite(id: UInt16(truncatingIfNeeded: SSL_CIPHER_get_id(cipher))),
              let records = TLS13Records(
                  suite: suite, readSecret: clientTrafficSecret, writeSecret: serverTrafficSecret, writeSequence: UInt64(recordsSentAtTheEnd)
              )
        else { return }
        self.records = records
        SSL_free(ssl)
        self.ssl = nil
    }

    /// Whether the handshake has finished.
    public var isHandshakeComplete: Bool {
        if records != nil { return true }
        guard let ssl else { return false }
        return SSL_is_init_finished(ssl) == 1
    }

    /// Decrypts into `buffer`: the count of plaintext bytes, or why there are none.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        if let records {
            if inbound.count > inboundOffset { records.receive(takeInbound()) }
            defer { collectOutput(of: records) }
            do {
                return try records.read(into: buffer)
            } catch {
                failed = true
                throw error
            }
        }
        guard let ssl else { return .closed }
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
        if let records {
            guard !failed else { throw TLSError("TLS write", reasons: ["the connection failed"]) }
            records.write(plaintext)
            collectOutput(of: records)
            return true
        }
        guard let ssl else { throw TLSError("TLS write", reasons: ["the connection failed"]) }
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
        if let records, outbound.isEmpty {
            guard !failed else { throw TLSError("TLS write", reasons: ["the connection failed"]) }
            let used = records.write(plaintext, into: output)
            collectOutput(of: records)
            return (true, used)
        }
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
        if let records {
            let sent = records.closeNotify()
            collectOutput(of: records)
            return sent
        }
        guard let ssl else { return false }
        ERR_clear_error()
        let result = SSL_shutdown(ssl)
        ERR_clear_error()
        return result >= 0
    }

    private func progress(after result: Int32, _ operation: String) throws(TLSError) -> TLSProgress {
        guard let ssl else { return .closed }
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
    public var sessionReused: Bool {
        if let negotiated { return negotiated.reused }
        return ssl.map { SSL_session_reused($0) == 1 } ?? false
    }

    /// The protocol ALPN settled on, if any.
    public var applicationProtocol: String? {
        if let negotiated { return negotiated.alpn }
        guard let ssl else { return nil }
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.3`, `TLSv1.2`.
    public var protocolVersion: String {
        if let negotiated { return negotiated.version }
        return ssl.map { String(cString: SSL_get_version($0)) } ?? ""
    }

    /// The cipher suite's OpenSSL name, empty before the handshake.
    public var cipherName: String {
        if let negotiated { return negotiated.cipher }
        guard let ssl, let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return "" }
        return String(cString: name)
    }

    /// The session to resume with next time (for TLS 1.3, known once the server's ticket arrived,
    /// that is after the first read following the handshake).
    public var session: TLSSession? {
        ssl.flatMap { SSL_get1_session($0) }.map(TLSSession.init)
    }
}

// MARK: - TLS 1.3 records without the SSL object

/// The application records of a TLS 1.3 connection after its handshake (RFC 8446 section 5),
/// keyed from the traffic secrets OpenSSL derived: AEAD-protected records in both directions,
/// alerts (close_notify; any other fatal alert ends the connection) and KeyUpdate. Any other
/// post-handshake message from a client is unexpected, and a record that fails to decrypt is
/// answered with bad_record_mac. What it keeps per connection: two keyed cipher contexts, the
/// two secrets and IVs, the sequence numbers. It lives in this file because it calls OpenSSL's
/// EVP ciphers, and only this file imports COpenSSL.
final class TLS13Records {
    struct Suite {
        let cipher: OpaquePointer
        let digest: String
        let keyLength: Int

        /// The TLS 1.3 suites OpenSSL 3.0 enables by default; nil for any other (TLS_AES_128_CCM_*
        /// keep OpenSSL's record layer).
        init?(id: UInt16) {
            switch id {
            case 0x1301: (cipher, digest, keyLength) = (EVP_aes_128_gcm(), "SHA256", 16)
            case 0x1302: (cipher, digest, keyLength) = (EVP_aes_256_gcm(), "SHA384", 32)
            case 0x1303: (cipher, digest, keyLength) = (EVP_chacha20_poly1305(), "SHA256", 32)
            default: return nil
            }
        }
    }

    /// One direction: its secret (for KeyUpdate), IV, keyed context and next sequence number.
    private struct Direction {
        var secret: [UInt8]
        var iv: [UInt8]
        let context: OpaquePointer
        var sequence: UInt64
    }

    static let maxPlaintext = 16 * 1024
    private static let tagLength = 16
    private static let contentApplicationData: UInt8 = 23, contentAlert: UInt8 = 21, contentHandshake: UInt8 = 22

    private let suite: Suite
    private var readState: Direction
    private var writeState: Direction
    /// Ciphertext not yet decrypted (at most one partial record between reads).
    private var input: [UInt8] = []
    private var inputOffset = 0
    /// Plaintext decrypted and not yet read (a record larger than the caller's buffer).
    private var plaintext: [UInt8] = []
    private var plaintextOffset = 0
    /// Records for the peer (alerts, KeyUpdate, data), taken by ``takeOutput()``.
    private var output: [UInt8] = []
    private var peerClosed = false
    private var failure: TLSError?

    init?(suite: Suite, readSecret: [UInt8], writeSecret: [UInt8], writeSequence: UInt64) {
        guard !readSecret.isEmpty, !writeSecret.isEmpty,
              let read = Self.direction(suite: suite, secret: readSecret, encrypt: false, sequence: 0)
        else { return nil }
        guard let write = Self.direction(suite: suite, secret: writeSecret, encrypt: true, sequence: writeSequence) else {
            EVP_CIPHER_CTX_free(read.context)
            return nil
        }
        self.suite = suite
        readState = read
        writeState = write
    }

    deinit {
        EVP_CIPHER_CTX_free(readState.context)
        EVP_CIPHER_CTX_free(writeState.context)
        OPENSSL_cleanse(&readState.secret, readState.secret.count)
        OPENSSL_cleanse(&writeState.secret, writeState.secret.count)
    }

    private static func direction(suite: Suite, secret: [UInt8], encrypt: Bool, sequence: UInt64) -> Direction? {
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
        let initialised = encrypt
            ? EVP_EncryptInit_ex(context, suite.cipher, nil, nil, nil) == 1
            : EVP_DecryptInit_ex(context, suite.cipher, nil, nil, nil) == 1
        var direction = Direction(secret: secret, iv: [], context: context, sequence: sequence)
        guard initialised, rekey(&direction, suite: suite, secret: secret) else {
            EVP_CIPHER_CTX_free(context)
            return nil
        }
        return direction
    }

    /// Keys `direction` from `secret` (section 7.3) and restarts its sequence at `sequence`.
    private static func rekey(_ direction: inout Direction, suite: Suite, secret: [UInt8], sequence: UInt64? = nil) -> Bool {
        var key = [UInt8](repeating: 0, count: suite.keyLength)
        var iv = [UInt8](repeating: 0, count: 12)
        defer { OPENSSL_cleanse(&key, key.count) }
        guard echo_tls13_expand_label(suite.digest, secret, secret.count, "key", &key, key.count) == 1,
              echo_tls13_expand_label(suite.digest, secret, secret.count, "iv", &iv, iv.count) == 1,
              EVP_CipherInit_ex(direction.context, nil, nil, key, nil, -1) == 1
        else { return false }
        direction.secret = secret
        direction.iv = iv
        if let sequence { direction.sequence = sequence }
        return true
    }

    /// The next traffic secret after a KeyUpdate (section 7.2).
    private func nextSecret(after secret: [UInt8]) -> [UInt8]? {
        var next = [UInt8](repeating: 0, count: secret.count)
        guard echo_tls13_expand_label(suite.digest, secret, secret.count, "traffic upd", &next, next.count) == 1 else { return nil }
        return next
    }

    /// How many whole records `bytes` holds (the records OpenSSL wrote in one step).
    static func recordCount(in bytes: ArraySlice<UInt8>) -> Int {
        var index = bytes.startIndex, count = 0
        while bytes.endIndex - index >= 5 {
            let length = Int(bytes[index + 3]) << 8 | Int(bytes[index + 4])
            guard bytes.endIndex - index >= 5 + length else { break }
            index += 5 + length
            count += 1
        }
        return count
    }

    // MARK: Reading

    private var hasPlaintext: Bool { plaintext.count > plaintextOffset }

    /// Plaintext not yet read, or ciphertext not yet decrypted (perhaps only part of a record).
    var hasBufferedInput: Bool { hasPlaintext || input.count > inputOffset }

    func receive(_ ciphertext: ArraySlice<UInt8>) {
        if inputOffset > 0 {
            input.removeFirst(inputOffset)
            inputOffset = 0
        }
        input.append(contentsOf: ciphertext)
    }

    /// The next plaintext, after any alerts and KeyUpdates before it.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        if let failure { throw failure }
        while true {
            if hasPlaintext {
                let count = min(buffer.count, plaintext.count - plaintextOffset)
                plaintext.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + plaintextOffset, byteCount: count) }
                plaintextOffset += count
                if plaintextOffset == plaintext.count {
                    plaintext = []
                    plaintextOffset = 0
                }
                return .bytes(count)
            }
            if peerClosed { return .closed }
            guard input.count - inputOffset >= 5 else { return releasingInput(.needsInput) }
            let header = Array(input[inputOffset..<inputOffset + 5])
            let length = Int(header[3]) << 8 | Int(header[4])
            guard header[0] == Self.contentApplicationData else { throw fail(alert: 10, "an unprotected record after the handshake") }
            guard length <= Self.maxPlaintext + 256, length >= Self.tagLength + 1 else { throw fail(alert: 22, "a record of \(length) bytes") }
            guard input.count - inputOffset >= 5 + length else { return releasingInput(.needsInput) }
            // The record is decrypted straight into the caller's buffer when it fits (the usual
            // case: the handler sizes its buffer from the ciphertext waiting).
            let bodyLength = length - Self.tagLength
            let direct = buffer.count >= bodyLength
            var decrypted = direct ? [] : [UInt8](repeating: 0, count: bodyLength)
            let opened = input.withUnsafeBufferPointer { bytes in
                let body = bytes.baseAddress! + inputOffset + 5
                if direct {
                    return echo_tls13_open(
                        readState.context, readState.iv, readState.sequence, header, body, Int32(length),
                        buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                }
                return echo_tls13_open(readState.context, readState.iv, readState.sequence, header, body, Int32(length), &decrypted)
            }
            guard opened == 1 else { throw fail(alert: 20, "a record that does not decrypt (bad record MAC)") }
            readState.sequence += 1
            inputOffset += 5 + length
            _ = releasingInput(.needsInput)
            // The content type is the last non-zero byte; zeros after it are padding. Only alerts
            // and handshake messages are copied out; application data stays where it is.
            func classify(_ inner: UnsafeRawBufferPointer) -> (count: Int, type: UInt8, control: [UInt8])? {
                guard let index = inner.lastIndex(where: { $0 != 0 }) else { return nil }
                return (index, inner[index], inner[index] == Self.contentApplicationData ? [] : Array(inner[..<index]))
            }
            let classified = direct ? classify(UnsafeRawBufferPointer(rebasing: buffer[..<bodyLength])) : decrypted.withUnsafeBytes(classify)
            guard let (count, type, content) = classified.map({ ($0.count, $0.type, $0.control) }) else {
                throw fail(alert: 10, "a record without a content type")
            }
            // TLSInnerPlaintext (content, type, padding) is at most 2^14 + 1 bytes.
            guard bodyLength <= Self.maxPlaintext + 1 else { throw fail(alert: 22, "a record of \(bodyLength) plaintext bytes") }
            if type == Self.contentApplicationData {
                if count == 0 { continue }
                if direct { return .bytes(count) }
                decrypted.removeSubrange(count...)
                plaintext = decrypted
                plaintextOffset = 0
                continue
            }
            switch type {
            case Self.contentAlert:
                guard content.count == 2 else { throw fail(alert: 50, "a malformed alert") }
                if content[1] == 0 {
                    peerClosed = true
                } else if content[1] != 90 {  // user_canceled is only a warning
                    throw fail(alert: nil, "the peer sent alert \(content[1])")
                }
            case Self.contentHandshake:
                try handshakeMessages(content)
            default:
                throw fail(alert: 10, "a record of content type \(type)")
            }
        }
    }

    /// Drops the ciphertext buffer once everything in it was read (an idle connection keeps none).
    private func releasingInput(_ result: TLSReadResult) -> TLSReadResult {
        if inputOffset == input.count {
            input = []
            inputOffset = 0
        }
        return result
    }

    /// Post-handshake messages from a client: only KeyUpdate is allowed (section 4.6.3).
    private func handshakeMessages(_ bytes: [UInt8]) throws(TLSError) {
        guard !bytes.isEmpty else { throw fail(alert: 10, "an empty handshake record") }
        var index = 0
        while index < bytes.count {
            guard bytes.count - index >= 4 else { throw fail(alert: 10, "a split handshake message") }
            let type = bytes[index]
            let length = Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            guard bytes.count - index - 4 >= length else { throw fail(alert: 10, "a split handshake message") }
            guard type == 24 else { throw fail(alert: 10, "handshake message \(type) after the handshake") }
            guard length == 1, bytes[index + 4] <= 1 else { throw fail(alert: 50, "a malformed KeyUpdate") }
            // KeyUpdate must end its record: the next record already uses the new key.
            guard index + 5 == bytes.count else { throw fail(alert: 10, "data after a KeyUpdate in its record") }
            guard let secret = nextSecret(after: readState.secret), Self.rekey(&readState, suite: suite, secret: secret, sequence: 0) else {
                throw fail(alert: 80, "deriving the next read key")
            }
            if bytes[index + 4] == 1 {
                seal(type: Self.contentHandshake, [24, 0, 0, 1, 0])
                guard let secret = nextSecret(after: writeState.secret), Self.rekey(&writeState, suite: suite, secret: secret, sequence: 0) else {
                    throw fail(alert: 80, "deriving the next write key")
                }
            }
            index += 5
        }
    }

    /// Records the error, queues the fatal `alert` (nil: the peer's own alert ended it), returns it.
    private func fail(alert: UInt8?, _ reason: String) -> TLSError {
        let error = TLSError("TLS read", reasons: [reason])
        if failure == nil, let alert { seal(type: Self.contentAlert, [2, alert]) }
        failure = error
        input = []
        inputOffset = 0
        return error
    }

    // MARK: Writing

    func write(_ plaintext: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < plaintext.count {
            let count = min(Self.maxPlaintext, plaintext.count - offset)
            seal(type: Self.contentApplicationData, UnsafeRawBufferPointer(rebasing: plaintext[offset..<offset + count]))
            offset += count
        }
    }

    /// Seals `plaintext` as ``write(_:)`` does, each record straight into `destination` while it
    /// fits there and no record waits in `output` (the others go there). Returns the bytes of
    /// `destination` used.
    func write(_ plaintext: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        var offset = 0, used = 0
        while offset < plaintext.count {
            let count = min(Self.maxPlaintext, plaintext.count - offset)
            let content = UnsafeRawBufferPointer(rebasing: plaintext[offset..<offset + count])
            let recordLength = 5 + count + 1 + Self.tagLength
            if output.isEmpty, let base = destination.baseAddress, destination.count - used >= recordLength {
                seal(type: Self.contentApplicationData, content, into: base + used)
                used += recordLength
            } else {
                seal(type: Self.contentApplicationData, content)
            }
            offset += count
        }
        return used
    }

    /// Queues close_notify; false once the connection failed.
    func closeNotify() -> Bool {
        guard failure == nil else { return false }
        seal(type: Self.contentAlert, [1, 0])
        return true
    }

    /// The records queued for the peer, handed over without a copy.
    func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }

    private func seal(type: UInt8, _ content: [UInt8]) {
        content.withUnsafeBytes { seal(type: type, $0) }
    }

    /// Appends one record: `content` and its type, encrypted under the write key.
    private func seal(type: UInt8, _ content: UnsafeRawBufferPointer) {
        let length = content.count + 1 + Self.tagLength
        let header: [UInt8] = [Self.contentApplicationData, 3, 3, UInt8(length >> 8), UInt8(length & 0xFF)]
        output.reserveCapacity(output.count + 5 + length)
        output += header
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: length))
        let sealed = output.withUnsafeMutableBufferPointer { bytes in
            echo_tls13_seal(
                writeState.context, writeState.iv, writeState.sequence, header,
                content.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(content.count), type, bytes.baseAddress! + start
            )
        }
        assert(sealed == 1, "TLS 1.3 record encryption failed")
        writeState.sequence += 1
    }

    /// Writes one record (header, then `content` and its type encrypted) at `record`, which has
    /// room for it; the header written there is also the record's additional data.
    private func seal(type: UInt8, _ content: UnsafeRawBufferPointer, into record: UnsafeMutableRawPointer) {
        let length = content.count + 1 + Self.tagLength
        let header = record.assumingMemoryBound(to: UInt8.self)
        (header[0], header[1], header[2], header[3], header[4]) = (Self.contentApplicationData, 3, 3, UInt8(length >> 8), UInt8(length & 0xFF))
        let sealed = echo_tls13_seal(
            writeState.context, writeState.iv, writeState.sequence, header,
            content.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(content.count), type, header + 5
        )
        assert(sealed == 1, "TLS 1.3 record encryption failed")
        writeState.sequence += 1
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

/// Keyed hashes and random bytes from OpenSSL, for what the chat server keeps about a client
/// without keeping the client's secret (authorship: docs/security.md).
public enum Crypto {
    /// HMAC-SHA-256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        let done = out.withUnsafeMutableBufferPointer { out in
            EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, key, key.count, message, message.count, out.baseAddress, out.count, &length) != nil
        }
        // Only fails when OpenSSL lacks SHA-256 or memory: nothing Echo could run without.
        precondition(done && length == 32, "HMAC-SHA-256 failed")
        return out
    }

    /// Whether `signature` is `publicKey`'s Ed25519 signature (RFC 8032) of `message`. An
    /// end-to-end encrypted room's key proof (docs/security.md): the room stores the public key,
    /// a joining client signs the connection's challenge with the private key its link derives.
    public static func ed25519Verify(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64 else { return false }
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKey.count) else {
            ERR_clear_error()
            return false
        }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        // Ed25519 hashes internally: no digest, and one-shot verification.
        let valid = EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
            && EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        ERR_clear_error()
        return valid
    }

    /// The Ed25519 public key of the 32-byte private key `seed`.
    public static func ed25519PublicKey(seed: [UInt8]) -> [UInt8]? {
        guard seed.count == 32, let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else { return nil }
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = out.count
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == 32 else { return nil }
        return out
    }

    /// The Ed25519 signature of `message` under the 32-byte private key `seed` (the bench and the
    /// tests prove keys like Echo's page does; the server itself only verifies).
    public static func ed25519Sign(seed: [UInt8], message: [UInt8]) -> [UInt8]? {
        guard seed.count == 32, let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else { return nil }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = signature.count
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
              EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else { return nil }
        return signature
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        precondition(RAND_bytes(&bytes, Int32(count)) == 1, "the random generator failed")
        return bytes
    }
}
