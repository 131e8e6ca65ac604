@testable import EchoCore
import Testing

/// `migrate-keys`' decision for each legacy key: every key a room has is copied under its tagged
/// name, short-lived limits are not, and what is not Echo's is left alone.
@Suite struct KeyMigrationTests {
    let legacy = RoomKeys.legacy
    let tagged = RoomKeys.tagged

    @Test func everyRoomKeyMapsToItsTaggedName() {
        for room in ["ab12", "r", "Z-9_x"] {
            #expect(KeyMigration.plan(forLegacyKey: legacy.stream(room)) == .copy(.stream, target: tagged.stream(room)))
            #expect(KeyMigration.plan(forLegacyKey: legacy.members(room)) == .copy(.members, target: tagged.members(room)))
            #expect(KeyMigration.plan(forLegacyKey: legacy.usernames(room)) == .copy(.usernames, target: tagged.usernames(room)))
            #expect(KeyMigration.plan(forLegacyKey: legacy.moderation(room)) == .copy(.moderation, target: tagged.moderation(room)))
            #expect(KeyMigration.plan(forLegacyKey: legacy.info(room)) == .copy(.info, target: tagged.info(room)))
            #expect(KeyMigration.plan(forLegacyKey: legacy.dedupe(room: room, clientID: "c:1")) == .copy(.dedupe, target: tagged.dedupe(room: room, clientID: "c:1")))
            let message = StreamID(milliseconds: 1_700_000_000_000, sequence: 2)
            #expect(KeyMigration.plan(forLegacyKey: legacy.reactions(room: room, message: message))
                == .copy(.reactions, target: tagged.reactions(room: room, message: message)))
        }
        #expect(KeyMigration.plan(forLegacyKey: "active_rooms") == .copy(.index, target: "active_rooms"))
        #expect(KeyMigration.plan(forLegacyKey: "echo:author-secret") == .copy(.secret, target: "echo:author-secret"))
    }

    @Test func sessionsTakeTheirRoomFromTheirValue() {
        #expect(KeyMigration.plan(forLegacyKey: legacy.session("s-1", room: "r")) == .session(id: "s-1"))
        let value = #"{"roomId":"ab12","username":"Ann","joinedAt":1}"#
        #expect(KeyMigration.sessionTarget(id: "s-1", value: value) == tagged.session("s-1", room: "ab12"))
        #expect(KeyMigration.sessionTarget(id: "s-1", value: #"{"username":"Ann"}"#) == nil)
        #expect(KeyMigration.sessionTarget(id: "s-1", value: #"{"roomId":"a}b"}"#) == nil)
    }

    @Test func shortLivedKeysAreNotCopied() {
        for key in [legacy.rateLimit(ip: "10.0.0.1", room: "r"), legacy.connections("::1"), legacy.handshakes("10.0.0.1"),
                    legacy.joins("10.0.0.1"), legacy.dataEpoch, legacy.primary("r")] {
            #expect(KeyMigration.plan(forLegacyKey: key) == .skip(.skipped), "\(key)")
        }
    }

    @Test func otherKeysAreLeftAlone() {
        for key in ["foo", "room:ab12", "room:ab12:other", "room:ab12:react:", "room:ab12:react:x", "room:a b:info", "stream:", "stream:a:b", "cid:r:", "session:", "mykey:{x}"] {
            #expect(KeyMigration.plan(forLegacyKey: key) == .skip(.foreign), "\(key)")
        }
    }

    @Test func aTaggedSourceIsRecognised() {
        for room in ["ab12", "r"] {
            #expect(KeyMigration.isTagged(tagged.stream(room)))
            #expect(KeyMigration.isTagged(tagged.members(room)))
            #expect(KeyMigration.isTagged(tagged.session("s", room: room)))
            #expect(KeyMigration.isTagged(tagged.connections("10.0.0.1")))
            #expect(!KeyMigration.isTagged(legacy.stream(room)))
            #expect(!KeyMigration.isTagged(legacy.dedupe(room: room, clientID: "c")))
        }
        #expect(!KeyMigration.isTagged("mykey:{x}"))
        #expect(!KeyMigration.isTagged("stream:{}"))
    }
}
