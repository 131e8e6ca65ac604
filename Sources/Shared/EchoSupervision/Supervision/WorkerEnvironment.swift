import EchoShared

/// The environment a worker is started with: the supervisor's own, then the resolved
/// configuration, then the ``WorkerHandOff`` (descriptors, slot, heartbeat).
public enum WorkerEnvironment {
    /// The descriptors a worker inherits: the slot's listening socket, the control channel and,
    /// with a redirect port, the slot's socket for it.
    public static let listenFD: Int32 = 3
    public static let controlFD: Int32 = 4
    /// The slot's redirect-port socket, when `ECHO_HTTP_REDIRECT_PORT` is set.
    public static let redirectFD: Int32 = 5

    /// Variables meant for the supervisor alone: its own settings, and systemd's, which would make a
    /// worker believe it was socket-activated or should notify systemd itself (`NotifyAccess=main`
    /// would refuse it anyway).
    public static let withheld: Set<String> = Set(SupervisorConfiguration.settings.map(\.name)).union([
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "MAINPID",
    ])

    public static func build(
        inherited: [String: String],
        configuration: [String: String],
        slot: Int,
        heartbeatMilliseconds: Int,
        redirect: Bool = false
    ) -> [String: String] {
        var handOff = WorkerHandOff()
        handOff.listenFD = listenFD
        handOff.controlFD = controlFD
        handOff.redirectFD = redirect ? redirectFD : nil
        handOff.slot = slot
        handOff.heartbeatMilliseconds = heartbeatMilliseconds
        // Hand-off names come only from here: an ECHO_REDIRECT_FD left in the supervisor's own
        // environment must not make a worker adopt whatever that descriptor is.
        let handOffNames = Set(WorkerHandOff.settings.map(\.name))
        var env = inherited.filter { !withheld.contains($0.key) && !handOffNames.contains($0.key) }
        env.merge(configuration) { _, new in new }
        env.merge(handOff.environment) { _, new in new }
        return env
    }

    /// `KEY=value` strings, sorted so that a worker's environment is reproducible.
    public static func entries(_ env: [String: String]) -> [String] {
        env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }
}
