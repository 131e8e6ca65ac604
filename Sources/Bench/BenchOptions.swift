import ArgumentParser
import EchoBenchKit
import NIOCore

/// Options every load mode shares.
struct BenchOptions: ParsableArguments {
    @Option(name: .customLong("url"), help: "WebSocket URL to load (repeatable: connections go round-robin). Loopback only.")
    var urls: [String] = ["ws://127.0.0.1:8080/ws"]

    @Option(help: "Connections to open (default depends on the mode).")
    var connections: Int?

    @Option(help: "Rooms to spread the connections over (connection i joins room i % rooms).")
    var rooms: Int?

    @Option(help: "Use source addresses 127.0.0.1 ... 127.0.0.N (each has ~28k ephemeral ports).")
    var sourceAddresses = 1

    @Option(help: "Connections being opened and joined at the same time.")
    var connectConcurrency = 256

    @Option(help: "Seconds allowed for TCP connect.")
    var connectTimeout = 10.0

    @Option(help: "Seconds allowed from connect to the history reply.")
    var joinTimeout = 20.0

    @Option(help: "Event loops (threads) of the generator; default: one per core.")
    var eventLoops = System.coreCount

    @Option(help: "PID of the server; it and all its descendants are charged CPU time and RSS.")
    var serverPid: Int?

    @Option(help: "PID of redis-server, to charge its CPU time (repeatable: every primary of a cluster, reported each and together).")
    var redisPid: [Int] = []

    @Option(help: "Room id prefix (default: a fresh random one, so runs never share rooms).")
    var roomPrefix: String?

    @Option(help: "Join action: create or join.")
    var joinAction = "create"

    @Flag(help: "Join end-to-end encrypted rooms (challenge, then a join proving the room's Ed25519 key); fanout sends ciphertext chats as long as --message-size.")
    var encrypted = false

    @Flag(help: "Speak TLS to every --url, as if it were wss://.")
    var tls = false

    @Option(help: "CA (or self-signed certificate) the server's chain must lead to; without it a wss:// server's certificate is not checked.")
    var tlsCa: String?

    @Option(help: "Server name sent as SNI (and checked against the certificate with --tls-ca).")
    var tlsServerName = "localhost"

    @Flag(help: "Resume TLS sessions: each connection offers the session an earlier connection got.")
    var tlsResume = false

    @Flag(help: "Print the result as JSON on stdout instead of a table.")
    var json = false

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validateCommon() throws {
        for url in urls {
            do { _ = try BenchTarget(parsing: url) } catch { throw ValidationError("--url \(error)") }
        }
        if let connections, connections < 1 { throw ValidationError("--connections must be at least 1") }
        if let rooms, rooms < 1 { throw ValidationError("--rooms must be at least 1") }
        guard (1...254).contains(sourceAddresses) else { throw ValidationError("--source-addresses must be 1...254") }
        guard connectConcurrency >= 1 else { throw ValidationError("--connect-concurrency must be at least 1") }
        guard eventLoops >= 1 else { throw ValidationError("--event-loops must be at least 1") }
        guard joinAction == "create" || joinAction == "join" else { throw ValidationError("--join-action must be create or join") }
        if tlsCa != nil || tlsResume, !targets.contains(where: \.tls) {
            throw ValidationError("--tls-ca and --tls-resume need a wss:// --url (or --tls)")
        }
        if let roomPrefix {
            // Room codes are "<prefix>-<n>"; the server creates none shorter than 8 characters.
            guard roomPrefix.count >= 6, roomPrefix.count <= 40,
                roomPrefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else { throw ValidationError("--room-prefix: 6-40 of A-Z a-z 0-9 _ -") }
        }
    }

    var targets: [BenchTarget] {
        urls.compactMap { try? BenchTarget(parsing: $0) }.map { target in
            var target = target
            if tls { target.tls = true }
            return target
        }
    }

    /// The TLS client of the run when a target is `wss://`.
    func tlsSettings() throws -> BenchTLS? {
        guard targets.contains(where: \.tls) else { return nil }
        return try BenchTLS(caFile: tlsCa, serverName: tlsServerName, resume: tlsResume)
    }

    /// A prefix no earlier run used: stale members or history of old rooms never leak into a run.
    var resolvedRoomPrefix: String {
        roomPrefix ?? "bench" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    func settings(plan: BenchPlan, send: BenchSendSettings, connectConcurrency: Int? = nil) throws -> BenchRun.Settings {
        try BenchRun.Settings(
            targets: targets, plan: plan, send: send, sourceAddresses: sourceAddresses,
            connectConcurrency: connectConcurrency ?? self.connectConcurrency,
            connectTimeout: .milliseconds(Int64(connectTimeout * 1000)),
            joinTimeout: .milliseconds(Int64(joinTimeout * 1000)),
            eventLoops: eventLoops, roomPrefix: resolvedRoomPrefix, joinAction: joinAction, encrypted: encrypted, tls: tlsSettings())
    }

    var sampler: ProcessSampler { ProcessSampler(serverPID: serverPid, redisPIDs: redisPid) }

    func parameters() -> [String: String] {
        var result = [
            "connections": connections.map(String.init) ?? "default",
            "rooms": rooms.map(String.init) ?? "default",
            "sourceAddresses": String(sourceAddresses),
            "eventLoops": String(eventLoops),
            "connectConcurrency": String(connectConcurrency),
        ]
        if let serverPid { result["serverPid"] = String(serverPid) }
        if encrypted { result["encrypted"] = "end-to-end encrypted rooms (ciphertext chats, key proof at join)" }
        if targets.contains(where: \.tls) {
            let check = tlsCa.map { "verified against \($0)" } ?? "unverified"
            result["tls"] = "\(check), SNI \(tlsServerName)\(tlsResume ? ", resuming sessions" : "")"
        }
        return result
    }
}
