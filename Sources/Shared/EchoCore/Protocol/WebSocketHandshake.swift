import EchoShared
import Foundation
import NIOHTTP1

/// The server side of the WebSocket opening handshake (RFC 6455 §4.2), as a pure decision: the
/// worker does it in its own HTTP handler, so an upgraded connection carries only a frame decoder
/// and the chat handler (NIO's upgrader leaves a frame encoder behind that cannot be removed).
public enum WebSocketHandshake {
    public enum Decision: Equatable, Sendable {
        /// Not a WebSocket request: serve it as plain HTTP.
        case notWebSocket
        /// Answer 101 with these headers, then switch the connection to WebSocket.
        case accept(HTTPHeaders)
        /// Refuse with this status and text.
        case refuse(HTTPResponseStatus, String)
    }

    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
    public static func acceptValue(forKey key: String) -> String {
        Data(SHA1.hash(Array((key + guid).utf8))).base64EncodedString()
    }

    /// Whether `head` asks for a WebSocket (`Upgrade: websocket`), valid or not.
    public static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }

    /// What to do with `head`: `isWebSocketPath` and `originAllowed` are the server's policies.
    public static func decide(head: HTTPRequestHead, isWebSocketPath: Bool, originAllowed: Bool, accepting: Bool) -> Decision {
        guard isUpgrade(head) else { return .notWebSocket }
        guard isWebSocketPath else { return .refuse(.badRequest, "WebSocket endpoint is /ws\n") }
        guard originAllowed else { return .refuse(.forbidden, "Origin not allowed\n") }
        guard accepting else { return .refuse(.serviceUnavailable, "Server is restarting; reconnect\n") }
        guard head.method == .GET, head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1),
              head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) else {
            return .refuse(.badRequest, "Not a WebSocket handshake\n")
        }
        guard head.headers.first(name: "sec-websocket-version") == "13" else {
            // The HTTP handler adds `Sec-WebSocket-Version: 13` to a 426.
            return .refuse(.upgradeRequired, "WebSocket version 13 required\n")
        }
        guard let key = head.headers.first(name: "sec-websocket-key")?.trimmingCharacters(in: .whitespaces),
              let nonce = Data(base64Encoded: key), nonce.count == 16 else {
            return .refuse(.badRequest, "Bad Sec-WebSocket-Key\n")
        }
        let headers = HTTPHeaders([
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", acceptValue(forKey: key)),
        ])
        return .accept(headers)
    }
}
