import EchoShared
@testable import EchoSupervision
import Testing

private let t0 = ContinuousClock.now

@Suite struct TLSFilesTests {
    private func configuration(cert: String? = nil, key: String? = nil, redirect: Int? = nil, ca: String? = nil) -> EchoConfiguration {
        var c = EchoConfiguration()
        c.tlsCertificatePath = cert
        c.tlsKeyPath = key
        c.httpRedirectPort = redirect
        c.tlsClientCAPath = ca
        return c
    }

    @Test func plainHTTPHasNoFiles() throws {
        #expect(try TLSFiles.resolve(configuration(), credentialsDirectory: nil) == nil)
    }

    /// One PEM may hold both (the worker reads it that way too); a key alone serves nothing.
    @Test func aCertificateWithoutAKeyFileHoldsItsKey() throws {
        let files = try TLSFiles.resolve(configuration(cert: "%d/both.pem"), credentialsDirectory: "/run/c")
        #expect(files == TLSFiles(certificateChain: "/run/c/both.pem", privateKey: "/run/c/both.pem"))
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(configuration(key: "/k.pem"), credentialsDirectory: nil) }
    }

    @Test func redirectAndClientCertificatesNeedTLS() {
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(configuration(redirect: 8081), credentialsDirectory: nil) }
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(configuration(ca: "/ca.pem"), credentialsDirectory: nil) }
        var c = configuration(cert: "/c.pem", key: "/k.pem", redirect: 8080)
        c.port = 8080
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(c, credentialsDirectory: nil) }
    }

    @Test func plainPathsStayAsGiven() throws {
        let files = try TLSFiles.resolve(configuration(cert: "/etc/echo/fullchain.pem", key: "tls.key"), credentialsDirectory: "/run/credentials/echo.service")
        #expect(files == TLSFiles(certificateChain: "/etc/echo/fullchain.pem", privateKey: "tls.key"))
    }

    /// An environment file cannot expand `%d`: each spelling of "the credentials directory" is
    /// read against `$CREDENTIALS_DIRECTORY`, and the workers get the absolute path.
    @Test(arguments: ["%d/tls.key", "$CREDENTIALS_DIRECTORY/tls.key", "${CREDENTIALS_DIRECTORY}/tls.key"])
    func credentialReferencesResolveAgainstTheCredentialsDirectory(_ key: String) throws {
        let c = configuration(cert: "/etc/echo/fullchain.pem", key: key)
        let files = try #require(try TLSFiles.resolve(c, credentialsDirectory: "/run/credentials/echo.service"))
        #expect(files.privateKey == "/run/credentials/echo.service/tls.key")
        #expect(files.applied(to: c).tlsKeyPath == "/run/credentials/echo.service/tls.key")
        #expect(files.applied(to: c).tlsCertificatePath == "/etc/echo/fullchain.pem")
    }

    @Test func aCredentialReferenceOutsideSystemdIsRefused() {
        let c = configuration(cert: "/c.pem", key: "%d/tls.key")
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(c, credentialsDirectory: nil) }
        #expect(throws: TLSSettingsError.self) { try TLSFiles.resolve(c, credentialsDirectory: "") }
    }
}

@Suite struct TicketKeyRotationTests {
    private func key(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 80) }

    @Test func startsWithOneKeyAndRotatesAfterTheInterval() {
        let rotation = TicketKeyRotation(firstKey: key(1), now: t0, interval: .seconds(3600))
        #expect(rotation.keys == [key(1)])
        #expect(rotation.message == .ticketKeys([key(1)]))
        #expect(!rotation.isDue(at: t0 + .seconds(3599)))
        #expect(rotation.isDue(at: t0 + .seconds(3600)))
    }

    /// Newest first; the previous key is kept (tickets it encrypted still resume), older ones go.
    @Test func keepsTheCurrentAndThePreviousKey() {
        var rotation = TicketKeyRotation(firstKey: key(1), now: t0, interval: .seconds(10))
        rotation.rotate(to: key(2), now: t0 + .seconds(10))
        #expect(rotation.keys == [key(2), key(1)])
        rotation.rotate(to: key(3), now: t0 + .seconds(20))
        #expect(rotation.keys == [key(3), key(2)])
        #expect(rotation.message == .ticketKeys([key(3), key(2)]))
    }

    /// A late rotation (the loop was busy, the machine suspended) schedules the next one a full
    /// interval later, so keys are never rotated twice in a row.
    @Test func theNextRotationCountsFromTheActualOne() {
        var rotation = TicketKeyRotation(firstKey: key(1), now: t0, interval: .seconds(10))
        rotation.rotate(to: key(2), now: t0 + .seconds(95))
        #expect(rotation.nextRotation == t0 + .seconds(105))
        #expect(!rotation.isDue(at: t0 + .seconds(100)))
    }

    @Test func defaultIntervalIsTwelveHours() {
        #expect(TicketKeyRotation.defaultInterval == .seconds(43_200))
        #expect(SupervisorConfiguration().ticketKeyRotation == .seconds(43_200))
    }

    @Test func randomKeysHaveTheRightLengthAndDiffer() {
        let a = TicketKeyRotation.randomKey()
        let b = TicketKeyRotation.randomKey()
        #expect(a.count == 80)
        #expect(a != b)
    }
}

@Suite struct RedirectHandOffTests {
    /// A slot with a redirect socket tells its worker where it is; one without says nothing, and
    /// the worker binds the port itself (a worker started by hand).
    @Test func theRedirectDescriptorIsHandedOnlyWithASocket() throws {
        let with = WorkerEnvironment.build(inherited: [:], configuration: [:], slot: 0, heartbeatMilliseconds: 1000, redirect: true)
        let without = WorkerEnvironment.build(inherited: ["ECHO_REDIRECT_FD": "9"], configuration: [:], slot: 0, heartbeatMilliseconds: 1000)
        #expect(with["ECHO_REDIRECT_FD"] == "5")
        #expect(try WorkerHandOff(values: with).redirectFD == WorkerEnvironment.redirectFD)
        #expect(without["ECHO_REDIRECT_FD"] == nil)
    }
}
