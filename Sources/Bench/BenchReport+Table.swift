import EchoBenchKit

extension BenchReport {
    /// The human-readable result printed at the end of a run.
    var table: String {
        var rows: [(String, String)] = []
        rows.append(("mode", mode))
        rows.append(("targets", targets.joined(separator: " ")))
        rows.append(("connections", "\(Format.count(connectionsJoined)) joined of \(Format.count(connectionsRequested)), \(connectionsFailed) failed, \(connectionsDropped) dropped"))
        if measuredSeconds > 0 {
            let drain = drainSeconds.map { ", then \(Format.fixed($0, 2)) s draining" } ?? ""
            rows.append(("measured", Format.fixed(measuredSeconds, 2) + " s" + drain))
        }
        if counts.sent > 0 || mode == "fanout" {
            rows.append(("messages in", "\(Format.count(counts.sent)) (\(Format.rate(sentPerSecond))/s)"))
            rows.append(("deliveries", "\(Format.count(counts.delivered)) of \(Format.count(counts.expected)) expected (\(Format.rate(deliveriesPerSecond))/s)"))
            rows.append(("lost", Format.count(counts.lost)))
            rows.append(("told (resyncs)", "\(Format.count(counts.resyncs)) recovered:false notices, \(Format.count(counts.silentGaps)) silent gaps"))
            rows.append(("duplicated", Format.count(counts.duplicated)))
            rows.append(("out of order", Format.count(counts.outOfOrder)))
            rows.append(("send errors", Format.count(counts.errors)))
        }
        if let joinsPerSecond { rows.append(("joins/s", Format.rate(joinsPerSecond))) }
        if let tlsHandshakes {
            rows.append(("TLS handshakes", "\(Format.count(tlsHandshakes.full)) full, \(Format.count(tlsHandshakes.resumed)) resumed"))
        }
        if let latency, latency.count > 0 {
            let what = mode == "joinstorm" ? "join latency ms" : "latency ms"
            rows.append((what, "p50 \(Format.millis(latency.p50))  p90 \(Format.millis(latency.p90))  p99 \(Format.millis(latency.p99))  p99.9 \(Format.millis(latency.p999))  max \(Format.millis(latency.max))"))
        }
        if let memory {
            rows.append(("server RSS", "\(Format.bytes(Double(memory.baselineBytes))) → \(Format.bytes(Double(memory.holdingBytes))) (\(Format.bytes(memory.bytesPerConnection)) per connection)"))
        }
        if let cpu {
            var parts: [String] = []
            if let server = cpu.serverSeconds { parts.append("server \(Format.fixed(server, 2)) s (\(cpu.serverProcesses ?? 0) proc)") }
            if let redis = cpu.redisSeconds { parts.append("redis \(Format.fixed(redis, 2)) s") }
            parts.append("generator \(Format.fixed(cpu.generatorSeconds, 2)) s = \(Format.fixed(cpu.generatorCores, 2)) cores")
            if let other = cpu.otherCores { parts.append("other processes \(Format.fixed(other, 2)) cores") }
            rows.append(("CPU in \(Format.fixed(cpu.windowSeconds, 1)) s", parts.joined(separator: ", ")))
        }
        for (code, count) in errorsByCode.sorted(by: { $0.key < $1.key }) {
            rows.append(("error", "\(code) × \(count)"))
        }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
