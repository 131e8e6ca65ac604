import NIOCore

/// libFuzzer's entry point: every input is one WebSocket text frame's bytes. The parser must
/// return a request or throw a `ProtocolError`; a crash, a sanitizer report or a timeout is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    _ = try? ClientRequest.parse(buffer, limits: InputLimits())
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main` (and aliases `main` to it), so
/// libFuzzer's own `main` is never used: this one hands the command line to libFuzzer's driver.
@_cdecl("ParseFuzz_main")
public func parseFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzClientRequest(data, size) }
}
