import EchoCore
import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The plain-HTTP redirect port: every request gets one answer from ``HTTPSRedirect`` (a 308 to
/// https, an ACME challenge file, 404 or 400), then the connection closes. Browsers follow the 308
/// once and then stay on https; certbot fetches one file per connection. Keeping connections open
/// would only give idle clients something to hold.
final class RedirectHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A challenge file is a token and a key thumbprint (under 200 bytes); anything much bigger in
    /// that folder is not one.
    static let maxChallengeBytes = 16 * 1024

    private let httpsPort: Int
    private let acmeWebroot: String?
    private var answer: HTTPSRedirect.Answer?
    private var isHead = false

    init(httpsPort: Int, acmeWebroot: String?) {
        self.httpsPort = httpsPort
        self.acmeWebroot = acmeWebroot
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard answer == nil else { return }
            isHead = head.method == .HEAD
            answer = HTTPSRedirect.answer(
                target: head.uri, host: head.headers.first(name: "host"), httpsPort: httpsPort,
                servesChallenges: acmeWebroot != nil)
        case .body:
            break
        case .end:
            guard let answer else { return }
            respond(answer, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that connects and says nothing (or too slowly) does not keep its socket.
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func respond(_ answer: HTTPSRedirect.Answer, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
        var status = HTTPResponseStatus.notFound
        var body: ByteBuffer?
        switch answer {
        case .redirect(let location):
            status = .permanentRedirect
            headers.add(name: "Location", value: location)
        case .acmeChallenge(let token):
            if let webroot = acmeWebroot,
               let bytes = Self.readChallenge(webroot + HTTPSRedirect.challengePrefix + token) {
                status = .ok
                headers.replaceOrAdd(name: "Content-Length", value: "\(bytes.count)")
                headers.add(name: "Content-Type", value: "application/octet-stream")
                body = context.channel.allocator.buffer(bytes: bytes)
            }
        case .notFound:
            status = .notFound
        case .badRequest:
            status = .badRequest
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let body, !isHead { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The challenge file's bytes, if it is a small regular file. Read on the event loop: it is a
    /// few hundred bytes, asked for a handful of times per renewal.
    static func readChallenge(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= maxChallengeBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        return Array(bytes.prefix(filled))
    }
}
