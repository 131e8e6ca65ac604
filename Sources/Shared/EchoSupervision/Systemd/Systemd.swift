import CSystemd
import Glibc

/// The one Swift file that imports `CSystemd`. Everything here is a
/// no-op when the process does not run under systemd, so callers never check.
public enum Systemd {
    /// Sends `state` (for example `READY=1\nSTATUS=...`) to `NOTIFY_SOCKET`. Returns whether it was sent.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// The watchdog interval systemd asked for, or `nil` when the watchdog is off.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// Descriptors passed by socket activation (`LISTEN_FDS`), starting at 3.
    ///
    /// With `unsetEnvironment` the `LISTEN_*` variables are removed (so children started later do
    /// not believe the sockets are theirs) and the descriptors get `FD_CLOEXEC`, as libsystemd does.
    public static func listenFileDescriptors(unsetEnvironment: Bool = false) -> [Int32] {
        let count = sd_listen_fds(unsetEnvironment ? 1 : 0)
        guard count > 0 else { return [] }
        return (0..<count).map { SD_LISTEN_FDS_START + $0 }
    }

    /// Whether `fd` is a listening stream socket (what socket activation should hand us).
    public static func isListeningStreamSocket(_ fd: Int32) -> Bool {
        sd_is_socket(fd, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) > 0
    }

    /// `CLOCK_MONOTONIC` in microseconds: the clock of `RELOADING=1`'s `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
