import Glibc

import Shared

/// The glibc calls the supervisor needs beyond Swift's Glibc module, as throwing Swift functions.
enum LinuxCalls {
    /// The child closes every descriptor from `from` up, so it inherits exactly 0–4 whatever else
    /// this process has open.
    static func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, from: Int32) throws {
        let result = LinuxProcessCalls.addCloseFrom(actions, from: from)
        if result != 0 { throw SystemError(call: "posix_spawn_file_actions_addclosefrom_np", errno: result) }
    }

    /// `signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK)`.
    static func signalFD(mask: sigset_t) throws -> Int32 {
        var mask = mask
        let fd = LinuxProcessCalls.signalFD(mask: &mask, flags: O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw SystemError(call: "signalfd", errno: errno) }
        return fd
    }
}

/// A failed system call, with the C library's words for why.
struct SystemError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
