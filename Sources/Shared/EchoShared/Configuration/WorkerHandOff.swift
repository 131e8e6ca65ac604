/// What `echo` tells each worker it starts besides the configuration: its descriptors, its slot,
/// its heartbeat and drain pace. Declared as settings like the rest, so the supervisor writes and
/// the worker reads the same names (a worker started by hand may pass them as flags).
public struct WorkerHandOff: SettingsConfiguration, Equatable {
    /// The inherited listening socket; `nil`: the worker binds HOST:PORT itself.
    public var listenFD: Int32? = nil
    /// The supervisor's control channel; `nil`: not supervised.
    public var controlFD: Int32? = nil
    /// The inherited socket of `ECHO_HTTP_REDIRECT_PORT`; `nil`: the worker binds it itself.
    public var redirectFD: Int32? = nil
    public var slot = 0
    public var heartbeatMilliseconds = 1000
    /// The window a worker spreads its closes over when it is stopped by a signal rather than by
    /// the supervisor's `drain` (which names its own window).
    public var drainWindowMilliseconds = 1000

    public init() {}

    public static let settings: [Setting<WorkerHandOff>] = [
        .optionalInteger("ECHO_LISTEN_FD", flag: "listen-fd", value: "fd", \.listenFD, in: 0...Int(Int32.max), default: "(bind)", help: "Adopt this listening socket instead of binding HOST:PORT (`echo` passes 3).", appliesOn: .handOff),
        .optionalInteger("ECHO_CONTROL_FD", flag: "control-fd", value: "fd", \.controlFD, in: 0...Int(Int32.max), default: "(none)", help: "The supervisor's control channel (`echo` passes 4).", appliesOn: .handOff),
        .optionalInteger("ECHO_REDIRECT_FD", flag: "redirect-fd", value: "fd", \.redirectFD, in: 0...Int(Int32.max), default: "(bind)", help: "Adopt this listening socket for `ECHO_HTTP_REDIRECT_PORT` instead of binding it (`echo` passes 5).", appliesOn: .handOff),
        .integer("ECHO_WORKER_SLOT", flag: "slot", \.slot, in: 0...65535, help: "Worker slot number, for logs and metrics.", appliesOn: .handOff),
        .integer("ECHO_HEARTBEAT_MS", flag: "heartbeat-ms", value: "ms", \.heartbeatMilliseconds, in: 50...600_000, help: "Milliseconds between heartbeats on the control channel.", appliesOn: .handOff),
        .integer("ECHO_DRAIN_WINDOW_MS", flag: "drain-window-ms", value: "ms", \.drainWindowMilliseconds, in: 0...3_600_000, help: "Milliseconds over which a worker stopped by SIGTERM spreads its WebSocket closes.", appliesOn: .handOff),
    ]
}
