
/// What a text frame from the server is, as far as echo-bench cares. Classification is a few
/// byte searches, not a JSON parse: the generator shares the CPU with the server, so every
/// microsecond it spends per delivery is taken from the thing being measured.
public enum BenchFrame: Sendable, Equatable {
    /// A chat delivery carrying one of our stamps.
    case chat(BenchStamp)
    /// `{"type":"session",...}`: the join was accepted.
    case session
    /// `{"type":"history",...}`: the join is complete.
    case history
    /// `{"type":"error","code":...}`.
    case error(code: String)
    /// `{"sender":"System",...}` join/leave events.
    case system
    /// Anything else (pong, chat without a stamp, frames from a newer protocol).
    case other

    static let historyToken = Array("\"history\"".utf8)
    static let sessionToken = Array("\"session\"".utf8)
    static let errorToken = Array("\"error\"".utf8)
    static let systemToken = Array("\"System\"".utf8)
    static let codeKey = Array("\"code\"".utf8)

    /// Classifies one frame. `expectingHistory` is true between `session` and `history`: a history
    /// frame holds old stamps, so it must be recognised before a stamp is looked for.
    public static func classify(_ bytes: UnsafeRawBufferPointer, expectingHistory: Bool) -> BenchFrame {
        if expectingHistory, BenchBytes.contains(historyToken, in: bytes) { return .history }
        if let stamp = BenchStamp.find(in: bytes) { return .chat(stamp) }
        if BenchBytes.contains(systemToken, in: bytes) { return .system }
        if BenchBytes.contains(sessionToken, in: bytes) { return .session }
        if BenchBytes.contains(historyToken, in: bytes) { return .history }
        if BenchBytes.contains(errorToken, in: bytes) { return .error(code: errorCode(bytes) ?? "UNKNOWN") }
        return .other
    }

    /// The string value after `"code"`, without unescaping (codes are plain upper-case words).
    static func errorCode(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let keyIndex = BenchBytes.firstIndex(of: codeKey, in: bytes) else { return nil }
        var index = keyIndex + codeKey.count
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += 1 }
        let start = index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
        guard end < bytes.count else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }
}
