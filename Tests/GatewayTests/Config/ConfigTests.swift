import Gateway
import GatewayCore
import JSON
import SocketIO
import SourcesFile
import StandardPlugins
import Testing

/// The registry a gateway binary has.
func standardRegistry() -> PluginRegistry { StandardPlugins.registry }

@Suite struct ConfigTests {
    func load(_ text: String, environment: [String: String] = [:]) -> Result<GatewayConfig, ConfigErrors> {
        ConfigLoader(registry: standardRegistry(), environment: environment).load(text: text, baseDirectory: TestMedia.directory)
    }

    func problems(_ text: String, environment: [String: String] = [:]) -> [ConfigProblem] {
        switch load(text, environment: environment) {
        case .success: return []
        case .failure(let errors): return errors.problems
        }
    }

    @Test func theRepositoryPluginsJSONShapeIsValid() async throws {
        let clip = try await TestMedia.clip()
        let text = """
        { "server": {"host": "127.0.0.1", "port": 8080, "data_dir": "data", "cors_origins": ["*"]},
          "auth": {"jwt_secret": "${GATEWAY_JWT_SECRET:-}", "token_ttl_seconds": 3600, "allow_registration": true},
          "users": [{"username": "admin", "password": "${GATEWAY_ADMIN_PASSWORD:-}", "role": "admin"}],
          "storage": {"type": "sqlite", "path": "data/gateway.sqlite"},
          "events": [{"type": "log"}],
          "cameras": [{"id": "demo", "name": "Demo camera", "owner": "admin",
                       "source": {"type": "file", "path": "\(clip)", "loop": true},
                       "sinks": [{"type": "websocket"}, {"type": "hls"}, {"type": "clipper", "pre_seconds": 30, "post_seconds": 30}]}] }
        """
        let config = try load(text).get()
        #expect(config.cameras.map(\.id) == ["demo"])
        #expect(config.cameras[0].sinks.map(\.spec.type) == ["websocket", "hls", "clipper"])
        #expect(config.users[0].role == .admin)
        #expect(config.auth.jwtSecret == "")
        #expect(config.server.dataDirectory == TestMedia.directory + "/data")
        let source = try #require(config.cameras[0].source.spec.configuration as? FileSource.Configuration)
        #expect(source.loop)
        #expect(source.path == clip)
    }

    @Test func reportsEveryProblemTogetherWithItsPath() {
        let found = problems("""
        {"server": {"port": "eighty", "hots": "0.0.0.0"},
         "users": [{"username": "admin", "role": "root"}],
         "events": [{"type": "mqt"}],
         "cameras": [
           {"id": "a", "owner": "bob", "source": {"type": "file", "path": "missing.mp4"},
            "sinks": [{"type": "hls", "window": "six"}, {"type": "clipper", "pre_second": 10}]},
           {"id": "a", "source": {"type": "webcam"}},
           {"id": "b"}
         ]}
        """)
        let byPath = Dictionary(grouping: found, by: \.path).mapValues { $0.map(\.reason) }
        #expect(byPath["server.port"] == ["expected an integer, got a string"])
        #expect(byPath["server.hots"]?.first?.contains("did you mean 'host'") == true)
        #expect(byPath["users[0].role"] == ["'root' is not one of 'user', 'admin'"])
        #expect(byPath["events[0].type"]?.first?.contains("known types: log") == true)
        #expect(byPath["cameras[0].owner"]?.first?.contains("unknown owner 'bob'") == true)
        #expect(byPath["cameras[0].source.path"]?.first?.contains("no such file") == true)
        #expect(byPath["cameras[0].sinks[0].window"] == ["expected an integer, got a string"])
        #expect(byPath["cameras[0].sinks[1].pre_second"]?.first?.contains("did you mean 'pre_seconds'") == true)
        #expect(byPath["cameras[1].id"]?.first?.contains("duplicate camera id 'a'") == true)
        #expect(byPath["cameras[1].source.type"] == ["unknown source type 'webcam'; known types: file, http, rtsp, usb"])
        #expect(byPath["cameras[2].source"] == ["missing required option 'source'"])
        #expect(found.count == 11)
        // In the order of the file.
        #expect(found.first?.path == "server.port")
        #expect(found.last?.path == "cameras[2].source")
    }

