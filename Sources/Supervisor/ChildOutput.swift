import EchoShared
import Glibc
import Logging

/// A child's standard output and error through a pipe: each line is logged (so it still reaches
/// the journal) and the last few are kept, so that a child that dies can be reported with its own
/// words.
final class ChildOutput {
    let fd: Int32
    private(set) var writeEnd: Int32
    private(set) var lastLines: [String] = []
    private var partial: [UInt8] = []
    private let name: String
    private let logger: Logger
    static let keptLines = 5

    init(name: String, logger: Logger) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SystemError(call: "pipe", errno: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        fd = ends[0]
        writeEnd = ends[1]
        self.name = name
        self.logger = logger
    }

    /// The child has its copy: ours would keep the pipe open after the child is gone.
    func closeWriteEnd() {
        if writeEnd >= 0 { Glibc.close(writeEnd) }
        writeEnd = -1
    }

    /// Reads what is there without blocking; returns false once the child's end is closed.
    @discardableResult
    func drain() -> Bool {
        guard isOpen else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                for byte in buffer[0..<n] {
                    if byte == UInt8(ascii: "\n") { emit() } else if partial.count < 4096 { partial.append(byte) }
                }
            } else if n == 0 {
                emit()
                return false
            } else {
                return errno == EAGAIN || errno == EINTR
            }
        }
    }

    private func emit() {
        guard !partial.isEmpty else { return }
        let line = String(decoding: partial, as: UTF8.self)
        partial.removeAll(keepingCapacity: true)
        logger.warning("\(line)", metadata: ["process": "\(name)"])
        lastLines.append(line)
        if lastLines.count > Self.keptLines { lastLines.removeFirst() }
    }

    /// Whether the read end is still open (polled by the supervisor's loop).
    private(set) var isOpen = true

    /// Closes both ends; the last lines stay readable.
    func close() {
        closeWriteEnd()
        if isOpen { Glibc.close(fd) }
        isOpen = false
    }
}
