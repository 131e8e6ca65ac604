/// Where a TLS operation left off when it did not simply succeed.
public enum TLSProgress: Sendable, Equatable {
    /// The operation finished (a handshake: the connection is ready for data).
    case complete
    /// OpenSSL needs more ciphertext from the peer before it can go on.
    case needsInput
    /// The peer sent close_notify: no more data will come.
    case closed
}

/// What ``TLSConnection/read(into:)`` produced.
public enum TLSReadResult: Sendable, Equatable {
    /// This many plaintext bytes were written into the buffer.
    case bytes(Int)
    /// No plaintext until more ciphertext arrives.
    case needsInput
    /// The peer sent close_notify.
    case closed
}
