/// The two figures `InputLimits.init(_:)` reads. The fuzz target compiles the parser's files
/// without the real EchoShared module; this stand-in module of the same name provides them.
public struct EchoConfiguration: Sendable {
    public var maxMessageLength = 2000
    public var maxImageBytes = 3 * 1024 * 1024
}
