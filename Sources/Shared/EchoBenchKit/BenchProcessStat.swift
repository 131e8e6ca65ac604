
/// The fields of `/proc/<pid>/stat` echo-bench needs to charge CPU time to the server, Redis and
/// itself. Parsing is separate from reading so it can be tested on fixed text.
public struct BenchProcessStat: Sendable, Equatable {
    public var pid: Int
    /// The command name (without the parentheses); may contain spaces and `)`.
    public var command: String
    public var parentPID: Int
    /// User and system CPU time in clock ticks (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
    public var userTicks: UInt64
    public var systemTicks: UInt64
    /// Resident pages (field 24).
    public var residentPages: UInt64

    public var cpuTicks: UInt64 { userTicks + systemTicks }

    /// Parses one `stat` line. The command sits between the first `(` and the *last* `)`, because a
    /// process may name itself with either character.
    public init?(parsing line: String) {
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close,
            let pid = Int(line[..<open].trimmingSpaces)
        else { return nil }
        self.pid = pid
        command = String(line[line.index(after: open)..<close])
        // Fields after the command, starting at field 3 (state).
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count >= 22,
            let parent = Int(fields[1]),
            let user = UInt64(fields[11]),
            let system = UInt64(fields[12]),
            let resident = UInt64(fields[21])
        else { return nil }
        parentPID = parent
        userTicks = user
        systemTicks = system
        residentPages = resident
    }

    /// Busy ticks from the aggregate `cpu` line of `/proc/stat`: user, nice, system, irq, softirq
    /// and steal (idle and iowait excluded; guest time is already inside user).
    public static func busyTicks(cpuLine: String) -> UInt64? {
        let fields = cpuLine.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { return nil }
        return fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    }

    /// `root` and every process below it, given all processes' stats (pid → stat).
    public static func descendants(of root: Int, in table: [Int: BenchProcessStat]) -> [BenchProcessStat] {
        var children: [Int: [Int]] = [:]
        for stat in table.values { children[stat.parentPID, default: []].append(stat.pid) }
        var result: [BenchProcessStat] = []
        var queue = [root]
        var seen: Set<Int> = []
        while let pid = queue.popLast() {
            guard seen.insert(pid).inserted else { continue }
            if let stat = table[pid] { result.append(stat) }
            queue.append(contentsOf: children[pid] ?? [])
        }
        return result.sorted { $0.pid < $1.pid }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " { result = result.dropLast() }
        return result
    }
}
