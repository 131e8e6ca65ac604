#if canImport(Glibc)
import Glibc
#endif

/// The one-line status echo-bench keeps on stderr while it runs: rewritten in place on a terminal,
/// one line per second otherwise (a log file then shows the run's time series).
struct ProgressLine: Sendable {
    var enabled: Bool
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ text: String) {
        guard enabled else { return }
        let line = isTerminal ? "\r\u{1B}[2K" + text : text + "\n"
        Self.writeStandardError(line)
    }

    /// Ends the in-place line so the table starts on a fresh one.
    func finish() {
        guard enabled, isTerminal else { return }
        Self.writeStandardError("\n")
    }

    /// Unbuffered, so the line is visible at once even when stderr is a file.
    private static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}

enum Format {
    /// 1234567 → "1,234,567".
    static func count<T: BinaryInteger>(_ value: T) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func rate(_ value: Double) -> String { count(Int(value.rounded())) }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
            if digits == 0 { text = String(text[..<dot]) }
        } else if digits > 0 {
            text += "." + String(repeating: "0", count: digits)
        }
        return text
    }

    /// Microseconds shown as milliseconds with 2 decimals.
    static func millis(_ micros: Double) -> String { fixed(micros / 1000, 2) }

    static func bytes(_ value: Double) -> String {
        if Swift.abs(value) >= 1_048_576 { return fixed(value / 1_048_576, 1) + " MiB" }
        if Swift.abs(value) >= 1024 { return fixed(value / 1024, 2) + " KiB" }
        return fixed(value, 0) + " B"
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
