import CHiredis
import NIOCore

/// The RESP wire format, through hiredis: the only Swift file that imports `CHiredis`.
///
/// hiredis is used as a codec only (its reader and command formatter); SwiftNIO owns the socket.
public enum RESPCodec {
    /// Writes `command` in RESP form into `buffer` (via `redisFormatCommandArgv`).
    ///
    /// Every chat is one command, so this avoids allocating: the arguments are laid into one
    /// array sized up front, and argv and the lengths live on the stack.
    public static func encode(_ command: RESPCommand, into buffer: inout ByteBuffer) {
        let arguments = command.arguments
        let count = arguments.count
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(0) { $0 + $1.estimatedByteCount })
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { lengths in
            for (index, argument) in arguments.enumerated() {
                let start = storage.count
                switch argument {
                case .string(let s): storage.append(contentsOf: s.utf8)
                case .integer(let i): storage.append(contentsOf: String(i).utf8)
                case .bytes(let b): b.withUnsafeReadableBytes { storage.append(contentsOf: $0) }
                }
                lengths[index] = storage.count - start
            }
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
                storage.withUnsafeBytes { bytes in
                    // One argument's bytes follow another's; each argv entry points at its start.
                    let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                    var offset = 0
                    for index in 0..<count {
                        argv[index] = base.advanced(by: offset).assumingMemoryBound(to: CChar.self)
                        offset += lengths[index]
                    }
                    var target: UnsafeMutablePointer<CChar>? = nil
                    let length = redisFormatCommandArgv(&target, Int32(count), argv.baseAddress, lengths.baseAddress)
                    guard length > 0, let target else { return }
                    defer { redisFreeCommand(target) }
                    buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
                }
            }
        }
    }
}

/// An incremental RESP reader: feed bytes as they arrive, take whole replies out.
///
/// Not thread-safe; one per connection, used on that connection's event loop.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Hands the readable bytes of `buffer` to hiredis.
    public func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw readerError() }
    }

    /// The next whole reply, or `nil` when more bytes are needed. After a throw the reader (and
    /// its connection) must be discarded: hiredis cannot recover from a protocol error.
    public func next() throws -> RESPValue? {
        var raw: UnsafeMutableRawPointer? = nil
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw readerError() }
        guard let raw else { return nil }
        // hiredis hands over the whole tree: copy it out, then free the top-level reply once.
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }

    private func readerError() -> RedisError {
        let message = echo_redisReaderGetError(reader).map { String(cString: $0) } ?? "unknown reader error"
        return RedisError(.protocolError, message)
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        // Strings are built from str+len, never from a C string, so binary payloads survive.
        func bytes() -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: r.str, count: Int(r.len))
        }
        switch r.type {
        case REDIS_REPLY_STRING:
            var buffer = ByteBuffer()
            buffer.writeBytes(bytes())
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let child = r.element[i] { elements.append(value(of: child)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }
}
