/// One setting, declared once: its environment name, its flag, its default, how its value is read
/// and written back, and its help. Parsing (environment, environment file, flags), the hand-off to
/// workers, `--help` and the documentation's table all iterate the lists built from these
/// (``EchoConfiguration/settings``, and the supervisor's own in EchoSupervision).
public struct Setting<Root>: SettingDescription, Sendable {
    public var name: String
    public var flag: SettingFlag
    public var defaultText: String
    public var help: String
    public var appliesOn: SettingScope
    /// Sets the value on a configuration from its text; throws a ``ConfigurationError`` naming
    /// ``name`` for a value it refuses.
    let read: @Sendable (inout Root, String) throws -> Void
    /// The text that reads back to the same value, for handing the setting to a worker; `nil` if
    /// the setting is not handed on (it folds into another, or its value is unset).
    let write: @Sendable (Root) -> String?

    public init(
        _ name: String,
        flag: SettingFlag,
        default defaultText: String,
        help: String,
        appliesOn: SettingScope = .reload,
        read: @escaping @Sendable (inout Root, String) throws -> Void,
        write: @escaping @Sendable (Root) -> String?
    ) {
        self.name = name
        self.flag = flag
        self.defaultText = defaultText
        self.help = help
        self.appliesOn = appliesOn
        self.read = read
        self.write = write
    }

    public func apply(_ text: String, to root: inout Root) throws { try read(&root, text) }
    public func value(of root: Root) -> String? { write(root) }
}

/// What `--help` and the documentation show of a setting, whatever configuration it belongs to.
public protocol SettingDescription: Sendable {
    /// The environment variable (also its name in the environment file and in the hand-off).
    var name: String { get }
    var flag: SettingFlag { get }
    /// The default as the documentation shows it.
    var defaultText: String { get }
    /// One sentence on what it does, with its unit and what 0 means where that matters.
    var help: String { get }
    var appliesOn: SettingScope { get }
}

/// The command-line spelling of a setting.
public enum SettingFlag: Sendable, Equatable {
    /// `--name VALUE` or `--name=VALUE`.
    case option(String, value: String)
    /// `--name` alone, which sets the value `1`.
    case toggle(String)
    /// Only from the environment.
    case none

    public var longName: String? {
        switch self {
        case .option(let name, _), .toggle(let name): return name
        case .none: return nil
        }
    }

    /// `--name <value>`, as `--help` and the documentation write it.
    public var usage: String? {
        switch self {
        case .option(let name, let value): return "--\(name) <\(value)>"
        case .toggle(let name): return "--\(name)"
        case .none: return nil
        }
    }
}

/// When a changed value takes effect.
public enum SettingScope: String, Sendable, Equatable {
    /// On `systemctl reload echo` (SIGHUP): the rolling reload starts workers with it.
    case reload
    /// Only when `echo` is restarted (the listening sockets and the supervisor's own settings stay).
    case restart
    /// Set by `echo` for each worker it starts (``WorkerHandOff``); only a worker started by hand
    /// chooses it.
    case handOff
}
