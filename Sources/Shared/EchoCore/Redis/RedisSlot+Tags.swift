extension RedisSlot {
    /// A short hash tag whose slot is `slot` (the first of `0`, `1`, … `z`, `10`, … that lands there),
    /// so a key can be put on the shard that owns a given slot: `echo:epoch:{<tag>}`.
    public static func tag(forSlot slot: Int) -> String {
        precondition((0..<count).contains(slot), "slot \(slot) out of range")
        var n = 0
        while true {
            let tag = String(n, radix: 36)
            if crc16(tag.utf8) & 0x3FFF == slot { return tag }
            n += 1
        }
    }
}
