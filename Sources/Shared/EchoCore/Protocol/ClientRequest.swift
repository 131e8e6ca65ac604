import EchoShared
import Foundation
import NIOCore

/// A client frame, parsed and validated. Everything that reaches a `ClientRequest` value obeys the
/// input rules (docs/protocol.md); what does not becomes a ``ProtocolError``.
public enum ClientRequest: Sendable, Equatable {
    case join(JoinRequest)
    case chat(ChatRequest)
    case leave
    case history
    case ping
    /// The member is typing: relayed to the room's members who asked for `typing`, not stored.
    case typing
    /// A new text for one of the member's messages (``AmendRequest``).
    case edit(AmendRequest)
    /// Deletes one of the member's messages (``AmendRequest``, no text).
    case delete(AmendRequest)
    /// Turns the member's reaction `emoji` on `messageID` on, or off if it was on (``ReactRequest``).
    case react(ReactRequest)
    /// The room's owner removes a member (``ModerationRequest``).
    case kick(ModerationRequest)
    /// The room's owner locks or unlocks the room (``ModerationRequest``).
    case lock(ModerationRequest)
    /// Asks for a nonce to sign: the next join's proof of an encrypted room's key (``RoomKeyProof``).
    case challenge
}

/// A `react`: the message, and one emoji (``InputRules/react(_:)``).
public struct ReactRequest: Sendable, Equatable {
    public var messageID: StreamID
    public var emoji: String
    /// `emoji` is an encrypted room's sealed token (base64url), not an emoji.
    public var sealed = false
}

/// An owner's `kick` or `lock`: what it does, and the `ownerKey` that proves who asks.
public struct ModerationRequest: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        /// Close every connection of this session (and of its author, other tabs included).
        case kick(sessionID: String)
        case lock(Bool)
    }
    public var operation: Operation
    public var ownerKey: OwnerKey
}

/// An `edit` (with `text`) or a `delete` (without) of the message `messageID`.
public struct AmendRequest: Sendable, Equatable {
    public var messageID: StreamID
    public var text: String?
    public var clientID: String?
    /// An encrypted room's edit: the new text, encrypted (then `text` is nil).
    public var sealed: SealedPayload? = nil
}

public struct JoinRequest: Sendable, Equatable {
    public enum Action: String, Sendable { case create, join, rejoin }
    public var roomID: String
    public var username: String
    public var action: Action
    /// Resume after this position (the last message the client saw).
    public var since: StreamID?
    /// What the client announced in `features`, as far as this server grants it; nil when it
    /// announced nothing (then its frames are exactly those of a client that predates features).
    public var features: ChatFeatures? = nil
    /// Proves authorship for edit and delete (``AuthorKey``); nil: this member's messages have no
    /// author and cannot be edited or deleted.
    public var authorKey: AuthorKey? = nil
    /// The room's owner key, when the member holds it: the owner gets into a locked room.
    public var ownerKey: OwnerKey? = nil
    /// `e2e`: the proof of an encrypted room's key; nil: the client joins as a plain member (and
    /// an encrypted room refuses it).
    public var keyProof: RoomKeyProof? = nil
}

public struct ChatRequest: Sendable, Equatable {
    /// The room the client thinks it is in; checked against the joined room.
    public var roomID: String?
    public var text: String?
    public var image: String?
    public var replyTo: ReplyReference?
    public var clientID: String?
    /// An encrypted room's message (then `text`, `image` and `replyTo` are nil: they are inside).
    public var sealed: SealedPayload? = nil
}

/// The message a chat answers, as the client quoted it (re-validated, preview shortened).
public struct ReplyReference: Sendable, Equatable {
    public var messageID: String
    public var sender: String
    public var sessionID: String?
    public var preview: String?
    public var isImage: Bool
}

