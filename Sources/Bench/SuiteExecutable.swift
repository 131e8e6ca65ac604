import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds the programs the suite starts.
enum SuiteExecutable {
    /// `name` itself when it contains a slash, else the first executable `name` on PATH.
    static func find(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// This program's own path: the suite runs every scenario as a child `echo-bench`.
    static var current: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
