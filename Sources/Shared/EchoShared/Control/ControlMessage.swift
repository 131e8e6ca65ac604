import Foundation

/// What a supervisor and its workers say to each other over the control channel (fd 4 of a worker,
/// a `socketpair`): one JSON object per line. The channel closing means the other side is gone; a
/// worker exits when it sees that.
public enum ControlMessage: Sendable, Equatable {
    // Worker → supervisor.
    /// The worker adopted its socket and accepts connections.
    case ready(pid: Int32)
    /// Sent every heartbeat interval; silence past the heartbeat timeout means the worker hangs.
    case heartbeat(WorkerStats)
    /// The worker closed its copy of the listening socket (answer to ``stopAccepting``).
    case stoppedAccepting
    /// Every WebSocket is closed; the worker exits right after.
    case drained

    // Supervisor → worker.
    /// Close this worker's copy of the listening socket and stop accepting; connections already
    /// open stay. The supervisor still holds the socket, so new connections queue for the worker
    /// that replaces this one (a rolling reload never has two processes accepting on one socket).
    case stopAccepting
    /// Stop accepting, close every WebSocket with `closeCode` spread over `windowMilliseconds`, exit.
    case drain(closeCode: CloseCode, windowMilliseconds: Int)
    /// The whole host's figures, so any worker can answer `/metrics` and `/health` for all.
    case host(HostStats)
    /// The TLS session-ticket keys of the whole host, newest first: the first encrypts new tickets,
    /// every one decrypts. Every worker holds the same list, so a ticket one worker issued resumes
    /// on any other. Each key is ``ticketKeyLength`` bytes; on the wire, base64.
    case ticketKeys([[UInt8]])

    /// name (16) | HMAC-SHA256 key (32) | AES-256 key (32): OpenSSL's ticket key callback layout.
    public static let ticketKeyLength = 80
}

/// One worker's figures, as counters since it started and gauges now.
public struct WorkerStats: Codable, Sendable, Equatable {
    public var slot: Int
    public var pid: Int32
    public var connections: Int
    public var rooms: Int
    public var messagesIn: Int
    public var messagesOut: Int
    public var errors: Int
    public var rateLimited: Int
    public var slowConsumerCloses: Int
    public var redisConnected: Bool
    public var redisReconnects: Int
    public var rssBytes: Int

    public init(
        slot: Int = 0, pid: Int32 = 0, connections: Int = 0, rooms: Int = 0, messagesIn: Int = 0,
        messagesOut: Int = 0, errors: Int = 0, rateLimited: Int = 0, slowConsumerCloses: Int = 0,
        redisConnected: Bool = false, redisReconnects: Int = 0, rssBytes: Int = 0
    ) {
        self.slot = slot
        self.pid = pid
        self.connections = connections
        self.rooms = rooms
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.errors = errors
        self.rateLimited = rateLimited
        self.slowConsumerCloses = slowConsumerCloses
        self.redisConnected = redisConnected
        self.redisReconnects = redisReconnects
        self.rssBytes = rssBytes
    }
}

/// The supervisor's view of its host: the latest heartbeat of every live worker, and every slot's
/// state (a slot whose worker keeps dying backs off on its own while the others serve).
public struct HostStats: Codable, Sendable, Equatable {
    public var supervisorPID: Int32
    public var workerRestarts: Int
    public var workers: [WorkerStats]
    public var slots: [SlotState]

    public init(supervisorPID: Int32, workerRestarts: Int, workers: [WorkerStats], slots: [SlotState] = []) {
        self.supervisorPID = supervisorPID
        self.workerRestarts = workerRestarts
        self.workers = workers
        self.slots = slots
    }

    private enum CodingKeys: String, CodingKey { case supervisorPID, workerRestarts, workers, slots }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        supervisorPID = try c.decode(Int32.self, forKey: .supervisorPID)
        workerRestarts = try c.decode(Int.self, forKey: .workerRestarts)
        workers = try c.decode([WorkerStats].self, forKey: .workers)
        // Absent from a supervisor older than its worker (a binary upgraded on disk, then reloaded).
        slots = try c.decodeIfPresent([SlotState].self, forKey: .slots) ?? []
    }
}

extension ControlMessage: Codable {
    private enum CodingKeys: String, CodingKey { case type, pid, stats, closeCode, windowMilliseconds, keys }
    private enum Kind: String, Codable { case ready, heartbeat, stoppedAccepting, drained, stopAccepting, drain, host, ticketKeys }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(Kind.self, forKey: .type) {
        case .ready: self = .ready(pid: try c.decode(Int32.self, forKey: .pid))
        case .heartbeat: self = .heartbeat(try c.decode(WorkerStats.self, forKey: .stats))
        case .stoppedAccepting: self = .stoppedAccepting
        case .drained: self = .drained
        case .stopAccepting: self = .stopAccepting
        case .drain:
            self = .drain(
                closeCode: try c.decode(CloseCode.self, forKey: .closeCode),
                windowMilliseconds: try c.decode(Int.self, forKey: .windowMilliseconds)
            )
        case .host: self = .host(try c.decode(HostStats.self, forKey: .stats))
        case .ticketKeys:
            let keys = try c.decode([String].self, forKey: .keys).map { text -> [UInt8] in
                guard let data = Data(base64Encoded: text), data.count == Self.ticketKeyLength else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .keys, in: c, debugDescription: "a ticket key must be \(Self.ticketKeyLength) bytes in base64")
                }
                return Array(data)
            }
            guard !keys.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .keys, in: c, debugDescription: "no ticket key")
            }
            self = .ticketKeys(keys)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ready(let pid):
            try c.encode(Kind.ready, forKey: .type)
            try c.encode(pid, forKey: .pid)
        case .heartbeat(let stats):
            try c.encode(Kind.heartbeat, forKey: .type)
            try c.encode(stats, forKey: .stats)
        case .stoppedAccepting:
            try c.encode(Kind.stoppedAccepting, forKey: .type)
        case .drained:
            try c.encode(Kind.drained, forKey: .type)
        case .stopAccepting:
            try c.encode(Kind.stopAccepting, forKey: .type)
        case .drain(let code, let window):
            try c.encode(Kind.drain, forKey: .type)
            try c.encode(code, forKey: .closeCode)
            try c.encode(window, forKey: .windowMilliseconds)
        case .host(let stats):
            try c.encode(Kind.host, forKey: .type)
            try c.encode(stats, forKey: .stats)
        case .ticketKeys(let keys):
            try c.encode(Kind.ticketKeys, forKey: .type)
            try c.encode(keys.map { Data($0).base64EncodedString() }, forKey: .keys)
        }
    }

    /// The message as one line of the control channel, newline included.
    public func encodedLine() -> [UInt8] {
        // Encoding these plain structs cannot fail.
        var bytes = Array((try? JSONEncoder().encode(self)) ?? Data())
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Parses one line (without its newline).
    public init(line: some Collection<UInt8>) throws {
        self = try JSONDecoder().decode(ControlMessage.self, from: Data(line))
    }
}
