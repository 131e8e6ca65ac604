import EchoBenchKit
import NIOCore

extension BenchTarget {
    /// The socket address to connect to. ``BenchTarget`` only accepts literals, so this never
    /// resolves a name.
    var address: SocketAddress {
        // Force-unwrap is safe: the initializer accepted only dotted-quad or ::1 literals.
        try! SocketAddress(ipAddress: host, port: port)
    }
}
