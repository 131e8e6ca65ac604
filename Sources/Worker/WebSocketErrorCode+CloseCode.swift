import EchoShared
import NIOWebSocket

extension WebSocketErrorCode {
    /// The one place a ``CloseCode`` (the control protocol's name for a close code) becomes NIO's
    /// type: the worker's connections close with what the supervisor asked for, number for number.
    init(_ code: CloseCode) {
        self.init(codeNumber: Int(code.rawValue))
    }
}
