/// The requests echo-bench writes besides its chats (``BenchChatRequest``), as the bytes of one
/// text frame. Room ids and usernames are the bench's own (letters, digits, `-`): nothing to escape.
public enum BenchRequest {
    /// Asks for the nonce an encrypted room's join signs; the server answers
    /// `{"type":"challenge","nonce":...}` (``BenchFrame/challenge(nonce:)``).
    public static let challenge = Array(#"{"type":"challenge"}"#.utf8)

    /// `{"type":"join","payload":{"roomId","username","action","e2e"?}}`; with `proof`, the join of
    /// an encrypted room (`create` makes one if the room does not exist).
    public static func join(roomID: String, username: String, action: String, proof: BenchKeyProof? = nil) -> [UInt8] {
        var text = #"{"type":"join","payload":{"roomId":"\#(roomID)","username":"\#(username)","action":"\#(action)""#
        if let proof {
            text += #","e2e":{"verifier":"\#(proof.verifier)","proof":"\#(proof.proof)"}"#
        }
        text += "}}"
        return Array(text.utf8)
    }
}
