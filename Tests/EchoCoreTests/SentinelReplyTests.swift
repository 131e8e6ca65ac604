@testable import EchoCore
import NIOCore
import Testing

@Suite struct SentinelReplyTests {
    private func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// `SENTINEL get-master-addr-by-name m` on redis-sentinel 7.0: two bulk strings.
    @Test func readsThePrimaryAddress() throws {
        let address = try SentinelReply.primaryAddress(.array([bulk("127.0.0.1"), bulk("6380")]))
        #expect(address == SentinelReply.Address(host: "127.0.0.1", port: 6380))
        #expect(address?.description == "127.0.0.1:6380")
        let v6 = try SentinelReply.primaryAddress(.array([bulk("::1"), bulk("6379")]))
        #expect(v6?.description == "[::1]:6379")
    }

    /// A Sentinel that watches no primary of that name answers with a null array.
    @Test func anUnknownNameIsNil() throws {
        #expect(try SentinelReply.primaryAddress(.null) == nil)
    }

    @Test func anythingElseIsNotASentinelAnswer() {
        for reply: RESPValue in [
            .array([bulk("127.0.0.1")]), .array([bulk("127.0.0.1"), bulk("port")]), .array([bulk("127.0.0.1"), bulk("70000")]),
            .array([bulk(""), bulk("6379")]), .simpleString("OK"), .integer(1),
        ] {
            #expect(throws: RedisError.self) { try SentinelReply.primaryAddress(reply) }
        }
    }

    /// The payload Sentinel publishes on `+switch-master`.
    @Test func readsASwitch() {
        let event = SentinelReply.switchMaster("m 127.0.0.1 6379 127.0.0.1 6380")
        #expect(event == SentinelReply.Switch(
            name: "m", old: .init(host: "127.0.0.1", port: 6379), new: .init(host: "127.0.0.1", port: 6380)))
        #expect(SentinelReply.switchMaster("orders-primary 10.0.0.1 6379 10.0.0.2 6379")?.new.host == "10.0.0.2")
    }

    @Test func aMalformedSwitchIsIgnored() {
        for payload in ["", "m 127.0.0.1 6379 127.0.0.1", "m 127.0.0.1 6379 127.0.0.1 x", "m a 1 b 2 extra", "m a 0 b 2"] {
            #expect(SentinelReply.switchMaster(payload) == nil)
        }
    }

    @Test func saysWhyNoPrimaryWasFound() {
        #expect(SentinelReply.noPrimary(named: "orders", unknownTo: ["a:1", "b:2"], failures: [])
            == #"no Sentinel knows a primary named "orders" (asked a:1, b:2)"#)
        #expect(SentinelReply.noPrimary(named: "orders", unknownTo: ["a:1"], failures: ["b:2: cannot connect to b:2: Connection refused"])
            == #"no Sentinel named the primary "orders": a:1: no primary of that name; b:2: cannot connect to b:2: Connection refused"#)
    }
}
