import Foundation

/// Where the running binary lives, with symlinks resolved: `echo` starts the `echo-worker` beside
/// it, and a worker finds its web client relative to it.
public enum ExecutablePath {
    public static var directory: String? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return (path as NSString).deletingLastPathComponent
    }
}
