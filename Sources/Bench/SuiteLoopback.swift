#if canImport(Glibc)
import Glibc
#endif

/// The few loopback probes the suite needs before it trusts a server: a free port, an HTTP status,
/// a Redis PING. Plain blocking sockets with a one-second timeout; they run a few times per start.
enum SuiteLoopback {
    /// A port nothing listens on, below the ephemeral range so no client socket can be holding it.
    /// `alsoFree`: an offset whose port must be free too (a cluster node's bus is port + 10000).
    static func freePort(alsoFree offset: Int? = nil) throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20000..<32000)
            if canBind(port), offset.map({ canBind(port + $0) }) ?? true { return port }
        }
        throw BenchFailure(description: "no free port found")
    }

    /// HTTP status of `GET path` on 127.0.0.1:port, nil when nothing answers.
    static func httpStatus(port: Int, path: String) -> Int? {
        guard let reply = exchange(port: port, request: "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", replyBytes: 12) else { return nil }
        // "HTTP/1.1 200"
        let fields = reply.split(separator: " ")
        return fields.count >= 2 ? Int(fields[1]) : nil
    }

    static func redisAnswersPing(port: Int) -> Bool {
        exchange(port: port, request: "PING\r\n", replyBytes: 5) == "+PONG"
    }

    /// One command's reply on 127.0.0.1:port: a bulk string's contents, or a simple string or
    /// error line with its `+`/`-`; nil when nothing (complete) answers within a second.
    static func redisCommand(port: Int, _ arguments: [String]) -> String? {
        var request = "*\(arguments.count)\r\n"
        for argument in arguments { request += "$\(argument.utf8.count)\r\n\(argument)\r\n" }
        guard let reply = exchange(port: port, request: request, until: Self.isCompleteReply) else { return nil }
        guard reply.first == UInt8(ascii: "$") else { return String(decoding: reply.prefix { $0 != 13 }, as: UTF8.self) }
        guard let end = reply.firstIndex(of: 13), let length = Int(String(decoding: reply[1..<end], as: UTF8.self)), length >= 0,
            reply.count >= end + 2 + length
        else { return nil }
        return String(decoding: reply[(end + 2)..<(end + 2 + length)], as: UTF8.self)
    }

    /// A simple reply up to its CRLF, or a bulk string with all its bytes.
    private static func isCompleteReply(_ reply: [UInt8]) -> Bool {
        guard let end = reply.firstIndex(of: 13), end + 1 < reply.count else { return false }
        guard reply.first == UInt8(ascii: "$") else { return true }
        guard let length = Int(String(decoding: reply[1..<end], as: UTF8.self)) else { return true }
        return length < 0 || reply.count >= end + 2 + length + 2
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Connects, writes `request`, reads up to `replyBytes` bytes.
    private static func exchange(port: Int, request: String, replyBytes: Int) -> String? {
        exchange(port: port, request: request, limit: replyBytes) { $0.count >= replyBytes }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Connects, writes `request`, reads until `complete` says so, the peer closes, a second passes
    /// or `limit` bytes arrived.
    private static func exchange(port: Int, request: String, limit: Int = 1 << 20, until complete: ([UInt8]) -> Bool) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return nil }
        var request = request
        let sent = request.withUTF8 { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else { return nil }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while reply.count < limit, !complete(reply) {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, min($0.count, limit - reply.count), 0) }
            guard count > 0 else { break }
            reply += chunk[..<count]
        }
        return reply
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }
}
