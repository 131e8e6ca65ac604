
extension BenchReport {
    /// S3's report for one run: the connections its idle generators joined, with the CPU and
    /// memory the suite sampled itself over the hold window (no single generator sees the whole
    /// load, and each may open only `ulimit -n` sockets).
    public static func idleSuite(
        generators: [BenchReport], requested: Int, target: String, cpu: BenchCPUUsage, baselineBytes: Int, holdingBytes: Int
    ) -> BenchReport {
        var report = BenchReport(mode: "idle", targets: [target], parameters: [:])
        report.connectionsRequested = requested
        for generator in generators {
            report.connectionsJoined += generator.connectionsJoined
            report.connectionsFailed += generator.connectionsFailed
            report.connectionsDropped += generator.connectionsDropped
            for (code, count) in generator.errorsByCode { report.errorsByCode[code, default: 0] += count }
            if let handshakes = generator.tlsHandshakes {
                report.tlsHandshakes = (report.tlsHandshakes ?? BenchTLSHandshakes()) + handshakes
            }
        }
        report.measuredSeconds = cpu.windowSeconds
        report.cpu = cpu
        report.memory = BenchMemoryUsage(baselineBytes: baselineBytes, holdingBytes: holdingBytes, connections: report.connectionsJoined)
        return report
    }
}
