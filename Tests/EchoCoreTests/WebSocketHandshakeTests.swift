@testable import EchoCore
import EchoShared
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct WebSocketHandshakeTests {
    func head(_ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/ws", headers: HTTPHeaders(headers))
    }

    let good: [(String, String)] = [
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ]

    @Test func sha1MatchesKnownDigests() {
        let hex = { (bytes: [UInt8]) in bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(SHA1.hash(Array(String(repeating: "a", count: 1000).utf8))) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func acceptValueIsTheRFCExample() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptsAValidHandshake() {
        guard case .accept(let headers) = WebSocketHandshake.decide(head: head(good), isWebSocketPath: true, originAllowed: true, accepting: true) else {
            Issue.record("refused")
            return
        }
        #expect(headers.first(name: "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func refusesBrokenHandshakes() {
        func decide(_ headers: [(String, String)], path: Bool = true, origin: Bool = true, accepting: Bool = true, method: HTTPMethod = .GET) -> WebSocketHandshake.Decision {
            WebSocketHandshake.decide(head: head(headers, method: method), isWebSocketPath: path, originAllowed: origin, accepting: accepting)
        }
        #expect(decide([("Host", "x")]) == .notWebSocket)
        guard case .refuse(.badRequest, _) = decide(good, path: false) else { Issue.record("path"); return }
        guard case .refuse(.forbidden, _) = decide(good, origin: false) else { Issue.record("origin"); return }
        guard case .refuse(.serviceUnavailable, _) = decide(good, accepting: false) else { Issue.record("draining"); return }
        guard case .refuse(.badRequest, _) = decide(good, method: .POST) else { Issue.record("method"); return }
        let oldVersion = good.map { $0.0 == "Sec-WebSocket-Version" ? ($0.0, "8") : $0 }
        guard case .refuse(.upgradeRequired, _) = decide(oldVersion) else { Issue.record("version"); return }
        let badKey = good.map { $0.0 == "Sec-WebSocket-Key" ? ($0.0, "short") : $0 }
        guard case .refuse(.badRequest, _) = decide(badKey) else { Issue.record("key"); return }
    }
}
