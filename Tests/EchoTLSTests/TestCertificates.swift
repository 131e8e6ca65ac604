import Foundation

/// Throwaway keys and certificates made by the `openssl` command in a temporary folder: the same
/// tool an operator uses, so the wrapper is tested on real PEM files.
struct TestCertificates {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("echo-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A self-signed EC certificate for `commonName` with `serial`; returns (certificate, key) paths.
    func selfSigned(_ name: String, commonName: String = "localhost", serial: String = "0x1001") throws -> (String, String) {
        let certificate = path("\(name).crt"), key = path("\(name).key")
        try run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=\(commonName)", "-set_serial", serial,
        ])
        return (certificate, key)
    }

    func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments) failed"])
        }
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