/// The limits the input rules use; taken from ``EchoConfiguration``.
public struct InputLimits: Sendable, Equatable {
    public var maxMessageLength = 2000
    public var maxImageBytes = 3 * 1024 * 1024
    public var maxUsernameLength = 30
    public var maxRoomIDLength = 50
    /// The shortest room code a client may create: a short code could be guessed by trying codes
    /// (Echo's own client makes 21-character codes). Existing shorter rooms can still be joined.
    public var minCreatedRoomIDLength = 8
    public var maxPreviewLength = 100
    public var maxClientIDLength = 64
    /// The most bytes an encrypted edit's ciphertext may decode to: a 2,000-character text in
    /// its JSON envelope, with room to spare for escapes.
    public static let sealedEditBytes = 16384

    /// The most bytes an encrypted chat's ciphertext may decode to: the largest image with an
    /// edit's worth of text, reply and envelope (the image's raw bytes are encrypted, not a data
    /// URL, so its base64url still fits a frame).
    public var maxSealedChatBytes: Int { maxImageBytes + Self.sealedEditBytes }

    public init() {}

    public init(_ configuration: EchoConfiguration) {
        maxMessageLength = configuration.maxMessageLength
        maxImageBytes = configuration.maxImageBytes
    }
}

extension ClientRequest {
    /// Parses one text frame. (It takes a `ByteBuffer`, not any collection of bytes: a generic
    /// version, called from the worker, ran unspecialized and copied the frame byte by byte.)
    public static func parse(_ buffer: ByteBuffer, limits: InputLimits) throws(ProtocolError) -> ClientRequest {
        let frame: Frame
        do {
            frame = try JSONDecoder().decode(Frame.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            if case .dataCorrupted = error {
                throw ProtocolError(.invalidJSON, "The message is not valid JSON.")
            }
            throw ProtocolError(.invalidPayload, "A field has the wrong type: \(Self.describe(error)).")
        } catch {
            throw ProtocolError(.invalidJSON, "The message is not valid JSON.")
        }
        guard let type = frame.type else {
            throw ProtocolError(.missingType, "The message has no \"type\".")
        }
        // Echo Chat's clients put fields in "payload"; fields at the top level are accepted too.
        let payload = frame.payload ?? frame.inline
        switch type {
        case "join": return .join(try InputRules.join(payload, limits: limits))
        case "chat": return .chat(try InputRules.chat(payload, limits: limits))
        case "leave": return .leave
        case "history": return .history
        case "ping": return .ping
        case "typing": return .typing
        case "edit": return .edit(try InputRules.amend(payload, withText: true, limits: limits))
        case "delete": return .delete(try InputRules.amend(payload, withText: false, limits: limits))
        case "react": return .react(try InputRules.react(payload))
        case "kick": return .kick(try InputRules.kick(payload, limits: limits))
        case "lock": return .lock(try InputRules.lock(payload))
        case "challenge": return .challenge
        default:
            throw ProtocolError(.unknownType, "Unknown message type \"\(type.prefix(40))\".")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).filter { $0 != "payload" }.joined(separator: ".")
            return path.isEmpty ? "payload" : path
        @unknown default:
            return "payload"
        }
    }

    /// The wire shape; every field optional so the rules, not the decoder, say what is missing.
    struct Frame: Decodable {
        var type: String?
        var payload: Payload?
        var inline: Payload?

        enum CodingKeys: String, CodingKey { case type, payload }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decodeIfPresent(String.self, forKey: .type)
            payload = try c.decodeIfPresent(Payload.self, forKey: .payload)
            inline = payload == nil ? try? Payload(from: decoder) : nil
        }
    }

    struct Payload: Decodable {
        var roomId: String?
        var username: String?
        var action: String?
        var since: String?
        var message: String?
        var image: String?
        var replyTo: Reply?
        var clientId: String?
        var features: [String]?
        var authorKey: String?
        var messageId: String?
        var text: String?
        var emoji: String?
        var sessionId: String?
        var ownerKey: String?
        var locked: Bool?
        var ciphertext: String?
        var iv: String?
        var e2e: KeyProof?
    }

    struct KeyProof: Decodable {
        var verifier: String?
        var proof: String?
    }

    struct Reply: Decodable {
        var messageId: String?
        var sender: String?
        var sessionId: String?
        var preview: String?
        var isImage: Bool?
    }
}

