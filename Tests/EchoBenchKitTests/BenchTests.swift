@testable import EchoBenchKit
import EchoCore
import Foundation
import NIOCore
import Testing

@Suite("echo-bench logic")
struct BenchTests {
    // MARK: stamps and frames

    @Test func stampRoundTripsThroughAServerFrame() {
        let stamp = BenchStamp(sender: 42, sequence: 1_234_567, measured: true, sentAtNanoseconds: 987_654_321_012)
        let text = stamp.text(size: 100)
        #expect(text.utf8.count == 100)
        #expect(text.hasPrefix("~b~42~1234567~m~987654321012~"))
        let frame = #"{"type":"chat","id":"1700000000000-0","messageId":"m1","sender":"u1","sessionId":"ab12","text":"\#(text)","image":null,"replyTo":null,"timestamp":1}"#
        let found = Array(frame.utf8).withUnsafeBytes { BenchStamp.find(in: $0) }
        #expect(found == stamp)
    }

    @Test func shortSizeStillWritesTheWholeStamp() {
        let stamp = BenchStamp(sender: 0, sequence: 0, measured: false, sentAtNanoseconds: 0)
        #expect(stamp.text(size: 1) == "~b~0~0~w~0~")
    }

    @Test(arguments: ["no stamp here", "~b~1~2~m~", "~b~x~2~m~3~", "~b~1~2~q~3~", "~b~~2~m~3~", "~b~1~2~m~3"])
    func malformedStampsAreIgnored(_ text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { BenchStamp.find(in: $0) } == nil)
    }

    @Test func framesAreClassified() {
        func classify(_ text: String, expectingHistory: Bool = false) -> BenchFrame {
            Array(text.utf8).withUnsafeBytes { BenchFrame.classify($0, expectingHistory: expectingHistory) }
        }
        #expect(classify(#"{"type":"session","sessionId":"abc"}"#) == .session)
        #expect(classify(#"{"type": "session", "sessionId": "abc"}"#) == .session)
        #expect(classify(#"{"type":"history","messages":[]}"#) == .history)
        let old = BenchStamp(sender: 1, sequence: 2, measured: true, sentAtNanoseconds: 3).text(size: 10)
        #expect(classify(#"{"type":"history","messages":[{"type":"chat","text":"\#(old)"}]}"#, expectingHistory: true) == .history)
        // Once joined, a history frame is a resync (recovered:false): never one of its old stamps.
        #expect(classify(#"{"type":"history","messages":[{"type":"chat","text":"\#(old)"}],"recovered":false}"#) == .history)
        #expect(classify(#"{"type":"error","code":"RATE_LIMITED","message":"slow down"}"#) == .error(code: "RATE_LIMITED"))
        #expect(classify(#"{"sender":"System","message":"join","username":"u1","sessionId":"s","usersCount":3}"#) == .system)
        #expect(classify(#"{"type":"pong","ts":1}"#) == .other)
        #expect(classify(#"{"type":"chat","sessionId":"s","text":"\#(old)"}"#) == .chat(BenchStamp(sender: 1, sequence: 2, measured: true, sentAtNanoseconds: 3)))
    }

    @Test func byteSearchFindsOnlyWholeNeedles() {
        let hay = Array("ab~b~~b~c".utf8)
        #expect(hay.withUnsafeBytes { BenchBytes.firstIndex(of: Array("~b~".utf8), in: $0) } == 2)
        #expect(hay.withUnsafeBytes { BenchBytes.firstIndex(of: Array("~b~c".utf8), in: $0) } == 5)
        #expect(hay.withUnsafeBytes { BenchBytes.firstIndex(of: Array("c~".utf8), in: $0) } == nil)
        #expect([UInt8]().withUnsafeBytes { BenchBytes.firstIndex(of: Array("x".utf8), in: $0) } == nil)
        #expect(hay.withUnsafeBytes { BenchBytes.matches(Array("~b~c".utf8), at: 5, in: $0) })
        #expect(!hay.withUnsafeBytes { BenchBytes.matches(Array("~b~c".utf8), at: 2, in: $0) })
        #expect(!hay.withUnsafeBytes { BenchBytes.matches(Array("~c".utf8), at: 8, in: $0) })
        #expect(!hay.withUnsafeBytes { BenchBytes.matches(Array("ab".utf8), at: -1, in: $0) })
    }

    // MARK: loss accounting

    @Test func trackerTellsDuplicatesFromLateArrivals() {
        var tracker = BenchSequenceTracker()
        #expect(tracker.record(0) == .inOrder)
        #expect(tracker.record(1) == .inOrder)
        #expect(tracker.record(4) == .ahead(skipped: 2, told: false))
        #expect(tracker.missing == [2, 3])
        #expect(tracker.record(3) == .outOfOrder)
        #expect(tracker.record(3) == .duplicate)
        #expect(tracker.record(1) == .duplicate)
        #expect(tracker.record(5) == .inOrder)
        #expect(tracker.missing == [2])
    }

    @Test func aGapTheServerAnnouncedIsToldAndOnlyTheNextOne() {
        var tracker = BenchSequenceTracker()
        var counts = BenchDeliveryCounts()
        for sequence in [0, 1, 3] { counts.recordGap(tracker.record(sequence)) }
        #expect(counts.silentGaps == 1)
        #expect(tracker.missing == [2])
        // recovered:false: what is missing now is accounted for, and so is the next skip.
        tracker.tell()
        #expect(tracker.missing.isEmpty)
        let afterNotice = tracker.record(10)
        #expect(afterNotice == .ahead(skipped: 6, told: true))
        counts.recordGap(afterNotice)
        #expect(counts.silentGaps == 1)
        #expect(tracker.missing.isEmpty)
        // The notice covers one gap, not the rest of the run.
        let later = tracker.record(12)
        #expect(later == .ahead(skipped: 1, told: false))
        counts.recordGap(later)
        #expect(counts.silentGaps == 2)
        #expect(!counts.isClean)
        // A notice followed by an in-order arrival leaves nothing told for later.
        tracker.tell()
        #expect(tracker.record(13) == .inOrder)
        #expect(tracker.record(15) == .ahead(skipped: 1, told: false))
    }

    @Test func countsBookOutcomesAndDeriveLoss() {
        var counts = BenchDeliveryCounts(sent: 3, expected: 30, delivered: 0)
        var tracker = BenchSequenceTracker()
        for sequence in [0, 2, 1, 1] { counts.record(tracker.record(sequence)) }
        #expect(counts.delivered == 3)
        #expect(counts.outOfOrder == 1)
        #expect(counts.duplicated == 1)
        #expect(counts.lost == 27)
        #expect(!counts.isClean)

        var clean = BenchDeliveryCounts(sent: 2, expected: 20, delivered: 20)
        #expect(clean.isClean)
        clean.add(BenchDeliveryCounts(sent: 1, expected: 10, delivered: 9, errors: 1))
        #expect(clean == BenchDeliveryCounts(sent: 3, expected: 30, delivered: 29, errors: 1))
        #expect(clean.lost == 1)
        #expect(BenchDeliveryCounts(sent: 1, expected: 1, delivered: 2).unexpected == 1)
    }

    // MARK: plan and pacing

    @Test func planSpreadsMembersAndSenders() {
        let plan = BenchPlan(connections: 25, rooms: 10, senders: 12)
        #expect((0..<10).map(plan.members(ofRoom:)).reduce(0, +) == 25)
        #expect(plan.members(ofRoom: 0) == 3)
        #expect(plan.members(ofRoom: 9) == 2)
        #expect(plan.room(of: 13) == 3)
        #expect(plan.memberIndex(of: 13) == 1)
        #expect(plan.isSender(11) && !plan.isSender(12))
        #expect(BenchPlan(connections: 3, rooms: 10, senders: 5).rooms == 3)
    }

    @Test func rateScheduleDerivesDueFromElapsedTime() {
        let schedule = BenchRateSchedule(ratePerSecond: 1000, maximumBurst: 50)
        #expect(schedule.due(elapsedNanoseconds: 10_000_000, alreadySent: 0) == 10)
        #expect(schedule.due(elapsedNanoseconds: 10_000_000, alreadySent: 10) == 0)
        #expect(schedule.due(elapsedNanoseconds: 1_000_000_000, alreadySent: 0) == 50)
        #expect(schedule.due(elapsedNanoseconds: 1_000_000_000, alreadySent: 990) == 10)
    }

    // MARK: targets

    @Test(arguments: [
        ("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws"),
        ("ws://localhost:9000", "ws://127.0.0.1:9000/ws"),
        ("WS://127.1.2.3:1/", "ws://127.1.2.3:1/"),
        ("ws://[::1]:8080/ws", "ws://[::1]:8080/ws"),
        ("wss://localhost:8443/ws", "wss://127.0.0.1:8443/ws"),
        ("WSS://127.0.0.1", "wss://127.0.0.1:443/ws"),
    ])
    func loopbackTargetsParse(_ url: String, _ expected: String) throws {
        #expect(try BenchTarget(parsing: url).description == expected)
    }

    @Test(arguments: ["ws://10.0.0.1:8080/ws", "ws://example.com/ws", "http://127.0.0.1/ws", "https://127.0.0.1/ws", "wss://10.0.0.1/ws",
                      "ws://128.0.0.1/ws", "ws://127.0.0.1:0/ws", "ws://127.0.0.256/ws", "ws://127.0.0.1.nip.io/ws", "ws://[::2]/ws"])
    func otherTargetsAreRefused(_ url: String) {
        #expect(throws: BenchTargetError.self) { try BenchTarget(parsing: url) }
    }

    @Test func sourceAddressesCycle() {
        #expect(BenchTarget.sourceAddress(index: 0, count: 4) == "127.0.0.1")
        #expect(BenchTarget.sourceAddress(index: 5, count: 4) == "127.0.0.2")
        #expect(BenchTarget.sourceAddress(index: 7, count: 1) == "127.0.0.1")
    }

    // MARK: summaries

    @Test func medianAndSpread() throws {
        let odd = try #require(BenchSampleSummary([3, 1, 2]))
        #expect(odd.median == 2 && odd.minimum == 1 && odd.maximum == 3)
        #expect(odd.relativeSpread == 1)
        let even = try #require(BenchSampleSummary([4, 1, 3, 2]))
        #expect(even.median == 2.5)
        #expect(BenchSampleSummary([]) == nil)
        #expect(BenchSampleSummary([0, 0])?.relativeSpread == 0)
    }

    @Test func summaryTableShowsMediansOfEachFigure() {
        func report(_ rate: Double, lost: Int) -> BenchReport {
            var report = BenchReport(mode: "fanout", targets: [], parameters: [:])
            report.deliveriesPerSecond = rate
            report.counts = BenchDeliveryCounts(sent: 10, expected: 100, delivered: 100 - lost)
            report.cpu = BenchCPUUsage(windowSeconds: 10, serverSeconds: 12, serverProcesses: 3, redisSeconds: 2, generatorSeconds: 5)
            return report
        }
        let table = BenchSummaryTable.markdown([report(410_000, lost: 0), report(400_000, lost: 0), report(430_000, lost: 2)])
        #expect(table.contains("| deliveries/s | 410,000 | 400,000 | 430,000 | 7.3 % |"))
        #expect(table.contains("| lost | 0 | 0 | 2 | – |"))
        #expect(table.contains("| server CPU (cores) | 1.20 |"))
        #expect(!table.contains("joins/s"))
        #expect(BenchFigure.named("deliveriesPerSecond")?.summary(of: [report(1, lost: 0), report(3, lost: 0)])?.median == 2)
    }

    @Test func reportJSONCarriesDerivedLoss() throws {
        let counts = BenchDeliveryCounts(sent: 1, expected: 10, delivered: 7)
        let data = try JSONEncoder().encode(counts)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"lost\":3"))
        #expect(try JSONDecoder().decode(BenchDeliveryCounts.self, from: data) == counts)
    }

    // MARK: /proc

    @Test func procStatParsesAroundAwkwardCommandNames() throws {
        let line = "4242 (echo (w) 1) S 4000 4242 1 0 -1 4194304 100 0 0 0 250 17 0 0 20 0 3 0 72135 467156992 9491 18446744073709551615 1 2 3"
        let stat = try #require(BenchProcessStat(parsing: line))
        #expect(stat.pid == 4242)
        #expect(stat.command == "echo (w) 1")
        #expect(stat.parentPID == 4000)
        #expect(stat.userTicks == 250 && stat.systemTicks == 17 && stat.cpuTicks == 267)
        #expect(stat.residentPages == 9491)
        #expect(BenchProcessStat(parsing: "garbage") == nil)
    }

    @Test func machineBusyTicksSkipIdleAndIOWait() {
        #expect(BenchProcessStat.busyTicks(cpuLine: "cpu  100 5 50 9000 30 2 3 1 0 0") == 161)
        #expect(BenchProcessStat.busyTicks(cpuLine: "cpu 1 2") == nil)
        let cpu = BenchCPUUsage(windowSeconds: 10, serverSeconds: 8, serverProcesses: 3, redisSeconds: 1, generatorSeconds: 5, machineSeconds: 19)
        #expect(cpu.otherCores == 0.5)
    }

    @Test func descendantsFollowTheProcessTree() throws {
        func stat(_ pid: Int, _ parent: Int) throws -> BenchProcessStat {
            try #require(BenchProcessStat(parsing: "\(pid) (p) S \(parent) 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 0 0 5 0"))
        }
        let table = Dictionary(uniqueKeysWithValues: try [stat(1, 0), stat(10, 1), stat(11, 10), stat(12, 10), stat(13, 11), stat(20, 1)].map { ($0.pid, $0) })
        #expect(BenchProcessStat.descendants(of: 10, in: table).map(\.pid) == [10, 11, 12, 13])
        #expect(BenchProcessStat.descendants(of: 99, in: table).isEmpty)
    }
}

