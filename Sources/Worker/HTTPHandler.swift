import EchoCore
import EchoShared
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Plain HTTP (the public `/health`, the web client) and the WebSocket handshake: an accepted
/// upgrade replaces the HTTP handlers with a frame decoder and a ``ChatConnectionHandler``. On the
/// admin listener (`ECHO_ADMIN_LISTEN`) the same handler serves `/metrics` and the detailed
/// `/health`, and nothing else.
///
/// Before a request is answered it is admitted (docs/security.md): the connection counts against
/// its IP's open connections and an upgrade takes a handshake token, both checked in Redis. A
/// connection that has not completed a request within `ECHO_HEADER_TIMEOUT` (from its accept, or
/// from its last keep-alive response) is closed: one scheduled task per connection, and only until
/// it upgrades.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Listener {
        /// The public port: web client, public `/health`, WebSocket.
        case chat
        /// `ECHO_ADMIN_LISTEN`: `/metrics` and the detailed `/health`.
        case admin
    }

    private let resources: WorkerResources
    private let listener: Listener
    private var head: HTTPRequestHead?
    private var headerTimer: Scheduled<Void>?
    /// Requests complete but not yet answered (a pipelined request can arrive while the previous
    /// answer is still being written): the header timer is re-armed only when this is 0.
    private var unanswered = 0
    /// The IP this connection counts against (from its first request until it closes); handed
    /// over to the hub when the connection becomes a WebSocket.
    private var countedIP: String?

    init(resources: WorkerResources, listener: Listener = .chat) {
        self.resources = resources
        self.listener = listener
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if listener == .chat { resources.tracker.opened(context.channel) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armHeaderTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelHeaderTimer()
        if let ip = countedIP {
            countedIP = nil
            resources.hub.admission.release(ip: ip)
        }
        context.fireChannelInactive()
    }

    /// By the upgrade, or when the channel closes (its pipeline removes every handler).
    func handlerRemoved(context: ChannelHandlerContext) {
        cancelHeaderTimer()
        if listener == .chat { resources.tracker.left(context.channel) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            cancelHeaderTimer()
            unanswered += 1
            admit(context: context, head: head)
        }
    }

    /// A malformed request: `HTTPServerProtocolErrorHandler` has answered 400 with
    /// `Connection: close`; keep that promise (left alone, the socket stayed open for good).
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !(error is HTTPParserError) {
            resources.hub.logger.debug("http connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    // MARK: Admission

    private func armHeaderTimer(context: ChannelHandlerContext) {
        let seconds = resources.hub.configuration.headerTimeoutSeconds
        guard seconds > 0 else { return }
        headerTimer?.cancel()
        headerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) {
            // Silently: nothing was asked, so there is nothing to answer (an idle keep-alive
            // connection closed this way is retried by clients, as after any idle close).
            Counter(label: "echo_header_timeouts_total").increment()
            context.close(promise: nil)
        }
    }

    private func cancelHeaderTimer() {
        headerTimer?.cancel()
        headerTimer = nil
    }

    /// Counts the connection (once) and the handshake (each upgrade) against the client's IP,
    /// then answers the request, or refuses it with 429.
    private func admit(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard listener == .chat else { return respond(context: context, head: head, clientIP: "") }
        let admission = resources.hub.admission
        let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        let clientIP = ClientAddress.resolve(peer: peer, forwardedFor: head.headers["x-forwarded-for"], trusted: admission.trustedProxies)
        let upgrade = WebSocketHandshake.isUpgrade(head)
        // A trusted proxy pools many clients' plain requests over its own connections: only its
        // WebSockets (one upstream connection each) count as a client's connection.
        let countConnection = countedIP == nil && admission.countsConnections && (upgrade || !admission.isTrustedProxy(peer))
        if countConnection { countedIP = clientIP }
        admission.admit(ip: clientIP, countConnection: countConnection, handshake: upgrade)
            .assumeIsolated().whenComplete { result in
                guard context.channel.isActive else { return }
                if case .success(let refusal?) = result {
                    self.refuse(context: context, head: head, refusal: refusal)
                } else {
                    self.respond(context: context, head: head, clientIP: clientIP)
                }
            }
    }

    /// 429 with `Retry-After`, then the connection is closed.
    private func refuse(context: ChannelHandlerContext, head: HTTPRequestHead, refusal: Admission.Refusal) {
        let seconds = max(1, (refusal.retryAfterMilliseconds + 999) / 1000)
        let text = switch refusal.reason {
        case .connections: "Too many open connections from your address; retry in \(seconds) s\n"
        case .handshakes: "Too many WebSocket connections opened from your address; retry in \(seconds) s\n"
        }
        write(context: context, head: head, status: .tooManyRequests, type: "text/plain", body: text, close: true,
              extraHeaders: [("Retry-After", String(seconds))])
    }

    // MARK: Requests

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, clientIP: String) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        if listener == .admin {
            return respondAdmin(context: context, head: head, path: path, query: query)
        }
        let admission = resources.hub.admission
        switch WebSocketHandshake.decide(
            head: head, isWebSocketPath: WebSocketPolicy.isWebSocketPath(head.uri),
            originAllowed: admission.origins.allows(origin: head.headers.first(name: "origin"), host: head.headers.first(name: "host")),
            accepting: !resources.hub.draining
        ) {
        case .notWebSocket:
            break
        case .refuse(let status, let text):
            // A refused handshake ends the connection (RFC 9112 §9.6: Connection: close, then close):
            // a client that got this far wanted a WebSocket, not more HTTP on this socket.
            return write(context: context, head: head, status: status, type: "text/plain", body: text, close: true)
        case .accept(let headers):
            return upgrade(context: context, head: head, headers: headers, clientIP: clientIP)
        }
        switch path {
        case "/health":
            // Public: only whether this worker can chat. Who runs how many workers is for the admin listener.
            let healthy = resources.hub.redisServing && !resources.hub.draining
            writeJSON(context: context, head: head, status: healthy ? .ok : .serviceUnavailable, object: ["status": healthy ? "ok" : "unavailable"])
        default:
            if let assets = resources.assets, let response = assets.response(method: head.method, uri: head.uri, headers: head.headers) {
                // The asset's headers carry the right Content-Length (also for HEAD; none on 304).
                writeResponse(context: context, head: head, status: response.status, headers: response.headers, body: head.method == .HEAD ? nil : response.body)
            } else {
                write(context: context, head: head, status: .notFound, type: "text/plain", body: "Not found\n")
            }
        }
    }

    /// The admin listener: `/health` with this host's workers, `/metrics`; nothing else.
    private func respondAdmin(context: ChannelHandlerContext, head: HTTPRequestHead, path: String, query: String) {
        switch path {
        case "/health":
            let healthy = resources.hub.redisServing && !resources.hub.draining
            writeJSON(context: context, head: head, status: healthy ? .ok : .serviceUnavailable, object: healthJSON(healthy: healthy))
        case "/metrics":
            resources.publishMetrics()
            if query.split(separator: "&").contains("format=json") {
                writeJSON(context: context, head: head, status: .ok, object: metricsJSON())
            } else {
                write(context: context, head: head, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", body: metricsText())
            }
        default:
            write(context: context, head: head, status: .notFound, type: "text/plain", body: "Not found\n")
        }
    }

    /// Answers 101 and turns this connection into a WebSocket: the WebSocket handlers
    /// (``ChatServer/addWebSocketHandlers(to:after:hub:clientIP:)``) go in right after the HTTP decoder, then every HTTP handler goes. The HTTP decoder
    /// goes last and hands any bytes the client sent after its handshake to the frame decoder.
    private func upgrade(context: ChannelHandlerContext, head: HTTPRequestHead, headers: HTTPHeaders, clientIP: String) {
        let hub = resources.hub
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .switchingProtocols, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let pipeline = context.pipeline.syncOperations
        do {
            let httpDecoder = try pipeline.context(name: ChatServer.Names.decoder).handler
            try ChatServer.addWebSocketHandlers(to: pipeline, after: httpDecoder, hub: hub, clientIP: clientIP)
            // From here the hub releases the connection's count when it closes (ChatHub.detach).
            countedIP = nil
            for name in [ChatServer.Names.pipelining, ChatServer.Names.errors, ChatServer.Names.http, ChatServer.Names.encoder, ChatServer.Names.decoder] {
                context.pipeline.removeHandler(name: name, promise: nil)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    /// The detailed health (admin listener only): this worker and the host's workers.
    private func healthJSON(healthy: Bool) -> [String: Any] {
        let workers = resources.hostWorkers()
        var health: [String: Any] = [
            "status": healthy ? "ok" : "unavailable",
            "redis": resources.hub.redisState,
            "draining": resources.hub.draining,
            "worker": ["slot": resources.slot, "pid": Int(resources.pid)],
            "workers": workers.count,
            "connections": workers.reduce(0) { $0 + $1.connections },
            // Slot states from the supervisor: a backing-off slot does not make this worker unhealthy.
            "slots": (resources.host?.slots ?? []).map(Self.slotJSON),
        ]
        // Why Redis is down (refused, timed out, a certificate that does not verify), so an
        // operator need not dig through the log.
        let hub = resources.hub
        let commandsDown = hub.store.redis.isConnected ? nil : hub.store.redis.lastError
        if let why = commandsDown ?? (hub.subscriber.isConnected ? nil : hub.subscriber.lastError) {
            health["redisError"] = why
        }
        health["redisTopology"] = hub.redis.healthJSON
        return health
    }

    /// Prometheus text: this worker's registry, then whole-host figures from every worker's heartbeat.
    private func metricsText() -> String {
        var text = resources.registry.emitToString()
        let workers = resources.hostWorkers()
        func sum(_ f: (WorkerStats) -> Int) -> Int { workers.reduce(0) { $0 + f($1) } }
        text += "# TYPE echo_host_workers gauge\necho_host_workers \(workers.count)\n"
        text += "# TYPE echo_host_connections gauge\necho_host_connections \(sum(\.connections))\n"
        text += "# TYPE echo_host_messages_in_total counter\necho_host_messages_in_total \(sum(\.messagesIn))\n"
        text += "# TYPE echo_host_messages_out_total counter\necho_host_messages_out_total \(sum(\.messagesOut))\n"
        text += "# TYPE echo_host_worker_restarts_total counter\necho_host_worker_restarts_total \(resources.host?.workerRestarts ?? 0)\n"
        text += "# TYPE echo_worker_connections gauge\n"
        for w in workers { text += "echo_worker_connections{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.connections)\n" }
        text += "# TYPE echo_worker_rooms gauge\n"
        for w in workers { text += "echo_worker_rooms{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.rooms)\n" }
        text += "# TYPE echo_worker_rss_bytes gauge\n"
        for w in workers { text += "echo_worker_rss_bytes{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.rssBytes)\n" }
        // Slot states from the supervisor: a slot whose worker keeps dying backs off on its own.
        let slots = resources.host?.slots ?? []
        text += "# TYPE echo_slot_backing_off gauge\n"
        for s in slots { text += "echo_slot_backing_off{slot=\"\(s.slot)\"} \(s.state == .backoff ? 1 : 0)\n" }
        text += "# TYPE echo_slot_restarts_total counter\n"
        for s in slots { text += "echo_slot_restarts_total{slot=\"\(s.slot)\"} \(s.restarts)\n" }
        text += resources.hub.redis.metricsText
        return text
    }

    private static func slotJSON(_ s: SlotState) -> [String: Any] {
        var o: [String: Any] = ["slot": s.slot, "state": s.state.rawValue, "restarts": s.restarts]
        if let retry = s.retryInMs { o["retryInMs"] = retry }
        if let last = s.lastExit { o["lastExit"] = last }
        return o
    }

    /// Echo Chat's JSON shape (`rooms`, `connections`), for the whole host, with a per-worker breakdown.
    private func metricsJSON() -> [String: Any] {
        let workers = resources.hostWorkers()
        func sum(_ f: (WorkerStats) -> Int) -> Int { workers.reduce(0) { $0 + f($1) } }
        return [
            // Rooms are counted per worker; a room with members on two workers counts twice here.
            "rooms": sum(\.rooms),
            "connections": sum(\.connections),
            "messagesIn": sum(\.messagesIn),
            "messagesOut": sum(\.messagesOut),
            "rateLimited": sum(\.rateLimited),
            "slowConsumerCloses": sum(\.slowConsumerCloses),
            "workerRestarts": resources.host?.workerRestarts ?? 0,
            "workers": workers.map { w -> [String: Any] in
                ["slot": w.slot, "pid": Int(w.pid), "connections": w.connections, "rooms": w.rooms,
                 "messagesIn": w.messagesIn, "messagesOut": w.messagesOut, "redisConnected": w.redisConnected,
                 "rssBytes": w.rssBytes]
            },
            "redis": resources.hub.redisState,
            "redisTopology": resources.hub.redis.healthJSON,
            "slots": (resources.host?.slots ?? []).map(Self.slotJSON),
        ]
    }

    private func writeJSON(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        write(context: context, head: head, status: status, type: "application/json", body: String(decoding: data, as: UTF8.self))
    }

    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, type: String, body: String,
        close: Bool = false, extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders(StaticAssets.securityHeaders)
        headers.add(contentsOf: extraHeaders)
        headers.add(name: "Content-Type", value: type)
        if status == .upgradeRequired { headers.add(name: "Sec-WebSocket-Version", value: "13") }
        headers.add(name: "Cache-Control", value: "no-store")
        let buffer = context.channel.allocator.buffer(string: body)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        writeResponse(context: context, head: head, status: status, headers: headers, body: head.method == .HEAD ? nil : buffer, close: close)
    }

    private func writeResponse(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?, close: Bool = false) {
        var headers = headers
        let keepAlive = head.isKeepAlive && !resources.hub.draining && !close
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        // Two years, as Mozilla recommends: once a browser has seen the site over https it never
        // tries plain http (where the redirect port would answer) again.
        if listener == .chat, resources.tls != nil { headers.add(name: "Strict-Transport-Security", value: "max-age=63072000") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            self.unanswered -= 1
            if keepAlive {
                if self.unanswered == 0 { self.armHeaderTimer(context: context) }
            } else {
                context.close(promise: nil)
            }
        }
    }
}

enum WebSocketPolicy {
    /// WebSocket paths: `/ws`, and `/`, which Echo Chat's development setup used.
    static func isWebSocketPath(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        return path == "/ws" || path == "/" || path.isEmpty
    }
}
