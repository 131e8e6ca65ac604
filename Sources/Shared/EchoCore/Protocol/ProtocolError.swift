
/// A refused client frame: a stable `code` a client can switch on, and a message a person can read.
/// Sent as `{"type":"error","code":...,"message":...}`; the connection stays open.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidJSON = "INVALID_JSON"
        case missingType = "MISSING_TYPE"
        case unknownType = "UNKNOWN_TYPE"
        case invalidPayload = "INVALID_PAYLOAD"
        case invalidUsername = "INVALID_USERNAME"
        case invalidRoomID = "INVALID_ROOM_ID"
        case invalidAction = "INVALID_ACTION"
        case invalidSince = "INVALID_SINCE"
        case notJoined = "NOT_JOINED"
        case roomMismatch = "ROOM_MISMATCH"
        case roomNotFound = "ROOM_NOT_FOUND"
        case emptyMessage = "EMPTY_MESSAGE"
        case messageTooLong = "MESSAGE_TOO_LONG"
        case invalidImage = "INVALID_IMAGE"
        case imageTooLarge = "IMAGE_TOO_LARGE"
        case invalidReply = "INVALID_REPLY"
        case invalidClientID = "INVALID_CLIENT_ID"
        case messageNotFound = "MESSAGE_NOT_FOUND"
        case notAuthor = "NOT_AUTHOR"
        case editWindowClosed = "EDIT_WINDOW_CLOSED"
        case tooManyReactions = "TOO_MANY_REACTIONS"
        case notOwner = "NOT_OWNER"
        case roomLocked = "ROOM_LOCKED"
        case keyRequired = "KEY_REQUIRED"
        case badKeyProof = "BAD_KEY_PROOF"
        case roomNotEncrypted = "ROOM_NOT_ENCRYPTED"
        case rateLimited = "RATE_LIMITED"
        case unavailable = "UNAVAILABLE"
        case binaryNotSupported = "BINARY_NOT_SUPPORTED"
        case internalError = "INTERNAL"
    }

    public var code: Code
    public var message: String
    /// For `RATE_LIMITED`: when the next message will be accepted.
    public var retryAfterMilliseconds: Int?
    /// The refused chat's `clientId`, so a client knows which pending message failed.
    public var clientID: String?

    public init(_ code: Code, _ message: String, retryAfterMilliseconds: Int? = nil, clientID: String? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.clientID = clientID
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
