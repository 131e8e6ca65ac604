import NIOConcurrencyHelpers

/// How many members each room has right now, shared by all event loops: a sender reads it for
/// every measured message ("expected deliveries = members at send time"). A lock taken once per
/// send (not per delivery) is cheaper than any alternative that keeps the figure exact.
final class BenchRoomRegistry: Sendable {
    private let members: NIOLockedValueBox<[Int]>

    init(rooms: Int) {
        members = NIOLockedValueBox(Array(repeating: 0, count: rooms))
    }

    func join(_ room: Int) { members.withLockedValue { $0[room] += 1 } }
    func leave(_ room: Int) { members.withLockedValue { $0[room] -= 1 } }
    func members(_ room: Int) -> Int { members.withLockedValue { $0[room] } }
}
