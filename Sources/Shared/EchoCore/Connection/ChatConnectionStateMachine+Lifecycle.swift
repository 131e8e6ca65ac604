import EchoShared

/// Liveness, deadlines, back-pressure and closing.
extension ChatConnectionStateMachine {
    /// The worker's ping timer: no traffic since the last ping means the peer is gone.
    public mutating func pingTick() -> [Action] {
        guard let connection, isOpen else { return [] }
        if connection.liveness == .awaitingPong {
            beginClosing()
            return [.log(LogEntry(level: .debug, message: "no pong; closing", metadata: [:])), .closeNow]
        }
        modify { $0.liveness = .awaitingPong }
        return [.write(WebSocketWire.frame(.ping, payload: .init()), flush: true)]
    }

    /// The join-deadline sweep reached this connection (`ECHO_JOIN_TIMEOUT` after it opened).
    /// The sweep names connections by identity, which a newer connection can reuse: only an
    /// entry at least as old as this connection counts.
    public mutating func joinDeadlinePassed(now: Instant) -> [Action] {
        let timeout = configuration.joinTimeoutSeconds
        guard timeout > 0, isOpen, case .pending(let openedAt)? = connection?.joinDeadline,
              now.uptimeSeconds &- openedAt >= UInt32(timeout) else { return [] }
        return [
            .count(.joinTimeoutClose),
            .log(LogEntry(level: .debug, message: "no join in time; closing", metadata: [:])),
        ] + close(.policyViolation, reason: "No room joined within \(timeout) s.")
    }

    /// The server closes the connection (a drain, a shutdown).
    public mutating func closeRequested(_ code: CloseCode, reason: String = "") -> [Action] {
        close(code, reason: reason)
    }

    /// A frame broke RFC 6455 below this machine (the decoder, the aggregator, the mask check).
    /// `counted`: it counts as a protocol-error close in the metrics (unmasked, reserved bits).
    public mutating func protocolViolation(_ code: CloseCode, counted: Bool) -> [Action] {
        guard isOpen else { return [] }
        return (counted ? [.count(.protocolErrorClose)] : []) + close(code)
    }

    /// The outbound queue is past `ECHO_OUTBOUND_LIMIT`: this client cannot keep up. Closing it
    /// bounds memory.
    public mutating func outboundFull() -> [Action] {
        guard isOpen else { return [] }
        return [
            .count(.slowConsumerClose),
            .log(LogEntry(level: .info, message: "closing slow consumer", metadata: ["limit": "\(configuration.outboundLimitBytes)"])),
        ] + close(.policyViolation)
    }

    /// The socket closed: the connection leaves its room.
    public mutating func channelClosed(now: Instant) -> [Action] {
        let actions = leaveCurrentRoom(now: now)
        state = .closed
        return actions
    }

    /// Sends a close frame with `code` (once) and stops reading requests and writing frames.
    mutating func close(_ code: CloseCode, reason: String = "") -> [Action] {
        guard isOpen else { return [] }
        beginClosing()
        return [.sendClose(code, reason: reason)]
    }

    private mutating func beginClosing() {
        if case .open(let c) = state { state = .closing(c) }
    }

    // MARK: Inbound budget

    /// Charges a frame to the connection's inbound budget (`ECHO_INBOUND_BYTES_PER_SECOND`); once
    /// it is spent, reading stops until it refilled. A client sending large frames as fast as it
    /// can thus gets its bytes through at the budget's rate and cannot take the worker's loop from
    /// everyone else.
    mutating func chargeInbound(_ bytes: Int, now: Instant, into actions: inout [Action]) {
        let rate = configuration.inboundBytesPerSecond
        guard rate > 0 else { return }
        let burst = configuration.maxFrameBytes
        let wait = modify { c -> UInt64? in
            guard !c.inbound.charge(bytes, bytesPerSecond: rate, burst: burst, nowNanoseconds: now.uptimeNanoseconds),
                  c.reading == .on else { return nil }
            c.reading = .paused
            return c.inbound.pauseNanoseconds(bytesPerSecond: rate, burst: burst, nowNanoseconds: now.uptimeNanoseconds)
        }
        guard let wait = wait ?? nil else { return }
        actions += [.pauseReading, .scheduleReadCheck(nanoseconds: Self.readCheckDelay(wait))]
    }

    /// The check ``Action/scheduleReadCheck(nanoseconds:)`` asked for: resume reading once the
    /// budget refilled, or check again later.
    public mutating func readCheck(now: Instant) -> [Action] {
        let rate = configuration.inboundBytesPerSecond
        let burst = configuration.maxFrameBytes
        let wait = modify { c -> UInt64? in
            guard c.reading == .paused else { return nil }
            let wait = c.inbound.pauseNanoseconds(bytesPerSecond: rate, burst: burst, nowNanoseconds: now.uptimeNanoseconds)
            if wait == 0 { c.reading = .on }
            return wait
        }
        guard let wait = wait ?? nil else { return [] }
        return wait > 0 ? [.scheduleReadCheck(nanoseconds: Self.readCheckDelay(wait))] : [.resumeReading]
    }

    /// At least a millisecond between checks.
    static func readCheckDelay(_ wait: UInt64) -> UInt64 { max(wait, 1_000_000) }
}
