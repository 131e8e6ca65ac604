import CZlib

/// gzip through zlib: the only Swift file that imports `CZlib`.
///
/// The web client is compressed once when the assets are loaded, never per request, so the simple
/// one-shot API (whole input in, whole output out) is all Echo needs.
enum Gzip {
    struct Error: Swift.Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "zlib \(operation) failed with code \(code)" }
    }

    /// 15 bits of window plus 16 asks zlib for a gzip header and trailer instead of a raw zlib stream.
    private static let gzipWindowBits: Int32 = 15 + 16

    static func compress(_ input: [UInt8], level: Int32 = 9) throws -> [UInt8] {
        var stream = z_stream()
        // deflateInit2 is a macro; the function behind it checks that header and library agree.
        var status = deflateInit2_(&stream, level, Z_DEFLATED, gzipWindowBits, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw Error(operation: "deflateInit2", code: status) }
        defer { deflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        var input = input
        status = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                // deflateBound guarantees the whole output fits, so one Z_FINISH call completes.
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw Error(operation: "deflate", code: status) }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Used by the tests to prove the round trip; bounded so a corrupt input cannot grow without end.
    static func decompress(_ input: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        var stream = z_stream()
        var status = inflateInit2_(&stream, gzipWindowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw Error(operation: "inflateInit2", code: status) }
        defer { inflateEnd(&stream) }

        var input = input
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        status = Z_OK
        try input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while status != Z_STREAM_END {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw Error(operation: "inflate", code: status) }
                output.append(contentsOf: chunk[..<produced])
                guard output.count <= limit else { throw Error(operation: "inflate (output over limit)", code: Z_BUF_ERROR) }
                if status == Z_OK && produced == 0 && stream.avail_in == 0 {
                    throw Error(operation: "inflate (truncated input)", code: Z_BUF_ERROR)
                }
            }
        }
        return output
    }
}
