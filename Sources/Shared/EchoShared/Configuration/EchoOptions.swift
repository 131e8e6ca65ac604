import ArgumentParser

/// The settings' command-line flags, for `echo` and `echo-worker`. argument-parser wants a
/// declaration per option; the flags are instead read from the setting tables
/// (``EchoConfiguration/settings`` and the supervisor's), so a new setting gets its flag, its
/// environment name and its `--help` line from one declaration. Each flag beats its environment
/// variable, which beats the default.
public struct EchoOptions: ParsableArguments, Sendable {
    @Argument(parsing: .allUnrecognized, help: .hidden) public var arguments: [String] = []

    public init() {}

    /// The flags' values by environment name (`--debug` alone is `DEBUG=1`). Throws a
    /// `ValidationError` for a flag that none of `settings` has, a missing value or a stray word.
    /// With `ignoringUnknown`, an unknown `--flag` is skipped with its value: the supervisor
    /// re-reads its workers' settings on reload from flags it already checked against both tables.
    public func flagValues(_ settings: [any SettingDescription], ignoringUnknown: Bool = false) throws -> [String: String] {
        var byFlag: [String: any SettingDescription] = [:]
        for setting in settings {
            if let name = setting.flag.longName { byFlag[name] = setting }
        }
        var values: [String: String] = [:]
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ValidationError("Unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var inline: String? = nil
            if let equals = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let setting = byFlag[name] else {
                guard ignoringUnknown else { throw ValidationError("Unknown option '--\(name)'") }
                if inline == nil, index < arguments.endIndex, !arguments[index].hasPrefix("--") { index += 1 }
                continue
            }
            switch setting.flag {
            case .toggle:
                guard inline == nil else { throw ValidationError("'--\(name)' takes no value") }
                values[setting.name] = "1"
            case .option:
                if let inline {
                    values[setting.name] = inline
                } else {
                    guard index < arguments.endIndex else { throw ValidationError("Missing value for '--\(name)'") }
                    values[setting.name] = arguments[index]
                    index += 1
                }
            case .none:
                break
            }
        }
        return values
    }

    /// Flags laid over `environment`: the values ``EchoConfiguration/init(values:)`` reads.
    /// Flags of other settings (the supervisor's) are skipped.
    public func merged(over environment: [String: String]) throws -> [String: String] {
        environment.merging(try flagValues(EchoConfiguration.settings, ignoringUnknown: true)) { _, flag in flag }
    }

    public func configuration(environment: [String: String]) throws -> EchoConfiguration {
        try EchoConfiguration(values: merged(over: environment))
    }
}
