import EchoShared
@testable import EchoSupervision
import Foundation
import Testing

@Suite("Supervisor settings and the documentation's table")
struct SupervisorConfigurationTests {
    @Test func namesAndFlagsAreUniqueAcrossTheTables() {
        let all = SupervisorConfiguration.documentedSettings
        let names = all.map(\.name)
        #expect(Set(names).count == names.count)
        let flags = all.compactMap(\.flag.longName)
        #expect(Set(flags).count == flags.count)
        for old in ["workers", "drain-timeout", "drain-window", "heartbeat-timeout", "start-timeout", "worker-binary",
                    "redis-server", "env-file", "runtime-dir", "data-dir"] {
            #expect(flags.contains(old), "--\(old)")
        }
    }

    @Test func defaultsAndValues() throws {
        #expect(try SupervisorConfiguration(values: [:]) == SupervisorConfiguration())
        let configuration = try SupervisorConfiguration(values: [
            "ECHO_WORKERS": "3", "ECHO_DRAIN_TIMEOUT": "2.5", "ECHO_HEARTBEAT_TIMEOUT": "", "RUNTIME_DIRECTORY": "/run/echo",
        ])
        #expect(configuration.workers == .fixed(3))
        #expect(configuration.drainTimeout == .milliseconds(2500))
        #expect(configuration.heartbeatTimeout == .seconds(10))
        #expect(configuration.runtimeDirectory == "/run/echo")
        for setting in SupervisorConfiguration.settings {
            #expect(setting.appliesOn == .restart, "\(setting.name)")
        }
    }

    @Test(arguments: [("ECHO_WORKERS", "0"), ("ECHO_WORKERS", "many"), ("ECHO_DRAIN_TIMEOUT", "3601"),
                      ("ECHO_DRAIN_WINDOW", "-1"), ("ECHO_HEARTBEAT_TIMEOUT", "1"), ("ECHO_START_TIMEOUT", "0.5")])
    func badValuesNameTheirVariable(name: String, value: String) {
        do {
            _ = try SupervisorConfiguration(values: [name: value])
            Issue.record("\(name)=\(value) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == name)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func serveAcceptsEveryFlagOfBothTables() throws {
        let options = try EchoOptions.parse(["--workers", "2", "--port=9", "--debug", "--runtime-dir", "/r"])
        #expect(try options.flagValues(SupervisorConfiguration.allSettings) == ["ECHO_WORKERS": "2", "PORT": "9", "DEBUG": "1", "RUNTIME_DIRECTORY": "/r"])
    }

    /// Workers get the resolved configuration and their hand-off, which read back the same, and
    /// none of the supervisor's own settings.
    @Test func theWorkerHandOffReadsBackAndWithholdsTheSupervisorsSettings() throws {
        let configuration = try EchoConfiguration(values: ["ECHO_RATE_LIMIT": "9", "ECHO_TRUSTED_PROXIES": "10.0.0.0/8", "DEBUG": "1"])
        let inherited = ["PATH": "/bin", "ECHO_WORKERS": "4", "ECHO_DRAIN_TIMEOUT": "3", "RUNTIME_DIRECTORY": "/run/echo",
                         "NOTIFY_SOCKET": "/run/n", "ECHO_RATE_LIMIT": "1", "DEBUG": "0", "ECHO_WORKER_SLOT": "7"]
        let env = WorkerEnvironment.build(inherited: inherited, configuration: configuration.environment, slot: 1, heartbeatMilliseconds: 1000)
        #expect(try EchoConfiguration(values: env) == configuration)
        var handOff = WorkerHandOff()
        handOff.listenFD = WorkerEnvironment.listenFD
        handOff.controlFD = WorkerEnvironment.controlFD
        handOff.slot = 1
        #expect(try WorkerHandOff(values: env) == handOff)
        for setting in SupervisorConfiguration.settings { #expect(env[setting.name] == nil, "\(setting.name)") }
        #expect(env["NOTIFY_SOCKET"] == nil && env["PATH"] == "/bin" && env["ECHO_WORKER_SLOT"] == "1")
    }

    /// README.md and docs/operations.md hold the table `echo config-table` prints; regenerate
    /// them with `echo config-table --update README.md docs/operations.md`.
    @Test(arguments: ["README.md", "docs/operations.md"])
    func theDocumentedTableIsTheGeneratedOne(file: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        let table = SettingsDocumentation.markdownTable(SupervisorConfiguration.documentedSettings)
        let regenerated = try #require(SettingsDocumentation.replacingTable(in: text, with: table), "\(file) has no settings markers")
        #expect(regenerated == text, "\(file): the settings table is stale; run echo config-table --update \(file)")
    }
}

@Suite("systemd/echo.env")
struct EnvironmentFileExampleTests {
    /// Every variable the shipped environment file sets or shows (commented out) is a setting, and
    /// every value it sets or shows is one the tables accept: a typo there would be silently ignored.
    @Test func everyVariableIsASettingAndEveryValueIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("systemd/echo.env"), encoding: .utf8)
        let known = Set(SupervisorConfiguration.allSettings.map(\.name))
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            var entry = line.trimmingCharacters(in: .whitespaces)
            if entry.hasPrefix("#") { entry.removeFirst() }
            guard let equals = entry.firstIndex(of: "="), entry[..<equals].allSatisfy({ $0.isUppercase || $0 == "_" }), entry.first != " " else { continue }
            let name = String(entry[..<equals])
            #expect(known.contains(name), "\(name) is not a setting")
            values[name] = String(entry[entry.index(after: equals)...])
        }
        #expect(values.count >= 15)
        _ = try EchoConfiguration(values: values)
        _ = try SupervisorConfiguration(values: values)
    }
}
