
/// What a text frame from the server is, as far as echo-bench cares. Classification is a few
/// byte searches, not a JSON parse: the generator shares the CPU with the server, so every
/// microsecond it spends per delivery is taken from the thing being measured.
public enum BenchFrame: Sendable, Equatable {
    /// A chat delivery carrying one of our stamps.
    case chat(BenchStamp)
    /// `{"type":"session",...}`: the join was accepted.
    case session
    /// `{"type":"history",...}`: the join is complete, or, once joined, a resync: the server
    /// told the member it missed messages (`recovered:false`) and sent the history as it is.
    case history
    /// `{"type":"error","code":...}`.
    case error(code: String)
    /// `{"sender":"System",...}` join/leave events.
    case system
    /// `{"type":"challenge","nonce":...}`: what an encrypted room's join must sign.
    case challenge(nonce: String)
    /// Anything else (pong, chat without a stamp, frames from a newer protocol).
    case other

    static let historyToken = Array("\"history\"".utf8)
    /// How Echo writes every history frame: checked first and in O(1), so a resync's history
    /// (which holds old stamps) is never read as one chat.
    static let historyPrefix = Array(#"{"type":"history""#.utf8)
    static let sessionToken = Array("\"session\"".utf8)
    static let errorToken = Array("\"error\"".utf8)
    static let systemToken = Array("\"System\"".utf8)
    static let codeKey = Array("\"code\"".utf8)
    static let challengeToken = Array("\"challenge\"".utf8)
    static let nonceKey = Array("\"nonce\"".utf8)

    /// Classifies one frame. `expectingHistory` is true between `session` and `history`: a history
    /// frame holds old stamps, so it must be recognised before a stamp is looked for. `stamps` says
    /// where this run's chats carry their stamp (plain or encrypted rooms).
    public static func classify(_ bytes: UnsafeRawBufferPointer, expectingHistory: Bool, stamps: BenchStamp.Encoding = .text) -> BenchFrame {
        if BenchBytes.matches(historyPrefix, at: 0, in: bytes) { return .history }
        if expectingHistory, BenchBytes.contains(historyToken, in: bytes) { return .history }
        if let stamp = BenchStamp.find(in: bytes, encoding: stamps) { return .chat(stamp) }
        if BenchBytes.contains(systemToken, in: bytes) { return .system }
        if BenchBytes.contains(sessionToken, in: bytes) { return .session }
        if BenchBytes.contains(historyToken, in: bytes) { return .history }
        if BenchBytes.contains(errorToken, in: bytes) { return .error(code: errorCode(bytes) ?? "UNKNOWN") }
        // After the error check: an error's message may name the challenge, never the other way round.
        if BenchBytes.contains(challengeToken, in: bytes), let nonce = stringValue(after: nonceKey, in: bytes) {
            return .challenge(nonce: nonce)
        }
        return .other
    }

    /// The string value after `"code"`, without unescaping (codes are plain upper-case words).
    static func errorCode(_ bytes: UnsafeRawBufferPointer) -> String? {
        stringValue(after: codeKey, in: bytes)
    }

    /// The string value after `key`, without unescaping: for values that never need it (error
    /// codes, base64url nonces).
    static func stringValue(after key: [UInt8], in bytes: UnsafeRawBufferPointer) -> String? {
        guard let keyIndex = BenchBytes.firstIndex(of: key, in: bytes) else { return nil }
        var index = keyIndex + key.count
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += 1 }
        let start = index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
        guard end < bytes.count else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }
}
