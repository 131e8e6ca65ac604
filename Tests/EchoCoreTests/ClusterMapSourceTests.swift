@testable import EchoCore
import Testing

@Suite struct ClusterMapSourceTests {
    let seeds = ["10.0.0.1:7000", "seed.example:7000"]
    let primaries = ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]
    let replicas = ["10.0.0.4:7000", "10.0.0.5:7000", "10.0.0.6:7000"]

    @Test func aConnectedPrimaryIsAskedFirst() {
        let source = ClusterMapSource.choose(
            primaries: primaries, open: primaries + ["seed.example:7000"],
            connected: ["seed.example:7000", "10.0.0.2:7000", "10.0.0.3:7000"], seeds: seeds, replicas: replicas)
        #expect(source == .ask("10.0.0.2:7000"))
    }

    @Test func anotherConnectedNodeServesWhenNoPrimaryDoes() {
        let source = ClusterMapSource.choose(
            primaries: primaries, open: primaries + ["seed.example:7000"],
            connected: ["seed.example:7000"], seeds: seeds, replicas: replicas)
        #expect(source == .ask("seed.example:7000"))
    }

    @Test func beforeTheFirstMapAnyConnectedSeedIsAsked() {
        let source = ClusterMapSource.choose(primaries: [], open: seeds, connected: ["seed.example:7000"], seeds: seeds, replicas: [])
        #expect(source == .ask("seed.example:7000"))
    }

    @Test func whenEveryKnownPrimaryIsSilentTheSeedsAndReplicasAreDialled() {
        // Every primary moved: their connections are open but down, and the seeds were retired
        // when the first map was read.
        let source = ClusterMapSource.choose(primaries: primaries, open: primaries, connected: [], seeds: seeds, replicas: replicas)
        // 10.0.0.1:7000 is a seed but already dialled (it is a primary): not twice.
        #expect(source == .dial(["seed.example:7000"] + replicas))
    }

    @Test func nothingMoreToDialWhileEveryCandidateIsBeingDialled() {
        let open = primaries + replicas + seeds
        let source = ClusterMapSource.choose(primaries: primaries, open: open, connected: [], seeds: seeds, replicas: replicas)
        #expect(source == .dial([]))
    }
}
