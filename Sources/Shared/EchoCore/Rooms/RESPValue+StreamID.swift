extension RESPValue {
    /// The value as a stream entry ID (a bulk string), with its bytes kept for splicing.
    var streamPosition: RoomEvent.Position? {
        guard case .bulkString(let text) = self else { return nil }
        return RoomEvent.Position(text: text)
    }

    var streamID: StreamID? { streamPosition?.id }
}
