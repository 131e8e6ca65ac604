import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Shared

/// Plain HTTP (`/health`, `/metrics`, the web client) and the WebSocket handshake: an accepted
/// upgrade replaces the HTTP handlers with a frame decoder and a ``ChatConnectionHandler``.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: WorkerState
    private var head: HTTPRequestHead?

    init(state: WorkerState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let configuration = state.hub.configuration
        switch WebSocketHandshake.decide(
            head: head, isWebSocketPath: WebSocketPolicy.isWebSocketPath(head.uri),
            originAllowed: WebSocketPolicy.allows(origin: head.headers.first(name: "origin"), allowed: configuration.allowedOrigins),
            accepting: !state.hub.draining
        ) {
        case .notWebSocket:
            break
        case .refuse(let status, let text):
            return write(context: context, head: head, status: status, type: "text/plain", body: text)
        case .accept(let headers):
            return upgrade(context: context, head: head, headers: headers)
        }
        switch path {
        case "/health":
            let healthy = state.hub.redisConnected && !state.hub.draining
            let workers = state.hostWorkers()
            var body: [String: Any] = [
                "status": healthy ? "ok" : "unavailable",
                "redis": state.hub.redisConnected ? "connected" : "disconnected",
                "draining": state.hub.draining,
                "worker": ["slot": state.slot, "pid": Int(state.pid)],
                "workers": workers.count,
                "connections": workers.reduce(0) { $0 + $1.connections },
            ]
            // Slot states from the supervisor (a backing-off slot does not make this worker unhealthy).
            if let slots = state.host?.slots { body["slots"] = slots.map(Self.slotJSON) }
            writeJSON(context: context, head: head, status: healthy ? .ok : .serviceUnavailable, object: body)
        case "/metrics":
            state.publishMetrics()
            if query.split(separator: "&").contains("format=json") {
                writeJSON(context: context, head: head, status: .ok, object: metricsJSON())
            } else {
                write(context: context, head: head, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", body: metricsText())
            }
        default:
            if let assets = state.assets, let response = assets.response(method: head.method, uri: head.uri, headers: head.headers) {
                // The asset's headers carry the right Content-Length (also for HEAD; none on 304).
                writeResponse(context: context, head: head, status: response.status, headers: response.headers, body: head.method == .HEAD ? nil : response.body)
            } else {
                write(context: context, head: head, status: .notFound, type: "text/plain", body: "Not found\n")
            }
        }
    }

    /// Answers 101 and turns this connection into a WebSocket: the frame decoder and the chat
    /// handler go in right after the HTTP decoder, then every HTTP handler goes. The HTTP decoder
    /// goes last and hands any bytes the client sent after its handshake to the frame decoder.
    private func upgrade(context: ChannelHandlerContext, head: HTTPRequestHead, headers: HTTPHeaders) {
        let hub = state.hub
        let clientIP = ClientAddress.resolve(
            peer: context.channel.remoteAddress?.ipAddress ?? "unknown",
            forwardedFor: head.headers["x-forwarded-for"], trusted: hub.trustedProxies)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .switchingProtocols, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let pipeline = context.pipeline.syncOperations
        do {
            let httpDecoder = try pipeline.context(name: ChatServer.Names.decoder).handler
            let frameDecoder = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: hub.configuration.maxFrameBytes))
            try pipeline.addHandler(frameDecoder, position: .after(httpDecoder))
            try pipeline.addHandler(ChatConnectionHandler(hub: hub, clientIP: clientIP), position: .after(frameDecoder))
            for name in [ChatServer.Names.pipelining, ChatServer.Names.errors, ChatServer.Names.http, ChatServer.Names.encoder, ChatServer.Names.decoder] {
                context.pipeline.removeHandler(name: name, promise: nil)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    /// Prometheus text: this worker's registry, then whole-host figures from every worker's heartbeat.
    private func metricsText() -> String {
        var text = state.registry.emitToString()
        let workers = state.hostWorkers()
        func sum(_ f: (WorkerStats) -> Int) -> Int { workers.reduce(0) { $0 + f($1) } }
        text += "# TYPE echo_host_workers gauge\necho_host_workers \(workers.count)\n"
        text += "# TYPE echo_host_connections gauge\necho_host_connections \(sum(\.connections))\n"
        text += "# TYPE echo_host_messages_in_total counter\necho_host_messages_in_total \(sum(\.messagesIn))\n"
        text += "# TYPE echo_host_messages_out_total counter\necho_host_messages_out_total \(sum(\.messagesOut))\n"
        text += "# TYPE echo_host_worker_restarts_total counter\necho_host_worker_restarts_total \(state.host?.workerRestarts ?? 0)\n"
        text += "# TYPE echo_worker_connections gauge\n"
        for w in workers { text += "echo_worker_connections{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.connections)\n" }
        text += "# TYPE echo_worker_rooms gauge\n"
        for w in workers { text += "echo_worker_rooms{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.rooms)\n" }
        text += "# TYPE echo_worker_rss_bytes gauge\n"
        for w in workers { text += "echo_worker_rss_bytes{slot=\"\(w.slot)\",pid=\"\(w.pid)\"} \(w.rssBytes)\n" }
        // Slot states from the supervisor: a slot whose worker keeps dying backs off on its own.
        let slots = state.host?.slots ?? []
        text += "# TYPE echo_slot_backing_off gauge\n"
        for s in slots { text += "echo_slot_backing_off{slot=\"\(s.slot)\"} \(s.state == .backoff ? 1 : 0)\n" }
        text += "# TYPE echo_slot_restarts_total counter\n"
        for s in slots { text += "echo_slot_restarts_total{slot=\"\(s.slot)\"} \(s.restarts)\n" }
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
        let workers = state.hostWorkers()
        func sum(_ f: (WorkerStats) -> Int) -> Int { workers.reduce(0) { $0 + f($1) } }
        return [
            // Rooms are counted per worker; a room with members on two workers counts twice here.
            "rooms": sum(\.rooms),
            "connections": sum(\.connections),
            "messagesIn": sum(\.messagesIn),
            "messagesOut": sum(\.messagesOut),
            "rateLimited": sum(\.rateLimited),
            "slowConsumerCloses": sum(\.slowConsumerCloses),
            "workerRestarts": state.host?.workerRestarts ?? 0,
            "workers": workers.map { w -> [String: Any] in
                ["slot": w.slot, "pid": Int(w.pid), "connections": w.connections, "rooms": w.rooms,
                 "messagesIn": w.messagesIn, "messagesOut": w.messagesOut, "redisConnected": w.redisConnected,
                 "rssBytes": w.rssBytes]
            },
            "redis": state.hub.redisConnected ? "connected" : "disconnected",
            "slots": (state.host?.slots ?? []).map(Self.slotJSON),
        ]
    }

    private func writeJSON(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        write(context: context, head: head, status: status, type: "application/json", body: String(decoding: data, as: UTF8.self))
    }

    private func write(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, type: String, body: String) {
        var headers = HTTPHeaders(StaticAssets.securityHeaders)
        headers.add(name: "Content-Type", value: type)
        if status == .upgradeRequired { headers.add(name: "Sec-WebSocket-Version", value: "13") }
        headers.add(name: "Cache-Control", value: "no-store")
        let buffer = context.channel.allocator.buffer(string: body)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        writeResponse(context: context, head: head, status: status, headers: headers, body: head.method == .HEAD ? nil : buffer)
    }

    private func writeResponse(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?) {
        var headers = headers
        let keepAlive = head.isKeepAlive && !state.hub.draining
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

enum WebSocketPolicy {
    /// WebSocket paths: `/ws`, and `/`, which Echo Chat's development setup used.
    static func isWebSocketPath(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        return path == "/ws" || path == "/" || path.isEmpty
    }

    /// Any origin when the list is empty; otherwise an exact match (scheme://host[:port]).
    static func allows(origin: String?, allowed: [String]) -> Bool {
        guard !allowed.isEmpty else { return true }
        // Browsers always send Origin on a WebSocket upgrade; tools and servers without one are
        // not the cross-site threat the list guards against.
        guard let origin else { return true }
        return allowed.contains { $0.caseInsensitiveCompare(origin) == .orderedSame || $0 == "*" }
    }
}
