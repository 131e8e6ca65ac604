import EchoShared
import EchoTLS

/// How a `rediss://` connection makes sure it reached the right Redis: the CAs its certificate
/// must chain to and the name it must carry. One context serves every connection of a worker.
public struct RedisTLS: Sendable {
    public var context: TLSClientContext
    public var serverName: String

    public init(context: TLSClientContext, serverName: String) {
        self.context = context
        self.serverName = serverName
    }

    /// The TLS settings for `endpoint` (`ECHO_REDIS_CA`, `ECHO_REDIS_TLS_SERVER_NAME`), or `nil`
    /// for a plain one. Throws when the CA file cannot be read: a worker that could never verify
    /// Redis must say so at start, not retry forever.
    public static func settings(for endpoint: RedisEndpoint, configuration: EchoConfiguration) throws -> RedisTLS? {
        guard endpoint.usesTLS, let host = endpoint.host else { return nil }
        let context = try TLSClientContext(caFile: configuration.redisCAPath)
        return RedisTLS(context: context, serverName: configuration.redisTLSServerName ?? host)
    }

    /// Why a handshake failed, as an operator reads it: OpenSSL's reasons without their codes, the
    /// first one (`certificate verify failed`) before the details (`(hostname mismatch)`).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? TLSError, let first = error.reasons.first else { return "\(error)" }
        let details = error.reasons.dropFirst().map(Self.withoutCode)
        return Self.withoutCode(first) + (details.isEmpty ? "" : " (\(details.joined(separator: "; ")))")
    }

    /// OpenSSL prints `error:CODE:LIBRARY:FUNCTION:REASON`; the reason is what says something.
    static func withoutCode(_ reason: String) -> String {
        guard reason.hasPrefix("error:") else { return reason }
        let parts = reason.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        return parts.count == 5 ? String(parts[4]) : reason
    }
}
