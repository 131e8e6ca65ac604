import Glibc

/// One worker slot's listening socket: created here with raw socket calls, `SO_REUSEPORT` so that
/// every slot binds the same address and the kernel balances connections between them, and kept
/// open by the supervisor for its whole life so that connections queue while the slot's worker is
/// being replaced.
struct ListeningSocket {
    /// Listening descriptors live at or above this number, so that `dup2` onto 3 and 4 in a child
    /// never meets a descriptor that already is 3 or 4 (a `dup2` onto itself keeps `FD_CLOEXEC`).
    static let firstHighDescriptor: Int32 = 64

    let fd: Int32
    /// Shared sockets (socket activation without `ReusePort=`) belong to several slots; only the
    /// last one closes them.
    let isShared: Bool

    /// Binds a new socket to `host:port` (port 0 picks a free one).
    static func open(host: String, port: Int, backlog: Int32) throws -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw ListeningSocketError(message: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = ListeningSocketError(message: "no address for \(host)")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            do {
                return try bind(family: info.pointee.ai_family, address: info.pointee.ai_addr, length: info.pointee.ai_addrlen, backlog: backlog)
            } catch let error as ListeningSocketError {
                lastError = error
            }
            entry = info.pointee.ai_next
        }
        throw lastError
    }

    /// Another socket in `sibling`'s `SO_REUSEPORT` group: the same address, port included (which
    /// matters when the first socket was bound to port 0).
    static func open(besides sibling: Int32, backlog: Int32) throws -> ListeningSocket {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sibling, $0, &length) }
        }
        guard ok == 0 else { throw ListeningSocketError(message: "getsockname: \(String(cString: strerror(errno)))") }
        let family = Int32(storage.ss_family)
        return try withUnsafePointer(to: &storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try bind(family: family, address: $0, length: length, backlog: backlog)
            }
        }
    }

    /// Adopts a descriptor passed by systemd socket activation, moved to a high number so that fd 3
    /// is free for the children's use.
    static func adopt(_ fd: Int32, shared: Bool) throws -> ListeningSocket {
        let high = try moveHigh(fd)
        return ListeningSocket(fd: high, isShared: shared)
    }

    private static func bind(family: Int32, address: UnsafePointer<sockaddr>?, length: socklen_t, backlog: Int32) throws -> ListeningSocket {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListeningSocketError(message: "socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, size) == 0,
              setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, size) == 0
        else {
            let error = errno
            _ = Glibc.close(fd)
            throw ListeningSocketError(message: "setsockopt: \(String(cString: strerror(error)))")
        }
        guard Glibc.bind(fd, address, length) == 0 else {
            let error = errno
            _ = Glibc.close(fd)
            throw ListeningSocketError(message: "bind: \(String(cString: strerror(error)))")
        }
        guard listen(fd, backlog) == 0 else {
            let error = errno
            _ = Glibc.close(fd)
            throw ListeningSocketError(message: "listen: \(String(cString: strerror(error)))")
        }
        return ListeningSocket(fd: try moveHigh(fd), isShared: false)
    }

    private static func moveHigh(_ fd: Int32) throws -> Int32 {
        let high = fcntl(fd, F_DUPFD_CLOEXEC, firstHighDescriptor)
        let error = errno
        _ = Glibc.close(fd)
        guard high >= 0 else { throw ListeningSocketError(message: "fcntl(F_DUPFD_CLOEXEC): \(String(cString: strerror(error)))") }
        return high
    }

    /// Whether `fd` has `SO_REUSEPORT` (a socket-activated socket has it with `ReusePort=yes`).
    static func hasReusePort(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &value, &size) == 0 && value != 0
    }

    /// The bound port, for logs.
    var port: Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafeBytes(of: &storage) { bytes in
            // sin_port and sin6_port sit at the same offset, in network byte order.
            Int(UInt16(bigEndian: bytes.load(fromByteOffset: 2, as: UInt16.self)))
        }
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

struct ListeningSocketError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
