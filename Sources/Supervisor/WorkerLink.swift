import EchoShared
import Glibc

/// The supervisor's link to one worker: its end of the worker's control channel: a non-blocking `AF_UNIX` stream socket
/// carrying ``ControlMessage`` lines, driven by the supervisor's poll loop.
final class WorkerLink {
    /// A worker that stops reading (hung, stopped) must not make the supervisor's memory grow:
    /// past this, periodic host figures are dropped for that worker (commands are still queued).
    static let outboundSoftLimit = 256 * 1024

    private(set) var fd: Int32
    private var inbound: [UInt8] = []
    private var outbound: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
    }

    var isOpen: Bool { fd >= 0 }
    var wantsWrite: Bool { isOpen && !outbound.isEmpty }

    /// Creates a connected pair: the supervisor's end (non-blocking, close-on-exec, at a high
    /// number) and the worker's end, which the spawner puts on fd 4 of the child.
    static func makePair() throws -> (WorkerLink, childEnd: Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError(call: "socketpair", errno: errno)
        }
        var moved: [Int32] = []
        for fd in fds {
            let high = fcntl(fd, F_DUPFD_CLOEXEC, ListeningSocket.firstHighDescriptor)
            let error = errno
            Glibc.close(fd)
            guard high >= 0 else {
                moved.forEach { _ = Glibc.close($0) }
                throw SystemError(call: "fcntl(F_DUPFD_CLOEXEC)", errno: error)
            }
            moved.append(high)
        }
        _ = fcntl(moved[0], F_SETFL, fcntl(moved[0], F_GETFL) | O_NONBLOCK)
        return (WorkerLink(fd: moved[0]), moved[1])
    }

    func send(_ message: ControlMessage) {
        guard isOpen else { return }
        if case .host = message, outbound.count > Self.outboundSoftLimit { return }
        outbound.append(contentsOf: message.encodedLine())
        flush()
    }

    /// Writes what the socket takes now; the rest waits for `POLLOUT`.
    func flush() {
        while isOpen, !outbound.isEmpty {
            let n = outbound.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                outbound.removeFirst(n)
            } else {
                if n < 0, errno == EINTR { continue }
                if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
                // The worker is gone; its exit arrives through waitpid.
                outbound.removeAll()
                return
            }
        }
    }

    /// Reads what is there. Returns the complete messages and whether the worker closed its end.
    /// A line that does not parse is skipped (and reported) rather than closing the channel.
    func receive(onBadLine: (String) -> Void) -> (messages: [ControlMessage], closed: Bool) {
        guard isOpen else { return ([], true) }
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                inbound.append(contentsOf: buffer[0..<n])
                continue
            }
            if n < 0, errno == EINTR { continue }
            if n == 0 || !(errno == EAGAIN || errno == EWOULDBLOCK) { closed = true }
            break
        }
        var messages: [ControlMessage] = []
        var start = inbound.startIndex
        while let newline = inbound[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = inbound[start..<newline]
            start = newline + 1
            guard !line.isEmpty else { continue }
            do {
                messages.append(try ControlMessage(line: line))
            } catch {
                onBadLine(String(decoding: line.prefix(200), as: UTF8.self))
            }
        }
        inbound.removeFirst(start - inbound.startIndex)
        return (messages, closed)
    }

    /// Closing the supervisor's end tells the worker to exit at once (it watches for EOF).
    func close() {
        guard isOpen else { return }
        Glibc.close(fd)
        fd = -1
        outbound.removeAll()
    }

    deinit {
        close()
    }
}
