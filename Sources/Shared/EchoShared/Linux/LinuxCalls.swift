import CLinux
import Glibc

/// The one Swift file that imports `CLinux`: the Linux process calls Swift's Glibc module does not
/// declare (variadic `prctl`, and calls glibc hides behind `_GNU_SOURCE`), as throwing Swift functions.
public enum LinuxCalls {
    /// `prctl(PR_SET_PDEATHSIG, signal)`: the kernel sends `signal` to this process when its parent
    /// dies, so a worker or the embedded Redis never outlives its supervisor.
    public static func setParentDeathSignal(_ signal: Int32 = SIGKILL) throws {
        if echo_set_parent_death_signal(signal) != 0 { throw SystemError(call: "prctl(PR_SET_PDEATHSIG)", errno: errno) }
    }

    /// The spawned child closes every descriptor from `from` up, so it inherits exactly the ones
    /// below whatever else this process has open.
    public static func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, from: Int32) throws {
        let result = echo_spawn_addclosefrom(actions, from)
        if result != 0 { throw SystemError(call: "posix_spawn_file_actions_addclosefrom_np", errno: result) }
    }

    /// `signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK)`: a descriptor that reads the blocked signals in `mask`.
    public static func signalFD(mask: sigset_t) throws -> Int32 {
        var mask = mask
        let fd = echo_signalfd(&mask, O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw SystemError(call: "signalfd", errno: errno) }
        return fd
    }
}

/// A failed system call, with the C library's words for why.
public struct SystemError: Error, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }
}
