@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct InboundByteBudgetTests {
    let second: UInt64 = 1_000_000_000

    @Test func burstThenRateThenPause() {
        var budget = InboundByteBudget(burst: 1000, nowNanoseconds: 0)
        let first = budget.charge(600, bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(first)
        // A frame larger than what is left is still taken (it was read already): the debt pauses reading.
        let second = budget.charge(900, bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(!second)
        #expect(budget.balance == -500)
        // 501 bytes at 100 B/s: 5.01 s.
        let now = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(now == 5_010_000_000)
        let later = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 2 * self.second)
        #expect(later == 3_010_000_000)
        let done = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 6 * self.second)
        #expect(done == 0)
        #expect(budget.balance == 100)
    }

    @Test func refillStopsAtTheBurstAndKeepsFractions() {
        var budget = InboundByteBudget(burst: 1000, nowNanoseconds: 0)
        let allowed = budget.charge(1000, bytesPerSecond: 3, burst: 1000, nowNanoseconds: 0)
        #expect(!allowed)
        // 3 B/s: a third of a second earns one byte; the remainder is not lost across calls.
        for step in 1...6 { _ = budget.pauseNanoseconds(bytesPerSecond: 3, burst: 1000, nowNanoseconds: UInt64(step) * second / 6) }
        #expect(budget.balance == 3)
        _ = budget.pauseNanoseconds(bytesPerSecond: 3, burst: 1000, nowNanoseconds: 10_000 * second)
        #expect(budget.balance == 1000)
        // A huge gap does not overflow.
        _ = budget.pauseNanoseconds(bytesPerSecond: 1 << 40, burst: 1000, nowNanoseconds: UInt64.max / 2)
        #expect(budget.balance == 1000)
    }
}

@Suite struct HistoryBudgetTests {
    @Test func keepsTheNewestThatFit() {
        #expect(HistoryBudget.keptCount(sizes: [], budget: 100) == 0)
        #expect(HistoryBudget.keptCount(sizes: [10, 10, 10], budget: 100) == 3)
        // Newest last; each message costs its size plus a comma.
        #expect(HistoryBudget.keptCount(sizes: [50, 40, 30], budget: 72) == 2)
        #expect(HistoryBudget.keptCount(sizes: [50, 40, 30], budget: 71) == 1)
        // The newest message is always kept, even over the budget (it is bounded by the frame limit).
        #expect(HistoryBudget.keptCount(sizes: [10, 500], budget: 100) == 1)
    }
}
