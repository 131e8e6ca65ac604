@testable import EchoShared
import Foundation
import Testing

@Suite struct ControlMessageTests {
    @Test(arguments: [
        ControlMessage.ready(pid: 7), .heartbeat(WorkerStats(slot: 1, connections: 3)), .stoppedAccepting, .drained,
        .stopAccepting, .drain(closeCode: .serviceRestart, windowMilliseconds: 500),
        .host(HostStats(supervisorPID: 1, workerRestarts: 2, workers: [WorkerStats(slot: 0)])),
        .ticketKeys([[UInt8](repeating: 0xA5, count: 80), Array(0..<80)]),
    ])
    func roundTripsAsOneLine(_ message: ControlMessage) throws {
        let line = message.encodedLine()
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
        #expect(try ControlMessage(line: line.dropLast()) == message)
    }
}

@Suite struct HostStatsCodingTests {
    @Test func slotsRoundTripAndMayBeAbsent() throws {
        let host = HostStats(supervisorPID: 7, workerRestarts: 5, workers: [],
                             slots: [SlotState(slot: 0, state: .backoff, restarts: 5, retryInMs: 1600)])
        let line = ControlMessage.host(host).encodedLine()
        #expect(try ControlMessage(line: line.dropLast()) == .host(host))
        let old = #"{"type":"host","stats":{"supervisorPID":7,"workerRestarts":0,"workers":[]}}"#
        #expect(try ControlMessage(line: Array(old.utf8)) == .host(HostStats(supervisorPID: 7, workerRestarts: 0, workers: [])))
    }
}

@Suite struct ControlMessageWireTests {
    /// The close code travels as a plain number: a worker and a supervisor of different builds
    /// (a binary upgraded on disk, then reloaded) still understand each other.
    @Test func drainCarriesTheCloseCodeAsANumber() throws {
        let line = ControlMessage.drain(closeCode: .serviceRestart, windowMilliseconds: 500).encodedLine()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any])
        #expect(object["closeCode"] as? Int == 1012)
        let old = #"{"type":"drain","closeCode":1001,"windowMilliseconds":2000}"#
        #expect(try ControlMessage(line: Array(old.utf8)) == .drain(closeCode: .goingAway, windowMilliseconds: 2000))
    }
}

@Suite struct TicketKeysWireTests {
    /// Keys travel base64-encoded, newest first, and come back byte for byte.
    @Test func keysTravelAsBase64InOrder() throws {
        let current = (0..<80).map { UInt8($0) }
        let previous = [UInt8](repeating: 0xFF, count: 80)
        let line = ControlMessage.ticketKeys([current, previous]).encodedLine()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any])
        #expect(object["type"] as? String == "ticketKeys")
        #expect(object["keys"] as? [String] == [Data(current).base64EncodedString(), Data(previous).base64EncodedString()])
    }

    /// A key of the wrong length would make OpenSSL read past it or use half a key: refused whole.
    @Test(arguments: [
        #"{"type":"ticketKeys","keys":["AAAA"]}"#,
        #"{"type":"ticketKeys","keys":["not base64!"]}"#,
        #"{"type":"ticketKeys","keys":[]}"#,
        #"{"type":"ticketKeys"}"#,
    ])
    func malformedKeysAreRefused(_ line: String) {
        #expect(throws: DecodingError.self) { try ControlMessage(line: Array(line.utf8)) }
    }
}
