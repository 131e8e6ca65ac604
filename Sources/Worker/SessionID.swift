/// A connection's session id (also the data-epoch candidate, ChatHub+Recovery.swift).
enum SessionID {
    /// 90 random bits as 15 characters of the URL-safe base64 alphabet (the system generator is
    /// cryptographically secure). Fifteen UTF-8 bytes is the most a Swift `String` holds inline:
    /// the id every member keeps then costs no allocation (a 32-hex-digit id cost each idle
    /// connection 66 bytes of heap, S3). Ids are public (every chat frame carries its sender's);
    /// 90 bits keep them unique and unguessable.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        // 15 digits of 6 bits: 10 from `high` (60 bits), 5 from `low` (30 bits).
        var digits = [UInt8]()
        digits.reserveCapacity(15)
        for index in 0..<10 { digits.append(alphabet[Int((high >> UInt64(index * 6)) & 63)]) }
        for index in 0..<5 { digits.append(alphabet[Int((low >> UInt64(index * 6)) & 63)]) }
        return String(decoding: digits, as: UTF8.self)
    }
}
