
/// The machine a suite ran on, as BENCHMARKS.md describes it. echo-bench reads it from /proc and
/// the tools' `--version`; the report only prints it.
public struct BenchMachine: Sendable, Equatable {
    public var cpuModel: String
    public var cores: Int
    public var memoryBytes: Int
    public var kernel: String
    /// First line of `swift --version`.
    public var swiftVersion: String
    /// `Redis server v=…` from `redis-server --version`.
    public var redisVersion: String
    public var openFileLimit: Int
    /// `/proc/loadavg`'s first three fields before the first run and when the report is written.
    public var loadBefore: String
    public var loadAfter: String

    public init(
        cpuModel: String, cores: Int, memoryBytes: Int, kernel: String, swiftVersion: String, redisVersion: String,
        openFileLimit: Int, loadBefore: String, loadAfter: String
    ) {
        self.cpuModel = cpuModel
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.kernel = kernel
        self.swiftVersion = swiftVersion
        self.redisVersion = redisVersion
        self.openFileLimit = openFileLimit
        self.loadBefore = loadBefore
        self.loadAfter = loadAfter
    }

    /// The first `model name` of `/proc/cpuinfo`, without the padding after the colon.
    public static func cpuModel(cpuinfo: String) -> String? {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return String(line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" }))
        }
        return nil
    }

    /// `MemTotal` of `/proc/meminfo`, in bytes.
    public static func memoryBytes(meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kibibytes = Int(fields[1]) else { return nil }
            return kibibytes * 1024
        }
        return nil
    }

    /// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
    public static func load(loadavg: String) -> String {
        loadavg.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// `Redis server v=7.0.15` out of `redis-server --version`'s line.
    public static func redisVersion(versionLine: String) -> String {
        versionLine.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
