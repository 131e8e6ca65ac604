import Foundation

/// A configuration built from settings: its plain `init()` holds every default, ``settings``
/// declares how each value is named, read and written.
public protocol SettingsConfiguration: Sendable {
    init()
    static var settings: [Setting<Self>] { get }
}

extension SettingsConfiguration {
    /// Reads `values` (flags already merged over the environment), one setting of ``settings``
    /// after the other, over the defaults. Throws ``ConfigurationError`` naming the first bad value.
    public init(values: [String: String]) throws {
        self.init()
        for setting in Self.settings {
            if let text = values[setting.name] { try setting.apply(text, to: &self) }
        }
    }

    /// The settings as environment variables, for handing to a worker process: they read back
    /// into an equal configuration.
    public var environment: [String: String] {
        var env: [String: String] = [:]
        for setting in Self.settings {
            if let text = setting.value(of: self) { env[setting.name] = text }
        }
        return env
    }
}

/// The kinds of value settings take. Each constructor reads the default shown in the documentation
/// from `Root()`, so a default is written once, on the property.
extension Setting where Root: SettingsConfiguration {
    /// A whole number in `range`. An empty value leaves the default.
    public static func integer<Value: FixedWidthInteger & Sendable>(
        _ name: String, flag: String?, value: String = "n",
        _ keyPath: WritableKeyPath<Root, Value> & Sendable, in range: ClosedRange<Int>,
        help: String, appliesOn: SettingScope = .reload
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: value) } ?? .none,
            default: showing(Int(Root()[keyPath: keyPath])), help: help, appliesOn: appliesOn,
            read: { root, text in
                guard let number = try ConfigurationSource([name: text]).int(name, in: range) else { return }
                root[keyPath: keyPath] = Value(number)
            },
            write: { String($0[keyPath: keyPath]) }
        )
    }

    /// Seconds (fractions allowed) in `range`. An empty value leaves the default.
    public static func seconds(
        _ name: String, flag: String?, _ keyPath: WritableKeyPath<Root, Duration> & Sendable,
        in range: ClosedRange<Double>, help: String, appliesOn: SettingScope = .reload
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: "seconds") } ?? .none,
            default: Root()[keyPath: keyPath].secondsText, help: help, appliesOn: appliesOn,
            read: { root, text in
                guard let duration = try ConfigurationSource([name: text]).seconds(name, in: range) else { return }
                root[keyPath: keyPath] = duration
            },
            write: { $0[keyPath: keyPath].secondsText }
        )
    }

    /// Free text, checked by `validate` (which throws a ``ConfigurationError``). An empty value
    /// leaves the default.
    public static func text(
        _ name: String, flag: String?, value: String, _ keyPath: WritableKeyPath<Root, String> & Sendable,
        help: String, appliesOn: SettingScope = .reload,
        validate: @escaping @Sendable (String) throws -> Void = { _ in }
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: value) } ?? .none,
            default: Root()[keyPath: keyPath], help: help, appliesOn: appliesOn,
            read: { root, text in
                guard !text.isEmpty else { return }
                try validate(text)
                root[keyPath: keyPath] = text
            },
            write: { $0[keyPath: keyPath] }
        )
    }

    /// Text that may be absent (`nil`: the setting's documented fallback applies). An empty value
    /// leaves it unset; an unset value is not handed on.
    public static func optionalText(
        _ name: String, flag: String?, value: String, _ keyPath: WritableKeyPath<Root, String?> & Sendable,
        default defaultText: String, help: String, appliesOn: SettingScope = .reload,
        validate: @escaping @Sendable (String) throws -> Void = { _ in }
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: value) } ?? .none,
            default: defaultText, help: help, appliesOn: appliesOn,
            read: { root, text in
                guard !text.isEmpty else { return }
                try validate(text)
                root[keyPath: keyPath] = text
            },
            write: { $0[keyPath: keyPath] }
        )
    }

    /// A comma-separated list; present but empty means an empty list. `validate` checks each entry.
    public static func list(
        _ name: String, flag: String?, _ keyPath: WritableKeyPath<Root, [String]> & Sendable,
        default defaultText: String, help: String, appliesOn: SettingScope = .reload,
        validate: @escaping @Sendable (String) throws -> Void = { _ in }
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: "list") } ?? .none,
            default: defaultText, help: help, appliesOn: appliesOn,
            read: { root, text in
                let entries = ConfigurationSource([name: text]).list(name) ?? []
                for entry in entries { try validate(entry) }
                root[keyPath: keyPath] = entries
            },
            write: { $0[keyPath: keyPath].joined(separator: ",") }
        )
    }

    /// How a number default reads in the documentation: byte sizes also in MiB.
    static func showing(_ number: Int) -> String {
        let mebibyte = 1 << 20
        guard number >= mebibyte, number % mebibyte == 0 else { return String(number) }
        return "\(number) (\(number / mebibyte) MiB)"
    }
}

extension Duration {
    /// Seconds as configuration values are written: `10`, `2.5`.
    var secondsText: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return String(milliseconds / 1000) }
        return String(Double(milliseconds) / 1000)
    }
}

extension Setting where Root: SettingsConfiguration {
    /// A whole number in `range` that may be absent (`nil`: not given). An empty value leaves it
    /// unset; an unset value is not handed on.
    public static func optionalInteger<Value: FixedWidthInteger & Sendable>(
        _ name: String, flag: String?, value: String = "n",
        _ keyPath: WritableKeyPath<Root, Value?> & Sendable, in range: ClosedRange<Int>,
        default defaultText: String, help: String, appliesOn: SettingScope = .reload
    ) -> Setting {
        Setting(
            name, flag: flag.map { .option($0, value: value) } ?? .none,
            default: defaultText, help: help, appliesOn: appliesOn,
            read: { root, text in
                guard let number = try ConfigurationSource([name: text]).int(name, in: range) else { return }
                root[keyPath: keyPath] = Value(number)
            },
            write: { $0[keyPath: keyPath].map { String($0) } }
        )
    }
}
