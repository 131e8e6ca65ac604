
/// What a running supervisor writes to `<runtime dir>/echo.state` so that `echo reload` can find
/// it, signal it, and return only when the reload it asked for is over.
public struct SupervisorStateFile: Sendable, Equatable {
    public var pid: Int32
    /// Reloads finished (successful or not) since the supervisor started.
    public var reloadsFinished: Int
    public var reloading: Bool
    /// `ok`, or why the last reload failed.
    public var lastReload: String

    public init(pid: Int32, reloadsFinished: Int = 0, reloading: Bool = false, lastReload: String = "none") {
        self.pid = pid
        self.reloadsFinished = reloadsFinished
        self.reloading = reloading
        self.lastReload = lastReload
    }

    public static let fileName = "echo.state"

    public var contents: String {
        "pid=\(pid)\nreloads_finished=\(reloadsFinished)\nreloading=\(reloading ? 1 : 0)\nlast_reload=\(lastReload.split(separator: "\n").joined(separator: " "))\n"
    }

    public init?(contents: String) {
        var fields: [String: String] = [:]
        for line in contents.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let pid = fields["pid"].flatMap({ Int32($0) }),
              let finished = fields["reloads_finished"].flatMap({ Int($0) }),
              let reloading = fields["reloading"]
        else { return nil }
        self.init(pid: pid, reloadsFinished: finished, reloading: reloading == "1", lastReload: fields["last_reload"] ?? "")
    }
}
