import EchoBenchKit
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

extension BenchMachine {
    /// The machine as BENCHMARKS.md describes it. `loadBefore` was read before the first run;
    /// everything else now.
    static func probe(redisServer: String, loadBefore: String) -> BenchMachine {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var names = utsname()
        uname(&names)
        let kernel = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let swift = firstLine(of: "swift", ["--version"]) ?? "Swift (version unknown: swift is not on PATH)"
        let redis = firstLine(of: redisServer, ["--version"]).map(redisVersion(versionLine:)) ?? "redis-server (version unknown)"
        return BenchMachine(
            cpuModel: read("/proc/cpuinfo").flatMap(cpuModel(cpuinfo:)) ?? "unknown CPU",
            cores: System.coreCount,
            memoryBytes: read("/proc/meminfo").flatMap(memoryBytes(meminfo:)) ?? 0,
            kernel: kernel, swiftVersion: swift, redisVersion: redis,
            openFileLimit: Int(limit.rlim_cur), loadBefore: loadBefore, loadAfter: currentLoad())
    }

    static func currentLoad() -> String {
        read("/proc/loadavg").map(load(loadavg:)) ?? "unknown"
    }

    private static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// The first line `command arguments` prints, or nil when it cannot run.
    private static func firstLine(of command: String, _ arguments: [String]) -> String? {
        guard let executable = SuiteExecutable.find(command) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }
}
