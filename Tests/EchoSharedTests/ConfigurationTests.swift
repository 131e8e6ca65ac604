@testable import EchoShared
import Testing

@Suite struct ConfigurationTests {
    @Test func flagsBeatEnvironmentBeatDefaults() throws {
        let options = try EchoOptions.parse(["--port", "9000"])
        let configuration = try options.configuration(environment: ["PORT": "7000", "ECHO_RATE_LIMIT": "5", "ECHO_ENV": "production"])
        #expect(configuration.port == 9000)
        #expect(configuration.rateLimitPerMinute == 5)
        #expect(configuration.logFormat == .json)
        #expect(configuration.historyLimit == 50)
    }

    @Test func roundTripsThroughWorkerEnvironment() throws {
        let configuration = try EchoConfiguration(values: ["ECHO_TRUSTED_PROXIES": "10.0.0.0/8, ::1", "REDIS_URL": "redis://h:1/2", "ECHO_ROOM_TTL": "60"])
        #expect(try EchoConfiguration(values: configuration.environment) == configuration)
    }

    @Test func refusesBadValues() {
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["PORT": "http"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_TRUSTED_PROXIES": "everyone"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["REDIS_URL": "mysql://x"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_LOG_FORMAT": "xml"]) }
    }
}

@Suite struct ConfigurationSourceTests {
    @Test func emptyMeansUnset() throws {
        let source = ConfigurationSource(["A": "2.5", "B": "", "C": "7"])
        #expect(try source.seconds("A", in: 0...10) == .milliseconds(2500))
        #expect(source.string("B") == nil)
        #expect(try source.int("C", in: 0...10) == 7)
        #expect(try source.int("missing", in: 0...10) == nil)
    }

    @Test func badValuesNameTheirKey() {
        let source = ConfigurationSource(["N": "eleven", "S": "99"])
        #expect(throws: ConfigurationError.self) { try source.int("N", in: 0...100) }
        do {
            _ = try source.seconds("S", in: 0...10)
            Issue.record("accepted an out-of-range value")
        } catch let error as ConfigurationError {
            #expect(error.key == "S")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