@Suite("echo-bench wire")
struct BenchWireTests {
    @Test func readsEveryLengthFormOfAServerFrame() throws {
        for length in [0, 125, 126, 65_535, 65_536] {
            var payload = ByteBuffer()
            payload.writeRepeatingByte(UInt8(ascii: "x"), count: length)
            let frame = WebSocketWire.frame(.text, payload: payload)
            let bytes = Array(frame.readableBytesView)
            let header = bytes.withUnsafeBytes { BenchWire.frameHeader($0, maxPayload: 1 << 20) }
            let headerLength = length < 126 ? 2 : (length <= 65_535 ? 4 : 10)
            #expect(header == .frame(opcode: BenchWire.opcodeText, headerLength: headerLength, payloadLength: length))
            // One byte short of the whole frame is not yet a frame.
            let short = bytes.dropLast().withUnsafeBytes { BenchWire.frameHeader($0, maxPayload: 1 << 20) }
            #expect(short == .incomplete)
        }
    }

    @Test func refusesWhatEchoNeverSends() {
        func header(_ bytes: [UInt8], max: Int = 100) -> BenchWire.FrameHeader {
            bytes.withUnsafeBytes { BenchWire.frameHeader($0, maxPayload: max) }
        }
        #expect(header([0x01, 0x00]) == .invalid("fragmented frame"))   // FIN clear
        #expect(header([0x80, 0x00]) == .invalid("fragmented frame"))   // continuation
        #expect(header([0xC1, 0x00]) == .invalid("reserved bits set"))
        #expect(header([0x81, 0x80, 0, 0, 0, 0]) == .invalid("masked server frame"))
        #expect(header([0x81, 126, 0x01, 0x00]) == .invalid("frame of 256 bytes"))
        #expect(header([0x81]) == .incomplete)
    }

