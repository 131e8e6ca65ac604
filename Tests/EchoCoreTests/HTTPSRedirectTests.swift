@testable import EchoCore
import Testing

@Suite struct HTTPSRedirectTests {
    private func answer(_ target: String, host: String?, port: Int = 8443, acme: Bool = true) -> HTTPSRedirect.Answer {
        HTTPSRedirect.answer(target: target, host: host, httpsPort: port, servesChallenges: acme)
    }

    @Test func redirectsToTheSamePathOnTheHTTPSPort() {
        #expect(answer("/room/a?x=1", host: "chat.example.org") == .redirect(location: "https://chat.example.org:8443/room/a?x=1"))
        // The plain port of the Host header is replaced by the https one.
        #expect(answer("/", host: "Chat.Example.org:8080") == .redirect(location: "https://chat.example.org:8443/"))
        #expect(answer("/", host: "127.0.0.1:80") == .redirect(location: "https://127.0.0.1:8443/"))
        #expect(answer("/", host: "chat.example.org.") == .redirect(location: "https://chat.example.org.:8443/"))
    }

    @Test func omitsPort443() {
        #expect(answer("/a", host: "chat.example.org:80", port: 443) == .redirect(location: "https://chat.example.org/a"))
    }

    @Test func keepsIPv6InBrackets() {
        #expect(answer("/", host: "[::1]:8080") == .redirect(location: "https://[::1]:8443/"))
        #expect(answer("/", host: "[2001:DB8::1]", port: 443) == .redirect(location: "https://[2001:db8::1]/"))
        #expect(answer("/", host: "[::ffff:10.0.0.1]") == .redirect(location: "https://[::ffff:10.0.0.1]:8443/"))
    }

    @Test(arguments: [
        nil, "", ":8080", "evil.example/path", "a@b", "a b", "host:0", "host:65536", "host:80:80", "host:", "[::1",
        "[::1]x", "[fe80::1%eth0]", "[]", "[1.2.3.4]", "-bad.example", "a..b", "under_score.example", "host:+80",
        String(repeating: "a", count: 64) + ".example",
    ])
    func refusesHostsThatAreNotAHost(_ host: String?) {
        #expect(answer("/", host: host) == .badRequest)
    }

    @Test(arguments: ["*", "http://other.example/", "", "/a b", "/a\r\nSet-Cookie: x=1", "/\u{7F}", "/é"])
    func refusesTargetsThatCannotGoIntoALocation(_ target: String) {
        #expect(answer(target, host: "chat.example.org") == .badRequest)
    }

    @Test func servesChallengeTokens() {
        #expect(answer("/.well-known/acme-challenge/Ab-9_z", host: nil) == .acmeChallenge(token: "Ab-9_z"))
    }

    @Test(arguments: [
        "/.well-known/acme-challenge/", "/.well-known/acme-challenge/../../etc/passwd", "/.well-known/acme-challenge/..",
        "/.well-known/acme-challenge/%2e%2e%2fsecret", "/.well-known/acme-challenge/a/b", "/.well-known/acme-challenge/a.txt",
        "/.well-known/acme-challenge/a?x=1",
    ])
    func refusesChallengePathsThatAreNotATokenInTheFolder(_ target: String) {
        #expect(answer(target, host: "chat.example.org") == .notFound)
    }

    @Test func redirectsChallengesWhenNoWebrootIsSet() {
        #expect(answer("/.well-known/acme-challenge/abc", host: "h.example", acme: false)
            == .redirect(location: "https://h.example:8443/.well-known/acme-challenge/abc"))
    }
}
