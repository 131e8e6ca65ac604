import EchoBenchKit
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads CPU time and resident memory of the processes under test from `/proc`: the server (a
/// process and all its descendants, so `echo` and every `echo-worker`, including restarted ones),
/// Redis (one process, or every primary of a cluster), and the generator: this process, or the
/// generator processes the suite started for S3.
struct ProcessSampler: Sendable {
    var serverPID: Int?
    var redisPIDs: [Int] = []
    /// The generators when they are other processes; empty: this process is the generator.
    var generatorPIDs: [Int] = []

    struct Sample: Sendable {
        var serverTicks: UInt64?
        var serverProcesses: Int?
        var serverResidentBytes: Int?
        /// Per Redis process, in `redisPIDs` order; nil where it could not be read.
        var redisTicks: [UInt64?] = []
        var generatorTicks: UInt64
        /// Busy ticks of all CPUs together (`/proc/stat`), nil where unavailable.
        var machineTicks: UInt64?
        var wallNanoseconds: UInt64
    }

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    func sample() -> Sample {
        let generators = generatorPIDs.isEmpty ? [Int(getpid())] : generatorPIDs
        var result = Sample(
            generatorTicks: generators.reduce(0) { $0 + (Self.stat(of: $1)?.cpuTicks ?? 0) }, machineTicks: Self.machineBusyTicks(),
            wallNanoseconds: BenchClock.nanoseconds())
        if let serverPID {
            let tree = BenchProcessStat.descendants(of: serverPID, in: Self.allProcesses())
            if !tree.isEmpty {
                result.serverTicks = tree.reduce(0) { $0 + $1.cpuTicks }
                result.serverProcesses = tree.count
                result.serverResidentBytes = tree.reduce(0) { $0 + Int($1.residentPages) } * Self.pageSize
            }
        }
        result.redisTicks = redisPIDs.map { Self.stat(of: $0)?.cpuTicks }
        return result
    }

    /// CPU seconds used between two samples.
    static func usage(from start: Sample, to end: Sample) -> BenchCPUUsage {
        func seconds(_ a: UInt64?, _ b: UInt64?) -> Double? {
            guard let a, let b else { return nil }
            // A worker that died between samples takes its ticks with it: never report negative.
            return Double(b > a ? b - a : 0) / ticksPerSecond
        }
        let shards = zip(start.redisTicks, end.redisTicks).map { seconds($0, $1) }
        let redis = shards.compactMap { $0 }
        return BenchCPUUsage(
            windowSeconds: Double(end.wallNanoseconds - start.wallNanoseconds) / 1e9,
            serverSeconds: seconds(start.serverTicks, end.serverTicks),
            serverProcesses: end.serverProcesses,
            redisSeconds: redis.isEmpty ? nil : redis.reduce(0, +),
            generatorSeconds: seconds(start.generatorTicks, end.generatorTicks) ?? 0,
            machineSeconds: seconds(start.machineTicks, end.machineTicks),
            redisShardSeconds: shards.count > 1 ? shards.map { $0 ?? 0 } : nil)
    }

    /// user + nice + system + irq + softirq + steal of the `cpu` line of `/proc/stat`.
    static func machineBusyTicks() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        return BenchProcessStat.busyTicks(cpuLine: String(line))
    }

    static func stat(of pid: Int) -> BenchProcessStat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return BenchProcessStat(parsing: text)
    }

    static func allProcesses() -> [Int: BenchProcessStat] {
        var table: [Int: BenchProcessStat] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return table }
        for entry in entries {
            guard let pid = Int(entry), let stat = stat(of: pid) else { continue }
            table[pid] = stat
        }
        return table
    }
}
