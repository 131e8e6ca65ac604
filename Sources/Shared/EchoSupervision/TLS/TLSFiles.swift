import EchoShared

/// The certificate and key files a configuration names, as the supervisor checks them and hands
/// them to its workers.
///
/// Under systemd the key is best loaded with `LoadCredential=tls.key:/etc/echo/tls.key`: systemd
/// copies it into a directory only the service can read and names that directory in
/// `$CREDENTIALS_DIRECTORY`. An environment file cannot expand `%d` (only the unit can), so a
/// path that starts with `%d/`, `$CREDENTIALS_DIRECTORY/` or `${CREDENTIALS_DIRECTORY}/` is read
/// against that variable here, once; workers get the absolute path.
public struct TLSFiles: Sendable, Equatable {
    public var certificateChain: String
    public var privateKey: String

    public init(certificateChain: String, privateKey: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// The prefixes that mean "systemd's credentials directory".
    static let credentialPrefixes = ["%d/", "$CREDENTIALS_DIRECTORY/", "${CREDENTIALS_DIRECTORY}/"]

    /// The files of `configuration`, with credential references resolved; `nil` when TLS is off.
    /// Without `ECHO_TLS_KEY` the key is read from the certificate's own file (one PEM holding
    /// both, as HAProxy takes them; the worker reads it the same way). Throws when the settings
    /// cannot work together (a key without a certificate, a redirect port with no https to
    /// redirect to, a credential reference outside systemd).
    public static func resolve(_ configuration: EchoConfiguration, credentialsDirectory: String?) throws -> TLSFiles? {
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (nil, nil):
            if let port = configuration.httpRedirectPort {
                throw TLSSettingsError("ECHO_HTTP_REDIRECT_PORT=\(port) redirects to https, but ECHO_TLS_CERT and ECHO_TLS_KEY are not set")
            }
            if configuration.tlsClientCAPath != nil {
                throw TLSSettingsError("ECHO_TLS_CA asks clients for certificates, but ECHO_TLS_CERT and ECHO_TLS_KEY are not set")
            }
            return nil
        case (nil, _?):
            throw TLSSettingsError("ECHO_TLS_KEY is set without ECHO_TLS_CERT: both are needed to serve TLS")
        case (let certificate?, let key):
            if let port = configuration.httpRedirectPort, port == configuration.port {
                throw TLSSettingsError("ECHO_HTTP_REDIRECT_PORT=\(port) is the TLS port itself")
            }
            return TLSFiles(
                certificateChain: try path(certificate, setting: "ECHO_TLS_CERT", credentialsDirectory: credentialsDirectory),
                privateKey: try key.map { try path($0, setting: "ECHO_TLS_KEY", credentialsDirectory: credentialsDirectory) }
                    ?? path(certificate, setting: "ECHO_TLS_CERT", credentialsDirectory: credentialsDirectory)
            )
        }
    }

    /// `text` with a leading credentials-directory reference replaced by the directory.
    static func path(_ text: String, setting: String, credentialsDirectory: String?) throws -> String {
        guard let prefix = credentialPrefixes.first(where: { text.hasPrefix($0) }) else { return text }
        guard let directory = credentialsDirectory, !directory.isEmpty else {
            throw TLSSettingsError(
                "\(setting)=\(text) names systemd's credentials directory, but CREDENTIALS_DIRECTORY is not set (no LoadCredential= in the unit?)")
        }
        let name = text.dropFirst(prefix.count)
        return (directory.hasSuffix("/") ? directory : directory + "/") + name
    }

    /// `configuration` with these paths in place of the ones it named (the key named always, so
    /// workers read exactly what was checked).
    public func applied(to configuration: EchoConfiguration) -> EchoConfiguration {
        var resolved = configuration
        resolved.tlsCertificatePath = certificateChain
        resolved.tlsKeyPath = privateKey
        return resolved
    }
}

/// TLS settings that cannot work together; the supervisor refuses to start (exit 78) or to reload.
public struct TLSSettingsError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
