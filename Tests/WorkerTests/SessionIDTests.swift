import Testing

@testable import Worker

@Suite struct SessionIDTests {
    @Test func idsAreFifteenURLSafeCharactersAndDistinct() {
        let ids = (0..<10_000).map { _ in SessionID.make() }
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(ids.allSatisfy { $0.utf8.count == 15 && $0.allSatisfy(alphabet.contains) })
        #expect(Set(ids).count == ids.count)
        // Every position takes every value: no digit is stuck (a shift or mask mistake).
        for position in 0..<15 {
            let values = Set(ids.map { Array($0.utf8)[position] })
            #expect(values.count == 64, "position \(position)")
        }
    }
}