    @Test func masksClientFramesSoTheServerCanUnmaskThem() {
        for length in [3, 125, 126, 70_000] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            var frame: [UInt8] = []
            payload.withUnsafeBytes { BenchWire.appendMaskedFrame(opcode: BenchWire.opcodeText, payload: $0, maskKey: 0xA1B2_C3D4, to: &frame) }
            #expect(frame[0] == 0x81)
            #expect(frame[1] & 0x80 != 0)
            let lengthBytes = length < 126 ? 0 : (length <= 65_535 ? 2 : 8)
            let keyStart = 2 + lengthBytes
            let key = Array(frame[keyStart..<keyStart + 4])
            #expect(key == [0xA1, 0xB2, 0xC3, 0xD4])
            let unmasked = frame[(keyStart + 4)...].enumerated().map { $1 ^ key[$0 % 4] }
            #expect(unmasked == payload)
        }
    }

    @Test func acceptsOnlyTheRightUpgradeAnswer() {
        let key = BenchWire.upgradeKey(0x0102_0304_0506_0708, 0x090A_0B0C_0D0E_0F10)
        #expect(Data(base64Encoded: key)?.count == 16)
        let accept = WebSocketHandshake.acceptValue(forKey: key)
        func answer(_ text: String) -> BenchWire.UpgradeResponse {
            Array(text.utf8).withUnsafeBytes { BenchWire.upgradeResponse($0, key: key) }
        }
        let good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
        #expect(answer(good + "\u{81}\u{0}") == .accepted(headerLength: good.utf8.count))
        #expect(answer(String(good.dropLast(2))) == .incomplete)
        #expect(answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") == .refused("HTTP/1.1 403 Forbidden"))
        #expect(answer(good.replacingOccurrences(of: accept, with: "x")) == .refused("wrong Sec-WebSocket-Accept"))
        #expect(answer("HTTP/1.1 101 Switching Protocols\r\n\r\n") == .refused("no Sec-WebSocket-Accept"))
        let request = String(decoding: BenchWire.upgradeRequest(host: "127.0.0.1:8080", path: "/ws", key: key), as: UTF8.self)
        #expect(request.hasPrefix("GET /ws HTTP/1.1\r\n"))
        #expect(request.contains("\r\nSec-WebSocket-Key: \(key)\r\n"))
        #expect(request.hasSuffix("\r\n\r\n"))
    }
}

extension BenchStamp {
    /// The stamp as chat text, for building server frames in tests.
    func text(size: Int) -> String {
        var bytes: [UInt8] = []
        write(into: &bytes, size: size)
        return String(decoding: bytes, as: UTF8.self)
    }
}
