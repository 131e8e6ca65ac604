import NIOCore

/// A Redis reply, copied out of hiredis's reply tree so nothing of C leaks past ``RESPCodec``.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    /// A nil bulk string or a nil array: hiredis 0.14 reports both the same way.
    case null
    case array([RESPValue])

    /// The value as text when it is a string of either kind.
    public var string: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let b): return String(buffer: b)
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    public var int: Int? {
        switch self {
        case .integer(let i): return i
        case .bulkString(let b): return Int(String(buffer: b))
        case .simpleString(let s): return Int(s)
        default: return nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var buffer: ByteBuffer? {
        if case .bulkString(let b) = self { return b }
        return nil
    }
}

/// One argument of a Redis command: text, binary-safe bytes, or a number.
public enum RESPArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)
    case integer(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }

    /// Bytes this argument takes (an upper bound for integers), to size the encoder's buffer.
    var estimatedByteCount: Int {
        switch self {
        case .string(let s): return s.utf8.count
        case .bytes(let b): return b.readableBytes
        case .integer: return 20
        }
    }
}

/// A command as the words Redis receives; ``RESPCodec`` turns it into bytes.
public struct RESPCommand: Sendable {
    public var arguments: [RESPArgument]
    public init(_ arguments: [RESPArgument]) { self.arguments = arguments }
    public init(_ arguments: RESPArgument...) { self.arguments = arguments }
}

/// An error reply or a broken connection, with what Redis said.
public struct RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Redis answered with an error reply (`-ERR ...`).
        case reply
        /// No connection: Redis is down or unreachable.
        case unavailable
        /// A command got no answer in time; the connection was dropped.
        case timeout
        /// The bytes from Redis could not be parsed (the connection is dropped).
        case protocolError
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "redis \(kind): \(message)" }
    /// The script cache was flushed (Redis restarted): load the script again.
    public var isNoScript: Bool { kind == .reply && message.hasPrefix("NOSCRIPT") }
}
