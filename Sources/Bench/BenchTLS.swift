import EchoBenchKit
import EchoCore
import EchoTLS

/// How echo-bench speaks TLS to `wss://` targets: Echo's own ``TLSHandler`` in client mode over
/// Debian's OpenSSL, so the generator pays the same per-record cost as the server it loads. One
/// client context serves every connection of the run.
struct BenchTLS: Sendable {
    var context: TLSClientContext
    /// Sent as SNI and, when the certificate is checked, the name it must carry (targets are IP
    /// literals, which SNI cannot carry).
    var serverName: String
    /// Each connection offers the newest session an earlier connection of its loop got.
    var resume: Bool

    /// `caFile` is the CA, or the self-signed certificate, the server's chain must lead to; without
    /// it nothing is checked (a loopback benchmark, not a client anyone trusts).
    init(caFile: String?, serverName: String, resume: Bool) throws {
        context = try TLSClientContext(caFile: caFile, verifyPeer: caFile != nil)
        self.serverName = serverName
        self.resume = resume
    }

    /// `session`: what an earlier connection got, offered when resuming.
    func handler(session: TLSSession?) -> TLSHandler {
        TLSHandler.client(context: context, serverName: serverName, session: resume ? session : nil)
    }
}

extension BenchReport {
    /// Books the handshakes of every loop, for a run over TLS (a plain run has none to show).
    mutating func addTLSHandshakes(of snapshots: [LoopSnapshot], overTLS: Bool) {
        guard overTLS else { return }
        tlsHandshakes = snapshots.reduce(BenchTLSHandshakes()) { $0 + $1.tlsHandshakes }
    }
}
