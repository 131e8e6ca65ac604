import EchoShared
import EchoTLS

/// How a `rediss://` connection makes sure it reached the right Redis: the CAs its certificate
/// must chain to and the name it must carry. One context serves every connection of a worker.
///
/// The name is the host Echo dials (``serverName(for:)``): the URL's host for the one node, each
/// seed and each Sentinel; for a cluster node, the address the cluster announces for it (its
/// `endpoint` in `CLUSTER SHARDS`, the one `MOVED` names); for a Sentinel-elected primary, the
/// address the Sentinels give. With the default announcements those are IP addresses, so each
/// certificate carries its node's IP (an IP SAN). `ECHO_REDIS_TLS_SERVER_NAME` instead checks
/// every connection against one name that all the certificates carry.
public struct RedisTLS: Sendable {
    public var context: TLSClientContext
    /// The one name every certificate must carry (`ECHO_REDIS_TLS_SERVER_NAME`); nil: each
    /// connection checks the host it dials.
    public var fixedServerName: String?

    public init(context: TLSClientContext, fixedServerName: String? = nil) {
        self.context = context
        self.fixedServerName = fixedServerName
    }

    /// The name `endpoint`'s certificate must carry (and SNI sends).
    public func serverName(for endpoint: RedisEndpoint) -> String {
        fixedServerName ?? endpoint.host ?? ""
    }

    /// The TLS settings for `endpoint` (`ECHO_REDIS_CA`, `ECHO_REDIS_TLS_SERVER_NAME`), or `nil`
    /// for a plain one. Throws when the CA file cannot be read: a worker that could never verify
    /// Redis must say so at start, not retry forever.
    public static func settings(for endpoint: RedisEndpoint, configuration: EchoConfiguration) throws -> RedisTLS? {
        guard endpoint.usesTLS, endpoint.host != nil else { return nil }
        let context = try TLSClientContext(caFile: configuration.redisCAPath)
        return RedisTLS(context: context, fixedServerName: configuration.redisTLSServerName)
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
