import EchoShared
import EchoSupervision
import EchoTLS
import Logging

/// The certificate check before workers start or roll, and the session-ticket keys every worker
/// shares.
extension Supervisor {
    /// `configuration` with its TLS files resolved (systemd's credentials directory) and checked:
    /// the chain and key load and belong together. Workers given the result can serve it, so a
    /// renewal that went wrong is refused here, before any worker is replaced. Logs the
    /// certificate that will be served.
    static func checkTLS(
        _ configuration: EchoConfiguration, credentialsDirectory: String?, logger: Logger, context: String
    ) throws -> EchoConfiguration {
        guard let files = try TLSFiles.resolve(configuration, credentialsDirectory: credentialsDirectory) else { return configuration }
        let certificate = try TLSCredentials.check(certificateChain: files.certificateChain, privateKey: files.privateKey)
        logger.info("\(context): TLS certificate", metadata: [
            "serial": "\(certificate.serial)", "subject": "\(certificate.subject)", "notAfter": "\(certificate.notAfter)",
            "certificate": "\(files.certificateChain)",
        ])
        return files.applied(to: configuration)
    }

    /// Whether any configuration in use (the running one, or the one a reload is rolling out)
    /// serves TLS: only then do workers need ticket keys.
    var anyServesTLS: Bool {
        configuration.servesTLS || nextConfiguration?.servesTLS == true
    }

    /// Makes a new ticket key when one is due and hands the list to every worker.
    func rotateTicketKeysIfDue(now: ContinuousClock.Instant) {
        guard ticketKeys.isDue(at: now) else { return }
        ticketKeys.rotate(to: TicketKeyRotation.randomKey(), now: now)
        guard anyServesTLS else { return }
        for process in processes.values { process.link.send(ticketKeys.message) }
        logger.info("TLS session-ticket key rotated", metadata: ["workers": "\(processes.count)", "keys": "\(ticketKeys.keys.count)"])
    }
}
