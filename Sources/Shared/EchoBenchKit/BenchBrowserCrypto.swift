import Foundation

/// What end-to-end encryption costs Echo's page in Chromium: `scripts/bench_e2e_browser.py` times
/// web/crypto.js encrypting and decrypting a 3 MiB image and a 1,000-message history in headless
/// Chromium and prints one JSON object, which `echo-bench suite` reads with ``parse(output:)``.
public struct BenchBrowserCrypto: Sendable, Equatable, Codable {
    public var imageEncryptMilliseconds: Double
    public var imageDecryptMilliseconds: Double
    public var historyEncryptMilliseconds: Double
    public var historyDecryptMilliseconds: Double
    /// Runs each figure is the median of.
    public var runs: Int
    /// The browser's version, as the script read it.
    public var chromium: String

    /// Messages in the measured history (the script's fixed size).
    public static let historyMessages = 1000

    public init(
        imageEncryptMilliseconds: Double, imageDecryptMilliseconds: Double, historyEncryptMilliseconds: Double,
        historyDecryptMilliseconds: Double, runs: Int, chromium: String
    ) {
        self.imageEncryptMilliseconds = imageEncryptMilliseconds
        self.imageDecryptMilliseconds = imageDecryptMilliseconds
        self.historyEncryptMilliseconds = historyEncryptMilliseconds
        self.historyDecryptMilliseconds = historyDecryptMilliseconds
        self.runs = runs
        self.chromium = chromium
    }

    enum CodingKeys: String, CodingKey {
        case imageEncryptMilliseconds = "image_encrypt_ms"
        case imageDecryptMilliseconds = "image_decrypt_ms"
        case historyEncryptMilliseconds = "history_encrypt_ms"
        case historyDecryptMilliseconds = "history_decrypt_ms"
        case runs, chromium
    }

    /// The script's stdout: its last line that is a JSON object (anything it printed before, such
    /// as a progress line, is skipped). Throws with what was wrong, for the report's "not measured".
    public static func parse(output: String) throws(BenchBrowserCryptoError) -> BenchBrowserCrypto {
        guard let line = output.split(whereSeparator: \.isNewline).last(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("{") })
        else { throw BenchBrowserCryptoError(description: "it printed no JSON object") }
        let result: BenchBrowserCrypto
        do {
            result = try JSONDecoder().decode(BenchBrowserCrypto.self, from: Data(line.utf8))
        } catch {
            throw BenchBrowserCryptoError(description: "its JSON is not {image_encrypt_ms, image_decrypt_ms, history_encrypt_ms, history_decrypt_ms, runs, chromium}: \(error)")
        }
        let times = [result.imageEncryptMilliseconds, result.imageDecryptMilliseconds, result.historyEncryptMilliseconds, result.historyDecryptMilliseconds]
        guard times.allSatisfy({ $0.isFinite && $0 >= 0 }), result.runs >= 1 else {
            throw BenchBrowserCryptoError(description: "it reported a negative or non-finite time, or fewer than one run")
        }
        return result
    }

    /// The table BENCHMARKS.md shows, with the line that says what it means.
    public var markdown: String {
        let ms = { (value: Double) in BenchFigure.fixed(value, 1) + " ms" }
        let perMessage = { (value: Double) in BenchFigure.fixed(value * 1000 / Double(Self.historyMessages), 0) + " µs" }
        return [
            "| in Chromium (median of \(runs) runs) | time | per message |",
            "| --- | ---: | ---: |",
            "| encrypt a 3 MiB image | \(ms(imageEncryptMilliseconds)) | |",
            "| decrypt a 3 MiB image | \(ms(imageDecryptMilliseconds)) | |",
            "| encrypt \(BenchFigure.fixed(Double(Self.historyMessages), 0)) history messages (~100-byte texts) | \(ms(historyEncryptMilliseconds)) | \(perMessage(historyEncryptMilliseconds)) |",
            "| decrypt \(BenchFigure.fixed(Double(Self.historyMessages), 0)) history messages (~100-byte texts) | \(ms(historyDecryptMilliseconds)) | \(perMessage(historyDecryptMilliseconds)) |",
            "",
            "What the page itself spends on end-to-end encryption (web/crypto.js: AES-256-GCM through WebCrypto) in",
            "headless Chromium \(chromium): a sender waits for the encryption before a 3 MiB image leaves, a receiver for",
            "the decryption before it shows, and a join decrypts its whole history. The server does none of this.",
        ].joined(separator: "\n")
    }
}

public struct BenchBrowserCryptoError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

/// The browser row of a suite: its figures, or why it has none (no Chromium, no script, a failed run).
public enum BenchBrowserCryptoOutcome: Sendable, Equatable {
    case measured(BenchBrowserCrypto)
    case notMeasured(reason: String)

    public var markdown: String {
        switch self {
        case .measured(let crypto): crypto.markdown
        case .notMeasured(let reason): "Not measured: \(reason)."
        }
    }
}