/// The input rules, as pure functions (unit-tested without I/O).
public enum InputRules {
    static func join(_ payload: ClientRequest.Payload?, limits: InputLimits) throws(ProtocolError) -> JoinRequest {
        let username = try self.username(payload?.username, limits: limits)
        let roomID = try self.roomID(payload?.roomId, limits: limits)
        var action: JoinRequest.Action
        if let raw = payload?.action {
            guard let a = JoinRequest.Action(rawValue: raw) else {
                throw ProtocolError(.invalidAction, "action must be \"create\", \"join\" or \"rejoin\".")
            }
            action = a
        } else {
            // Echo Chat's first clients sent no action; they expected a join to create the room.
            action = .create
        }
        if roomID.utf8.count < limits.minCreatedRoomIDLength {
            // A short code may only name a room that already exists (made before codes had a
            // minimum length): an explicit create is refused, and a defaulted create or a rejoin
            // becomes a join, which never creates.
            if payload?.action == JoinRequest.Action.create.rawValue {
                throw ProtocolError(.invalidRoomID, "A new room's code needs at least \(limits.minCreatedRoomIDLength) letters, digits, _ or -.")
            }
            action = .join
        }
        var since: StreamID? = nil
        if let raw = payload?.since, !raw.isEmpty {
            guard let id = StreamID(raw) else {
                throw ProtocolError(.invalidSince, "since must be a message id like 1700000000000-0.")
            }
            since = id
        }
        var authorKey: AuthorKey? = nil
        if let raw = payload?.authorKey {
            guard let key = AuthorKey(text: raw) else {
                throw ProtocolError(.invalidPayload, "authorKey must be 32 random bytes in base64url without padding (43 characters).")
            }
            authorKey = key
        }
        var ownerKey: OwnerKey? = nil
        if payload?.ownerKey != nil { ownerKey = try self.ownerKey(payload?.ownerKey) }
        var keyProof: RoomKeyProof? = nil
        if let e2e = payload?.e2e {
            guard let verifier = e2e.verifier, let proof = e2e.proof, let parsed = RoomKeyProof(verifier: verifier, proof: proof) else {
                throw ProtocolError(.invalidPayload, "e2e must hold a verifier (43 base64url characters) and a proof (86).")
            }
            keyProof = parsed
        }
        return JoinRequest(
            roomID: roomID, username: username, action: action, since: since, features: try features(payload?.features), authorKey: authorKey,
            ownerKey: ownerKey, keyProof: keyProof)
    }

    /// `ownerKey`: the key a room's `session` gave its creator, in the same form as `authorKey`.
    static func ownerKey(_ raw: String?) throws(ProtocolError) -> OwnerKey {
        guard let raw, let key = OwnerKey(text: raw) else {
            throw ProtocolError(.invalidPayload, "ownerKey must be the 43-character key the room's session frame gave its creator.")
        }
        return key
    }

    /// A kick's payload: the `sessionId` of the member to remove, and the `ownerKey`.
    static func kick(_ payload: ClientRequest.Payload?, limits: InputLimits) throws(ProtocolError) -> ModerationRequest {
        guard let target = payload?.sessionId, isToken(target, maxLength: 64) else {
            throw ProtocolError(.invalidPayload, "sessionId must name a member's session.")
        }
        return ModerationRequest(operation: .kick(sessionID: target), ownerKey: try ownerKey(payload?.ownerKey))
    }

