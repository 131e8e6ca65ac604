import EchoShared
import NIOCore

/// What a client's close frame asks for (RFC 6455 §5.5.1, §7.4): the code to echo back, or the
/// protocol error that malformed payloads earn.
public enum ClientCloseFrame {
    /// The code to answer `payload` (unmasked) with: the client's own code when it is one a peer
    /// may send, 1000 for an empty payload, 1002 for a 1-byte payload or a code no endpoint may
    /// send (1004–1006, 1015, below 1000, 1016–2999, 5000 and up), 1007 for a reason that is not UTF-8.
    public static func answer(to payload: ByteBuffer) -> CloseCode {
        var payload = payload
        guard payload.readableBytes > 0 else { return .normal }
        guard let raw = payload.readInteger(as: UInt16.self) else { return .protocolError }
        guard isSendable(raw) else { return .protocolError }
        guard payload.withUnsafeReadableBytes(UTF8Validation.isValid) else { return .invalidPayload }
        return CloseCode(rawValue: raw)
    }

    /// Codes an endpoint may put in a close frame: the defined ones and the registered or private
    /// ranges (3000–4999).
    static func isSendable(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014: return true
        case 3000...4999: return true
        default: return false
        }
    }
}
