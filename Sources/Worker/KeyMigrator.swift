import EchoCore
import EchoShared
import Logging
import NIOCore

/// Copies a Redis in the legacy key layout into a Redis Cluster in the tagged layout
/// (``KeyMigration`` decides, key by key). Each key is read with `DUMP` and its remaining `PTTL`
/// and written with `RESTORE` under its tagged name: a stream keeps its entry IDs, so a client's
/// resume position stays valid, and every key keeps its expiry. A key already on the target is
/// left as it is (`RESTORE` without `REPLACE`), so running it again copies nothing twice and
/// never overwrites what Echo wrote on the cluster since.
struct KeyMigrator {
    struct Report: Sendable, Equatable {
        /// Keys copied (to be copied in a dry run), by kind.
        var copied: [KeyMigration.Kind: Int] = [:]
        /// Keys already on the target, by kind.
        var existing: [KeyMigration.Kind: Int] = [:]
        /// Keys not copied (short-lived limits, the epoch) or not Echo's, by kind.
        var skipped: [KeyMigration.Kind: Int] = [:]
        /// Entries of the streams copied.
        var entries = 0
        /// Keys that expired between the scan and their copy, and sessions naming no room.
        var vanished = 0

        /// One line per kind: `stream copied=3 existing=0 entries=42`.
        func lines(dryRun: Bool) -> [String] {
            var lines: [String] = []
            for kind in KeyMigration.Kind.allCases where kind != .skipped && kind != .foreign {
                var line = "\(kind.rawValue) \(dryRun ? "to-copy" : "copied")=\(copied[kind, default: 0]) existing=\(existing[kind, default: 0])"
                if kind == .stream { line += " entries=\(entries)" }
                lines.append(line)
            }
            lines.append("skipped=\(skipped[.skipped, default: 0]) (rate limits, admission counts, data epoch: short-lived, rebuilt by the workers)")
            lines.append("foreign=\(skipped[.foreign, default: 0]) (not Echo's keys: left alone)")
            lines.append("vanished=\(vanished) (expired before their copy, or a session naming no room)")
            return lines
        }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    let source: RedisClient
    let target: RedisCluster
    let keys = RoomKeys.tagged
    /// Keys read and written per pipelined round.
    var batchSize = 200

    /// Refuses a source that is a cluster node or already holds tagged keys, and a target that is
    /// not a cluster; then copies (or, in a dry run, only counts).
    func run(dryRun: Bool) async throws -> Report {
        let info = try await source.send(RESPCommand("INFO", "cluster")).get().string ?? ""
        if info.contains("cluster_enabled:1") {
            throw Refusal(description: "the source is a Redis Cluster node: migrate-keys copies from one Redis in today's layout")
        }
        let targetInfo = try await target.send(RESPCommand("CLUSTER", "INFO"), routedBy: nil).get().string ?? ""
        guard targetInfo.contains("cluster_state:ok") else {
            throw Refusal(description: "the target's cluster is not ok (CLUSTER INFO: \(targetInfo.split(separator: "\r\n").first ?? ""))")
        }

        // A first pass that keeps nothing but a tagged name: refused before anything is copied.
        var tagged: String?
        try await scan(matching: "*{*") { page in
            tagged = tagged ?? page.first(where: KeyMigration.isTagged)
        }
        if let tagged {
            throw Refusal(description: "the source already uses the tagged layout (\(tagged)): nothing to migrate")
        }
        // Then page by page, so memory holds one page of names, not every key of a large Redis.
        var report = Report()
        try await scan { names in
            var work: [(name: String, plan: KeyMigration.Plan)] = []
            for name in names {
                let plan = KeyMigration.plan(forLegacyKey: name, into: keys)
                if case .skip(let kind) = plan {
                    report.skipped[kind, default: 0] += 1
                } else {
                    work.append((name, plan))
                }
            }
            var start = 0
            while start < work.count {
                let batch = work[start..<min(start + batchSize, work.count)]
                try await copy(batch, dryRun: dryRun, into: &report)
                start += batchSize
            }
        }
        return report
    }

    /// Every key name of the source, a page at a time (SCAN, so a large Redis is not blocked). A
    /// key may come twice (SCAN's guarantee is at least once): copying it again finds it existing.
    private func scan(matching pattern: String? = nil, _ body: ([String]) async throws -> Void) async throws {
        var cursor = "0"
        repeat {
            var command: [RESPArgument] = ["SCAN", .string(cursor), "COUNT", 1000]
            if let pattern { command += ["MATCH", .string(pattern)] }
            let reply = try await source.send(RESPCommand(command)).get()
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].string, case .array(let page) = parts[1] else {
                throw RedisError(.protocolError, "unexpected SCAN reply: \(reply)")
            }
            try await body(page.compactMap(\.string))
            cursor = next
        } while cursor != "0"
    }

    /// One key as read from the source.
    private struct Read {
        var ttl: EventLoopFuture<RESPValue>
        var dump: EventLoopFuture<RESPValue>
        var value: EventLoopFuture<RESPValue>?
        var length: EventLoopFuture<RESPValue>?
    }

    /// Reads a batch in one pipelined round, then writes it in another.
    private func copy(_ batch: ArraySlice<(name: String, plan: KeyMigration.Plan)>, dryRun: Bool, into report: inout Report) async throws {
        let reads = batch.map { name, plan -> Read in
            var read = Read(ttl: source.send(RESPCommand("PTTL", .string(name))), dump: source.send(RESPCommand("DUMP", .string(name))))
            if case .session = plan { read.value = source.send(RESPCommand("GET", .string(name))) }
            if case .copy(.stream, _) = plan { read.length = source.send(RESPCommand("XLEN", .string(name))) }
            return read
        }
        var writes: [(kind: KeyMigration.Kind, entries: Int, reply: EventLoopFuture<RESPValue>)] = []
        for ((_, plan), read) in zip(batch, reads) {
            let ttl = try await read.ttl.get()
            let dump = try await read.dump.get()
            let length = try await read.length?.get().int ?? 0
            var kind = KeyMigration.Kind.session
            var targetName: String? = nil
            switch plan {
            case .copy(let copiedKind, let name):
                kind = copiedKind
                targetName = name
            case .session(let id):
                let value = try await read.value?.get().string ?? ""
                targetName = KeyMigration.sessionTarget(id: id, value: value, into: keys)
            case .skip:
                continue
            }
            // -2: gone since the scan; -1: no expiry (RESTORE's 0).
            guard let targetName, case .bulkString(let payload) = dump, let milliseconds = ttl.int, milliseconds != -2 else {
                report.vanished += 1
                continue
            }
            let command = dryRun
                ? RESPCommand("EXISTS", .string(targetName))
                : RESPCommand("RESTORE", .string(targetName), .integer(max(milliseconds, 0)), .bytes(payload))
            writes.append((kind, length, target.send(command, routedBy: targetName)))
        }
        for write in writes {
            let exists: Bool
            do {
                let reply = try await write.reply.get()
                exists = dryRun && reply.int == 1
            } catch let error as RedisError where error.kind == .reply && error.message.hasPrefix("BUSYKEY") {
                exists = true
            }
            if exists {
                report.existing[write.kind, default: 0] += 1
            } else {
                report.copied[write.kind, default: 0] += 1
                report.entries += write.entries
            }
        }
    }
}
