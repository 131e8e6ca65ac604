@testable import EchoShared
import Testing

@Suite("Admin address")
struct AdminAddressTests {
    @Test func parsesHostAndPort() {
        for (text, host, port) in [("127.0.0.1:9090", "127.0.0.1", 9090), ("[::1]:9090", "::1", 9090), ("0.0.0.0:0", "0.0.0.0", 0)] {
            let address = AdminAddress(text)
            #expect(address?.host == host && address?.port == port, "\(text)")
        }
    }

    @Test(arguments: ["", "9090", ":9090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x", "[]:9090"])
    func refusesWhatIsNotHostPort(text: String) {
        #expect(AdminAddress(text) == nil)
    }

    @Test func defaultAndOff() throws {
        #expect(EchoConfiguration().adminListen == "127.0.0.1:9090")
        #expect(try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "0"]).adminListen == "")
        #expect(try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "0"]).environment["ECHO_ADMIN_LISTEN"] == "0")
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "localhost"]) }
    }
}
