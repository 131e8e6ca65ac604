/// The two figures `InputLimits.init(_:)` reads: the fuzz target compiles the parser's files
/// without the Shared module, so it brings this stand-in for the real configuration type.
public struct EchoConfiguration: Sendable {
    public var maxMessageLength = 2000
    public var maxImageBytes = 3 * 1024 * 1024
}
