import Foundation

/// Wall-clock time for timestamps clients see (messages, pongs) and the request bucket. Named so
/// it does not shadow the standard library's `Clock` protocol.
enum WallClock {
    static func milliseconds() -> Int {
        Int(Date().timeIntervalSince1970 * 1000)
    }
}