    /// A lock's payload: `locked` (true or false), and the `ownerKey`.
    static func lock(_ payload: ClientRequest.Payload?) throws(ProtocolError) -> ModerationRequest {
        guard let locked = payload?.locked else {
            throw ProtocolError(.invalidPayload, "locked must be true or false.")
        }
        return ModerationRequest(operation: .lock(locked), ownerKey: try ownerKey(payload?.ownerKey))
    }

    /// `features`: at most ``ChatFeatures/maxNames`` short strings; names this server does not
    /// implement are ignored, so a newer client can name features an older server lacks.
    static func features(_ names: [String]?) throws(ProtocolError) -> ChatFeatures? {
        guard let names else { return nil }
        guard names.count <= ChatFeatures.maxNames, names.allSatisfy({ $0.utf8.count <= ChatFeatures.maxNameLength }) else {
            throw ProtocolError(.invalidPayload, "features must be a list of at most \(ChatFeatures.maxNames) names of at most \(ChatFeatures.maxNameLength) bytes.")
        }
        return ChatFeatures(names: names)
    }

    /// An edit's or delete's payload: `messageId` a message id; an edit's `text` follows the chat
    /// text rules (not blank, at most the message length); `clientId` as for chat.
    static func amend(_ payload: ClientRequest.Payload?, withText: Bool, limits: InputLimits) throws(ProtocolError) -> AmendRequest {
        var clientID: String? = nil
        if let raw = payload?.clientId, !raw.isEmpty {
            guard isToken(raw, maxLength: limits.maxClientIDLength) else {
                throw ProtocolError(.invalidClientID, "clientId must be 1–\(limits.maxClientIDLength) letters, digits, _ or -.")
            }
            clientID = raw
        }
        guard let raw = payload?.messageId, let messageID = StreamID(raw) else {
            throw ProtocolError(.invalidPayload, "messageId must be a message id like 1700000000000-0.", clientID: clientID)
        }
        guard withText else { return AmendRequest(messageID: messageID, text: nil, clientID: clientID) }
        if payload?.ciphertext != nil || payload?.iv != nil {
            guard payload?.text == nil else {
                throw ProtocolError(.invalidPayload, "An encrypted edit carries ciphertext and iv, not text.", clientID: clientID)
            }
            let sealed = try self.sealed(payload, maxBytes: InputLimits.sealedEditBytes, clientID: clientID)
            return AmendRequest(messageID: messageID, text: nil, clientID: clientID, sealed: sealed)
        }
        guard let text = payload?.text, !isBlank(text) else {
            throw ProtocolError(.emptyMessage, "An edit needs text.", clientID: clientID)
        }
        guard text.utf16.count <= limits.maxMessageLength else {
            throw ProtocolError(.messageTooLong, "A message can have at most \(limits.maxMessageLength) characters.", clientID: clientID)
        }
        return AmendRequest(messageID: messageID, text: text, clientID: clientID)
    }

    /// The longest emoji a reaction may be, in UTF-8 bytes: enough for a family or a flag with a
    /// skin tone, too little to smuggle text.
    public static let maxEmojiBytes = 16

    /// A reaction's payload: `messageId` a message id; `emoji` one grapheme (an extended grapheme
    /// cluster, Swift's `Character`: what a person sees as one symbol) of at most
    /// ``maxEmojiBytes`` UTF-8 bytes, neither white space nor a control character (it would
    /// show as nothing). Which graphemes are emoji is the client's choice (its emoji data).
    static func react(_ payload: ClientRequest.Payload?) throws(ProtocolError) -> ReactRequest {
        guard let raw = payload?.messageId, let messageID = StreamID(raw) else {
            throw ProtocolError(.invalidPayload, "messageId must be a message id like 1700000000000-0.")
        }
        guard let emoji = payload?.emoji else {
            throw ProtocolError(.invalidPayload, "emoji must be one emoji of at most \(maxEmojiBytes) bytes.")
        }
        if isOneSymbol(emoji) { return ReactRequest(messageID: messageID, emoji: emoji) }
        guard isSealedEmoji(emoji) else {
            throw ProtocolError(.invalidPayload, "emoji must be one emoji of at most \(maxEmojiBytes) bytes.")
        }
        return ReactRequest(messageID: messageID, emoji: emoji, sealed: true)
    }

