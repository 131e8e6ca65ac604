/// What the plain-HTTP redirect port (`ECHO_HTTP_REDIRECT_PORT`) answers: a 308 to the same path
/// on https, except ACME HTTP-01 challenges, which certbot's webroot mode needs served over plain
/// HTTP from `ECHO_ACME_WEBROOT`.
///
/// The `Location` is built from the request's `Host`, so the host is checked strictly first: a
/// name or an address (IPv6 in brackets), an optional port, nothing else. Anything that could
/// smuggle a different authority, a path or a header line into `Location` gets a 400.
public enum HTTPSRedirect {
    public enum Answer: Sendable, Equatable {
        /// 308 Permanent Redirect (keeps the method and body, unlike 301).
        case redirect(location: String)
        /// The file `webroot/.well-known/acme-challenge/<token>` (the token is a safe file name).
        case acmeChallenge(token: String)
        case notFound
        case badRequest
    }

    /// Where certbot puts its tokens, relative to the webroot.
    public static let challengePrefix = "/.well-known/acme-challenge/"

    /// The answer to a request for `target` (the request line's URI) with `host` (the `Host`
    /// header), when https is served on `httpsPort`; ACME challenges only when `servesChallenges`.
    public static func answer(target: String, host: String?, httpsPort: Int, servesChallenges: Bool) -> Answer {
        // Origin form only ("/path?query"); no byte that could end a header line or a URI.
        guard target.hasPrefix("/"), target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .badRequest }
        if servesChallenges, target.hasPrefix(challengePrefix) {
            let token = target.dropFirst(challengePrefix.count)
            return isToken(token) ? .acmeChallenge(token: String(token)) : .notFound
        }
        guard let host, let name = hostName(host) else { return .badRequest }
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        return .redirect(location: "https://\(name)\(port)\(target)")
    }

    /// ACME tokens are base64url (RFC 8555 §8.3): letters, digits, `-` and `_`. That alphabet has
    /// no `/`, `.` or `%`, so a token can never leave the challenge folder.
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
    }

    /// The host part of a `Host` header, without its port (the https port replaces it), lower
    /// case; `nil` unless it is a DNS name, an IPv4 address or a bracketed IPv6 address.
    static func hostName(_ header: String) -> String? {
        let text = header.lowercased()
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let address = text[text.index(after: text.startIndex)..<close]
            guard isPort(text[text.index(after: close)...], optional: true), address.contains(":"),
                  address.utf8.count <= 45,
                  address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })
            else { return nil }
            return "[\(address)]"
        }
        let name: Substring
        if let colon = text.firstIndex(of: ":") {
            guard isPort(text[colon...], optional: false) else { return nil }
            name = text[..<colon]
        } else {
            name = text[...]
        }
        guard !name.isEmpty, name.utf8.count <= 253 else { return nil }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        // A trailing dot is a valid fully qualified name; other empty labels are not.
        let significant = labels.last?.isEmpty == true && labels.count > 1 ? labels.dropLast() : labels[...]
        for label in significant {
            guard !label.isEmpty, label.utf8.count <= 63, !label.hasPrefix("-"), !label.hasSuffix("-"),
                  label.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) })
            else { return nil }
        }
        return String(name)
    }

    /// `:digits` with a value in 1...65535 (or nothing, when `optional`).
    private static func isPort(_ text: Substring, optional: Bool) -> Bool {
        if text.isEmpty { return optional }
        guard text.first == ":", text.count > 1, text.count <= 6 else { return false }
        let digits = text.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(digits) else { return false }
        return (1...65535).contains(port)
    }
}
