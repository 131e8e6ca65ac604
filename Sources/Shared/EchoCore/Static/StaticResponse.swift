import NIOCore
import NIOHTTP1

/// What the HTTP handler writes back for a static asset.
///
/// `headers` already carries `Content-Length` for the representation chosen, also for `HEAD`
/// (whose `body` is empty) and `304` (no length, empty body): write the headers as they are.
public struct StaticResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