    /// An encrypted room's reaction token: base64url of an IV, the emoji (1 to
    /// ``maxEmojiBytes`` bytes) and the tag (docs/protocol.md, End-to-end encrypted rooms).
    static let sealedEmojiBytes = (RoomEncryption.ivByteCount + 1 + RoomEncryption.tagByteCount)...(RoomEncryption.ivByteCount + maxEmojiBytes + RoomEncryption.tagByteCount)

    static func isSealedEmoji(_ text: String) -> Bool {
        guard let count = Base64URL.decodedCount(text) else { return false }
        return sealedEmojiBytes.contains(count)
    }

    /// `ciphertext` and `iv` of an encrypted chat or edit: canonical base64url, a 12-byte IV, and
    /// a ciphertext of a tag and at least one byte, at most `maxBytes`.
    static func sealed(_ payload: ClientRequest.Payload?, maxBytes: Int, clientID: String?) throws(ProtocolError) -> SealedPayload {
        guard let ciphertext = payload?.ciphertext, let iv = payload?.iv, let size = Base64URL.decodedCount(ciphertext),
              Base64URL.decodedCount(iv) == RoomEncryption.ivByteCount else {
            throw ProtocolError(.invalidPayload, "ciphertext and iv must both be base64url (iv: 12 bytes).", clientID: clientID)
        }
        guard size > RoomEncryption.tagByteCount else {
            throw ProtocolError(.emptyMessage, "The ciphertext is too short to hold a message.", clientID: clientID)
        }
        guard size <= maxBytes else {
            throw ProtocolError(.messageTooLong, "An encrypted message can be at most \(maxBytes) bytes.", clientID: clientID)
        }
        return SealedPayload(ciphertext: ciphertext, iv: iv)
    }

    /// One visible grapheme of at most ``maxEmojiBytes`` bytes (see ``react(_:)``).
    static func isOneSymbol(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maxEmojiBytes, text.count == 1 else { return false }
        let scalars = text.unicodeScalars
        // Format characters alone (a lone zero-width joiner) show as nothing either.
        return !scalars.contains { isSpace($0) || $0.properties.generalCategory == .control }
            && !scalars.allSatisfy { $0.properties.generalCategory == .format }
    }

    static func chat(_ payload: ClientRequest.Payload?, limits: InputLimits) throws(ProtocolError) -> ChatRequest {
        // The clientId first, so every other refusal can name the message it refuses.
        var clientID: String? = nil
        if let raw = payload?.clientId, !raw.isEmpty {
            guard isToken(raw, maxLength: limits.maxClientIDLength) else {
                throw ProtocolError(.invalidClientID, "clientId must be 1–\(limits.maxClientIDLength) letters, digits, _ or -.")
            }
            clientID = raw
        }
        do {
            return try chatContent(payload, clientID: clientID, limits: limits)
        } catch {
            var error = error
            error.clientID = clientID
            throw error
        }
    }

