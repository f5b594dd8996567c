import Foundation
import GatewayCore

extension MQTTEventBackend {
    /// `events: [{"type": "mqtt", "url": "mqtt://host:1883" | "mqtts://host:8883", "topic_prefix": "gateway",
    /// "qos": 1, "client_id", "username", "password", "tls": {"ca_file", "cert_file", "key_file", "insecure"},
    /// "retain_state": true, "service_user": "automation", "keepalive_seconds": 30}]`.
    /// The password may come from the environment (`${MQTT_PASSWORD}`); it is never logged.
    public struct Configuration: Decodable, Sendable {
        public struct TLS: Decodable, Sendable, ConfigPlaceholder {
            /// CA bundle to check the broker with; the system's CAs when absent.
            public var caFile: String?
            /// A client certificate and its key, for brokers that ask for one.
            public var certFile: String?
            public var keyFile: String?
            /// Skip the host name check (a broker reached by IP with a name certificate). Default false.
            public var insecure = false

            enum CodingKeys: String, CodingKey { case caFile = "ca_file", certFile = "cert_file", keyFile = "key_file", insecure }

            public init() {}
            public static var configPlaceholder: TLS { TLS() }

            public init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                caFile = try container.decodeIfPresent(String.self, forKey: .caFile).map(decoder.resolvePath)
                certFile = try container.decodeIfPresent(String.self, forKey: .certFile).map(decoder.resolvePath)
                keyFile = try container.decodeIfPresent(String.self, forKey: .keyFile).map(decoder.resolvePath)
                insecure = try container.decodeIfPresent(Bool.self, forKey: .insecure) ?? insecure
                if (certFile == nil) != (keyFile == nil) {
                    try decoder.reportProblem(certFile == nil ? CodingKeys.certFile : CodingKeys.keyFile, "cert_file and key_file go together")
                }
                for (key, path) in [(CodingKeys.caFile, caFile), (.certFile, certFile), (.keyFile, keyFile)] {
                    if let path, let reason = FileIO.unreadableReason(path) { try decoder.reportProblem(key, "cannot read \(path): \(reason)") }
                }
            }
        }

        public var host = "127.0.0.1"
        public var port = 1883
        public var tls: TLS?
        public var topicPrefix = "gateway"
        public var qos = 1
        public var clientID = "camera-gateway-" + (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "local")
        public var username: String?
        public var password: String?
        /// Publish each camera's state as a retained message. Default true.
        public var retainState = true
        /// The user MQTT commands act as (clip triggers, the recording switch); no commands without it.
        public var serviceUser: String?
        public var keepaliveSeconds = 30

        enum CodingKeys: String, CodingKey {
            case url, topicPrefix = "topic_prefix", qos, clientID = "client_id", username, password, tls, retainState = "retain_state"
            case serviceUser = "service_user", keepaliveSeconds = "keepalive_seconds"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let url = try container.decode(String.self, forKey: .url)
            topicPrefix = try container.decodeIfPresent(String.self, forKey: .topicPrefix) ?? topicPrefix
            qos = try container.decodeIfPresent(Int.self, forKey: .qos) ?? qos
            clientID = try container.decodeIfPresent(String.self, forKey: .clientID) ?? clientID
            let username = try container.decodeIfPresent(String.self, forKey: .username)
            let password = try container.decodeIfPresent(String.self, forKey: .password)
            let tls = try container.decodeIfPresent(TLS.self, forKey: .tls)
            retainState = try container.decodeIfPresent(Bool.self, forKey: .retainState) ?? retainState
            serviceUser = try container.decodeIfPresent(String.self, forKey: .serviceUser)
            keepaliveSeconds = try container.decodeIfPresent(Int.self, forKey: .keepaliveSeconds) ?? keepaliveSeconds
            if let problem = apply(url: url) { try decoder.reportProblem(CodingKeys.url, problem) }
            self.username = username ?? self.username
            self.password = password ?? self.password
            if let tls { self.tls = tls }
            if let problem = Self.topicProblem(topicPrefix) { try decoder.reportProblem(CodingKeys.topicPrefix, problem) }
            try decoder.requireRange(qos, 0...2, CodingKeys.qos)
            if clientID.isEmpty || clientID.utf8.count > 128 { try decoder.reportProblem(CodingKeys.clientID, "must be 1-128 bytes") }
            if serviceUser?.isEmpty == true { try decoder.reportProblem(CodingKeys.serviceUser, "must name a user") }
            try decoder.requireRange(keepaliveSeconds, 5...3600, CodingKeys.keepaliveSeconds)
        }

        /// `mqtt://[user[:password]@]host[:port]` or `mqtts://…` (TLS, port 8883 by default).
        mutating func apply(url text: String) -> String? {
            guard let components = URLComponents(string: text), let scheme = components.scheme, ["mqtt", "mqtts"].contains(scheme),
                  let host = components.host, !host.isEmpty else {
                return "must be an mqtt://host[:port] or mqtts://host[:port] URL"
            }
            self.host = host
            port = scheme == "mqtts" ? 8883 : 1883
            if let port = components.port {
                guard (1...65_535).contains(port) else { return "port must be 1-65535" }
                self.port = port
            }
            if scheme == "mqtts", tls == nil { tls = TLS() }
            if let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty { username = user }
            if let secret = components.percentEncodedPassword?.removingPercentEncoding { password = secret }
            return nil
        }

        /// Levels of letters, digits, `_`, `-` and `.`, separated by `/`.
        static func topicProblem(_ prefix: String) -> String? {
            let levels = prefix.split(separator: "/", omittingEmptySubsequences: false)
            guard !prefix.isEmpty, prefix.utf8.count <= 200,
                  levels.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) } }) else {
                return "must be topic levels of letters, digits, '_', '-' or '.', separated by '/' (no wildcards, no empty level)"
            }
            return nil
        }
    }
}
