import EchoShared
import NIOCore
import NIOPosix

extension RedisClient {
    /// Why a connection or an attempt failed, in the words an operator reads in `/health`:
    /// `cannot connect to localhost:6379: Connection refused` rather than NIO's nested dump.
    static func reason(for error: any Error, endpoint: RedisEndpoint) -> String {
        switch error {
        case let error as RedisError:
            return error.message
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError {
                return "cannot resolve \(error.host): \(dns)"
            }
            let causes = Set(error.connectionErrors.map { systemMessage($0.error) })
            guard !causes.isEmpty else { return "cannot connect to \(error.host):\(error.port)" }
            return "cannot connect to \(error.host):\(error.port): \(causes.sorted().joined(separator: "; "))"
        case ChannelError.connectTimeout(let timeout):
            return "cannot connect to \(endpoint.addressText): no answer within \(timeout.nanoseconds / 1_000_000) ms"
        default:
            return systemMessage(error)
        }
    }

    /// The system's words for an `IOError` (`Connection refused`), without NIO's prefix and errno.
    static func systemMessage(_ error: any Error) -> String {
        let text = "\(error)"
        guard error is IOError, let end = text.range(of: ") (errno:") else { return text }
        let message = text[..<end.lowerBound]
        guard let colon = message.range(of: ": ", options: .backwards) else { return String(message) }
        return String(message[colon.upperBound...])
    }
}

extension RedisEndpoint {
    /// `host:port` or the socket's path, for messages.
    var addressText: String {
        switch address {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return path
        }
    }
}