    @Test func expandsEnvironmentVariablesAnywhereInAString() async throws {
        let clip = try await TestMedia.clip()
        let config = try load("""
        {"server": {"host": "${HOST}", "port": "${PORT:-9000}", "data_dir": "${DATA:-/var/lib/${NAME:-x}}"},
         "auth": {"jwt_secret": "prefix-${SECRET}-suffix", "allow_registration": "${OPEN:-false}"},
         "cameras": [{"id": "c", "source": {"type": "file", "path": "\(clip)"}}],
         "users": [{"username": "admin", "password": "$${NOT_A_VARIABLE}"}]}
        """, environment: ["HOST": "0.0.0.0", "SECRET": "0123456789abcdef0123456789abcdef", "DATA": ""]).get()
        #expect(config.server.host == "0.0.0.0")
        #expect(config.server.port == 9000)
        #expect(config.auth.jwtSecret == "prefix-0123456789abcdef0123456789abcdef-suffix")
        #expect(config.auth.allowRegistration == false)
        #expect(config.users[0].password == "${NOT_A_VARIABLE}")
    }

    @Test func unsetVariableWithoutDefaultIsAProblem() {
        let found = problems(#"{"auth": {"jwt_secret": "${MISSING_SECRET}"}}"#)
        #expect(found == [ConfigProblem(path: "auth.jwt_secret",
                                        reason: "environment variable MISSING_SECRET is not set (write ${MISSING_SECRET:-default} to allow that)")])
    }

    @Test func numbersFromTheEnvironmentAreCheckedToo() {
        let found = problems(#"{"server": {"port": "${PORT}"}}"#, environment: ["PORT": "http"])
        #expect(found.map(\.path) == ["server.port"])
    }

    @Test func invalidJSONNamesLineAndColumn() {
        let found = problems("{\n \"server\": {\"port\": 80,}\n}")
        #expect(found.count == 1)
        #expect(found.first?.reason.contains("line 2") == true)
    }

    @Test func unreadableConfigFileIsReported() {
        let result = ConfigLoader(registry: standardRegistry(), environment: [:]).load(file: "/nonexistent/plugins.json")
        guard case .failure(let errors) = result else { Issue.record("loaded a missing file"); return }
        #expect(errors.problems.first?.reason.contains("cannot read /nonexistent/plugins.json") == true)
    }

    @Test func validOptionValuesAreRangeChecked() {
        let found = problems("""
        {"server": {"port": 70000}, "auth": {"jwt_secret": "short", "token_ttl_seconds": 0},
         "cameras": [{"id": "x", "source": {"type": "file", "path": "\(TestMedia.directory)"},
                      "sinks": [{"type": "hls", "part_duration": 5}, {"type": "recorder", "part_duration": 0}]}]}
        """)
        #expect(Set(found.map(\.path)) == ["server.port", "auth.jwt_secret", "auth.token_ttl_seconds", "cameras[0].source.path",
                                          "cameras[0].sinks[0].part_duration", "cameras[0].sinks[1].part_duration"])
        #expect(found.first { $0.path == "cameras[0].source.path" }?.reason.contains("is a directory") == true)
    }
}

@Suite struct EventBackendConfigTests {
    func problems(_ text: String) -> [String] {
        switch ConfigLoader(registry: standardRegistry(), environment: ["MQTT_SECRET": "s3cret"]).load(text: text, baseDirectory: TestMedia.directory) {
        case .success: return []
        case .failure(let errors): return errors.problems.map { "\($0.path): \($0.reason)" }
        }
    }

    @Test func mqttOptionsAreCheckedAllAtOnceWithTheirPaths() {
        let found = problems(#"""
        {"events": [{"type": "mqtt", "url": "http://broker", "qos": 3, "topic_prefix": "a/+/b", "keepalive_seconds": 1,
                     "tls": {"cert_file": "/nonexistent.pem"}, "spool_max_events": 0, "colour": "blue"}]}
        """#)
        for expected in ["events[0].url: must be an mqtt://", "events[0].qos: must be between 0 and 2", "events[0].topic_prefix: must be topic levels",
                         "events[0].keepalive_seconds: must be between 5 and 3600", "events[0].tls.key_file: cert_file and key_file go together",
                         "events[0].tls.cert_file: cannot read /nonexistent.pem", "events[0].spool_max_events: must be between 1",
                         "events[0].colour: unknown"] {
            #expect(found.contains { $0.hasPrefix(expected) }, "\(expected) in \(found)")
        }
    }

    @Test func aValidMQTTSectionLoadsWithItsCredentialsFromTheEnvironment() throws {
        #expect(problems(#"{"events": [{"type": "mqtt", "url": "mqtts://gateway:${MQTT_SECRET}@broker.example:8883", "service_user": "automation"}]}"#) == [])
        #expect(problems(#"{"events": [{"type": "log"}, {"type": "mqtt", "url": "mqtt://127.0.0.1", "topic_prefix": "site-1/gateway", "qos": 0}]}"#) == [])
    }
}
