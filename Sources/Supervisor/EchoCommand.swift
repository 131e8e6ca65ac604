import ArgumentParser

/// `echo`: the supervisor. `echo [serve]` runs it; `echo reload` asks a running one to reload.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Echo chat server: runs and supervises echo-worker processes on one port.",
        subcommands: [ServeCommand.self, ReloadCommand.self, ConfigTableCommand.self, MigrateKeysCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
