@testable import EchoShared
import Testing

@Suite struct ClientAddressTests {
    let proxies = ["10.0.0.0/8", "::1"].compactMap(IPAddressRange.init)

    @Test func untrustedPeersCannotSpoof() {
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trusted: proxies) == "203.0.113.9")
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trusted: []) == "203.0.113.9")
    }

    @Test func trustedProxyHopsAreSkippedFromTheRight() {
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: ["6.6.6.6, 198.51.100.7, 10.2.2.2"], trusted: proxies) == "198.51.100.7")
        #expect(ClientAddress.resolve(peer: "::1", forwardedFor: ["198.51.100.7"], trusted: proxies) == "198.51.100.7")
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: [], trusted: proxies) == "10.1.1.1")
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: ["garbage"], trusted: proxies) == "10.1.1.1")
    }

    @Test func rangesMatchByPrefix() {
        let range = IPAddressRange("192.168.0.0/16")!
        #expect(range.contains("192.168.4.5"))
        #expect(!range.contains("192.169.0.1"))
        #expect(range.contains("::ffff:192.168.1.1"))
        #expect(IPAddressRange("10.0.0.0/33") == nil)
        #expect(IPAddressRange("nonsense") == nil)
    }
}
