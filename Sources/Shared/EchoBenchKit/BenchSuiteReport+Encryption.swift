extension BenchSuiteReport {
    /// Issue 14: S1 plain and S1 in end-to-end encrypted rooms side by side (medians), and what the
    /// page's crypto costs in Chromium.
    func encryptionLines() -> [String] {
        var lines = [
            "",
            "## End-to-end encryption (issue 14)",
            "",
            "| figure (median) | S1 plain | S1 encrypted | encrypted / plain |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name in ["deliveriesPerSecond", "latencyP50", "latencyP99", "lost", "serverCores"] {
            guard let figure = BenchFigure.named(name) else { continue }
            let plain = median("S1", name)
            let encrypted = median("S1-e2e", name)
            let shown = { (value: Double?) in value.map(figure.format) ?? "n/a" }
            let ratio = name == "lost" ? "" : Self.ratio(encrypted, plain).map { Self.fixed($0, 2) + " ×" } ?? "n/a"
            lines.append("| \(figure.label) | \(shown(plain)) | \(shown(encrypted)) | \(ratio) |")
        }
        lines += [
            "",
            "S1 encrypted is S1 in an end-to-end encrypted room: each member proves the room's key at join (challenge,",
            "Ed25519 signature) and every chat carries a ciphertext as long as S1's text plus a 12-byte IV, which the",
            "server stores and fans out without reading. The two run alternately on one server (S1, S1 encrypted, S1, ...),",
            "so a drift of the machine during the runs weighs on both alike.",
        ]
        switch browserCrypto {
        case .measured(let crypto):
            lines += [
                "",
                "In Chromium \(crypto.chromium) (median of \(crypto.runs) runs, see E2E-browser below): a 3 MiB image encrypts in "
                    + "\(BenchFigure.fixed(crypto.imageEncryptMilliseconds, 1)) ms and decrypts in \(BenchFigure.fixed(crypto.imageDecryptMilliseconds, 1)) ms; "
                    + "a \(BenchFigure.fixed(Double(BenchBrowserCrypto.historyMessages), 0))-message history decrypts in "
                    + "\(BenchFigure.fixed(crypto.historyDecryptMilliseconds, 1)) ms.",
            ]
        case .notMeasured(let reason):
            lines += ["", "The page's crypto cost in Chromium (E2E-browser) was not measured: \(reason)."]
        case nil:
            break
        }
        return lines
    }
}