    private static func chatContent(_ payload: ClientRequest.Payload?, clientID: String?, limits: InputLimits) throws(ProtocolError) -> ChatRequest {
        if payload?.ciphertext != nil || payload?.iv != nil {
            // Everything a person wrote is inside: a plaintext field beside it would leak.
            guard payload?.message == nil, payload?.image == nil, payload?.replyTo == nil else {
                throw ProtocolError(.invalidPayload, "An encrypted message carries ciphertext and iv only (no message, image or replyTo).")
            }
            let sealed = try sealed(payload, maxBytes: limits.maxSealedChatBytes, clientID: clientID)
            return ChatRequest(roomID: payload?.roomId, text: nil, image: nil, replyTo: nil, clientID: clientID, sealed: sealed)
        }
        var text = payload?.message
        if let t = text, isBlank(t) { text = nil }
        let image = payload?.image.flatMap { $0.isEmpty ? nil : $0 }
        guard text != nil || image != nil else {
            throw ProtocolError(.emptyMessage, "A message needs text or an image.")
        }
        if let text, text.utf16.count > limits.maxMessageLength {
            throw ProtocolError(.messageTooLong, "A message can have at most \(limits.maxMessageLength) characters.")
        }
        if let image { try validateImage(image, limits: limits) }
        var roomID: String? = nil
        if let raw = payload?.roomId { roomID = raw }
        var reply: ReplyReference? = nil
        if let r = payload?.replyTo { reply = try replyTo(r, limits: limits) }
        return ChatRequest(roomID: roomID, text: text, image: image, replyTo: reply, clientID: clientID)
    }

    public static func username(_ raw: String?, limits: InputLimits) throws(ProtocolError) -> String {
        let name = trimmingWhitespace(raw ?? "")
        let count = name.utf16.count
        guard count >= 1, count <= limits.maxUsernameLength,
              name.unicodeScalars.allSatisfy({ isUsernameScalar($0) }) else {
            throw ProtocolError(.invalidUsername, "A name is 1–\(limits.maxUsernameLength) letters, digits, spaces, _ or -.")
        }
        return name
    }

    public static func roomID(_ raw: String?, limits: InputLimits) throws(ProtocolError) -> String {
        let id = raw ?? ""
        guard isToken(id, maxLength: limits.maxRoomIDLength) else {
            throw ProtocolError(.invalidRoomID, "A room code is 1–\(limits.maxRoomIDLength) letters, digits, _ or -.")
        }
        return id
    }

    static func replyTo(_ r: ClientRequest.Reply, limits: InputLimits) throws(ProtocolError) -> ReplyReference {
        guard let messageID = r.messageId, isToken(messageID, maxLength: 64) else {
            throw ProtocolError(.invalidReply, "replyTo.messageId must be a message id.")
        }
        // The quoted sender obeys the same rule as a joining name.
        guard let sender = try? username(r.sender, limits: limits) else {
            throw ProtocolError(.invalidReply, "replyTo.sender must be a user name.")
        }
        var sessionID: String? = nil
        if let s = r.sessionId, !s.isEmpty {
            guard isToken(s, maxLength: 64) else {
                throw ProtocolError(.invalidReply, "replyTo.sessionId must be a session id.")
            }
            sessionID = s
        }
        var preview = r.preview
        if let p = preview, p.utf16.count > limits.maxPreviewLength {
            // Cut by UTF-16 units like the client counts, without splitting a surrogate pair.
            var cut = ""
            var units = 0
            for scalar in p.unicodeScalars {
                let width = scalar.utf16.count
                if units + width > limits.maxPreviewLength { break }
                cut.unicodeScalars.append(scalar)
                units += width
            }
            preview = cut
        }
        return ReplyReference(messageID: messageID, sender: sender, sessionID: sessionID, preview: preview, isImage: r.isImage ?? false)
    }

