import EchoCore
import EchoTLS

extension ChatHub {
    /// Reads the authorship secret (``RoomKeys/authorSecret``) into the connections' hasher: at
    /// start, then at every presence refresh, offering the one this worker has, so that a Redis
    /// that lost its data gets it back from the first worker to ask rather than a new one.
    func readAuthorSecret() {
        let authors = connectionConfiguration.authors
        let candidate = authors.current ?? Crypto.randomBytes(32)
        store.authorSecret(candidate: candidate).whenComplete { [logger] result in
            switch result {
            case .success(let secret?):
                authors.set(secret: secret)
            case .success(nil):
                logger.error("the authorship secret in Redis is not 64 hex digits; edits and deletes are refused", metadata: ["key": "\(self.store.keys.authorSecret)"])
            case .failure(let error):
                logger.debug("authorship secret not read", metadata: ["error": "\(error)"])
                // Until the first read, joins get no author: retry soon rather than at the next refresh.
                guard authors.current == nil else { return }
                self.eventLoop.scheduleTask(in: .milliseconds(100)) { self.readAuthorSecret() }
            }
        }
    }
}
