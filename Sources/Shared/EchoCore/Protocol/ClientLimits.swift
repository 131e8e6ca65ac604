import EchoShared

/// The limits a client should respect before sending, told to it in the `session` frame so the
/// browser never carries its own copies: the server enforces the same numbers.
public struct ClientLimits: Sendable, Equatable {
    /// Characters of a chat message's text.
    public var messageLength: Int
    /// Bytes of an image once its base64 is decoded (the size the server checks).
    public var imageBytes: Int
    /// Chat messages per minute per client IP; 0 means no limit.
    public var ratePerMinute: Int
    /// Messages that may be sent at once after a quiet period.
    public var rateBurst: Int
    /// Bytes an encrypted room's chat ciphertext may decode to (``InputLimits/maxSealedChatBytes``).
    public var ciphertextBytes: Int { imageBytes + InputLimits.sealedEditBytes }

    public init(messageLength: Int, imageBytes: Int, ratePerMinute: Int, rateBurst: Int) {
        self.messageLength = messageLength
        self.imageBytes = imageBytes
        self.ratePerMinute = ratePerMinute
        self.rateBurst = rateBurst
    }

    public init(_ configuration: EchoConfiguration) {
        self.init(
            messageLength: configuration.maxMessageLength,
            imageBytes: configuration.maxImageBytes,
            ratePerMinute: configuration.rateLimitPerMinute,
            rateBurst: configuration.rateLimitBurst
        )
    }
}