    /// The image formats accepted, with the bytes their files begin with. SVG is refused: it can
    /// carry script.
    static let imageFormats: [(mime: String, magic: [UInt8?])] = [
        ("png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
        ("jpeg", [0xFF, 0xD8, 0xFF]),
        ("gif", Array("GIF8".utf8)),
        ("webp", Array("RIFF".utf8) + [nil, nil, nil, nil] + Array("WEBP".utf8)),
    ]

    public static func validateImage(_ image: String, limits: InputLimits) throws(ProtocolError) {
        let invalid = ProtocolError(.invalidImage, "An image must be a PNG, JPEG, GIF or WebP data URL.")
        let prefix = "data:image/"
        guard image.hasPrefix(prefix) else { throw invalid }
        let afterPrefix = image.utf8.dropFirst(prefix.utf8.count)
        guard let semicolon = afterPrefix.firstIndex(of: UInt8(ascii: ";")) else { throw invalid }
        let mime = String(decoding: afterPrefix[..<semicolon], as: UTF8.self)
        guard let format = imageFormats.first(where: { $0.mime == mime }) else { throw invalid }
        let marker = ";base64,".utf8
        let rest = afterPrefix[semicolon...]
        guard rest.starts(with: marker) else { throw invalid }
        let payload = rest.dropFirst(marker.count)
        let count = payload.count
        guard count > 0, count % 4 == 0 else { throw invalid }
        // A 4 MiB image is checked on the event loop: a table lookup per byte over contiguous
        // storage, not a walk of the string's UTF-8 view (which took most of a large frame's time).
        let padding: Int? = image.utf8.withContiguousStorageIfAvailable { all in
            Base64Check.padding(UnsafeBufferPointer(rebasing: all[(all.count - count)...]))
        } ?? Base64Check.padding(Array(payload))
        guard let padding else { throw invalid }
        let decodedSize = count / 4 * 3 - padding
        guard decodedSize <= limits.maxImageBytes else {
            throw ProtocolError(.imageTooLarge, "An image can be at most \(limits.maxImageBytes / 1024 / 1024) MiB.")
        }
        guard let head = Data(base64Encoded: String(decoding: payload.prefix(16), as: UTF8.self)),
              head.count >= format.magic.count,
              zip(head, format.magic).allSatisfy({ $1 == nil || $0 == $1 }) else {
            throw ProtocolError(.invalidImage, "The image data is not a \(mime.uppercased()) file.")
        }
    }

    /// True when `text` is empty or only white space. Stops at the first other scalar and needs
    /// no Foundation bridging: this runs on every chat message.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy(isSpace)
    }

    /// `text` without leading and trailing white space.
    static func trimmingWhitespace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// Unicode White_Space, plus the zero-width space (Foundation's `.whitespacesAndNewlines`,
    /// used before, trims it) and the byte-order mark (JavaScript's `trim()`, Echo Chat's rule,
    /// does): a message of nothing but these shows as nothing, so it counts as empty.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar == "\u{200B}" || scalar == "\u{FEFF}"
    }

    /// 1 to `maxLength` of `A–Z a–z 0–9 _ -`: room codes, client ids, message and session ids.
    static func isToken(_ text: String, maxLength: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength && text.utf8.allSatisfy(isIDByte)
    }

    static func isIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }

    static func isBase64Byte(_ b: UInt8) -> Bool {
        Base64Check.table[Int(b)]
    }

    static func isBase64ByteSlow(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2B || b == 0x2F
    }

    static func isUsernameScalar(_ s: Unicode.Scalar) -> Bool {
        if s == " " || s == "_" || s == "-" { return true }
        let p = s.properties
        // Letters and digits of any script; no marks or symbols that could hide or fake a name.
        return p.isAlphabetic && !p.isJoinControl || p.numericType == .decimal
    }
}

/// The base64 check of image data, over raw bytes.
enum Base64Check {
    /// `A–Z a–z 0–9 + /`.
    static let table: [Bool] = (0...255).map { b in InputRules.isBase64ByteSlow(UInt8(b)) }

    /// The number of `=` at the end (0–2) when `bytes` are base64 characters with padding only
    /// at the end; nil otherwise. `bytes.count` is a multiple of 4.
    static func padding(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var end = bytes.count
        var padding = 0
        while padding < 2, end > 0, bytes[end - 1] == UInt8(ascii: "=") {
            end -= 1
            padding += 1
        }
        return table.withUnsafeBufferPointer { table in
            var index = 0
            while index < end {
                guard table[Int(bytes[index])] else { return nil }
                index += 1
            }
            return padding
        }
    }

    static func padding(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { padding($0) }
    }
}
