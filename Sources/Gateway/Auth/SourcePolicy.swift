import GatewayCore
import JSON
/// Whether a user who is not an admin may give a camera this source and these sinks
/// (plugins.json's `sources` section). Runs on the definition as written, before it is
/// validated, so that a refused source is never opened, probed or checked on disk — and the
/// answer reveals nothing about the server (whether a path exists, what a name resolves to).
/// Admins and plugins.json are not subject to it.
public struct SourcePolicy: Sendable {
    public let config: SourcePolicyConfig

    public init(config: SourcePolicyConfig) { self.config = config }

    /// HTTP input formats a non-admin may name: live camera formats whose demuxers open no
    /// other URL (no playlists, no concat lists, no image sequences).
    public static let userHTTPFormats = ["auto", "mjpeg", "mpegts", "flv", "h264", "hevc"]
    /// URL schemes each user source type accepts.
    static let schemes = ["rtsp": ["rtsp", "rtsps"], "http": ["http", "https"]]
    /// The transcode options a non-admin may give, with the values they may give them.
    static let userTranscode: [String: [JSONValue]] = ["mode": [.string("auto"), .string("never")]]
    /// The clip buffer a non-admin may hold in memory per camera (the default).
    static let userClipBufferBytes = 256 << 20

    /// Every reason the definition is refused, each with its JSON path; empty when allowed.
    /// Resolves the source's host (blocking DNS, on a thread of its own).
    /// Types not in `knownTypes` are left to validation, which names the known ones.
    public func problems(source: JSONValue?, sinks: JSONValue?, knownTypes: Set<String>) async -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if let source { problems += await sourceProblems(source, knownTypes: knownTypes) }
        if case .array(let items)? = sinks {
            for (index, sink) in items.enumerated() {
                let path = "sinks[\(index)]"
                if sink.given("directory") {
                    problems.append(ConfigProblem(path: path + ".directory", reason: "only admins may choose where a sink writes"))
                }
                if case .string("directory")? = sink["storage"] {
                    problems.append(ConfigProblem(path: path + ".storage", reason: "only admins may store a sink's files in a directory"))
                }
                if sink.given("max_buffer_bytes"), (sink["max_buffer_bytes"]?.integer ?? .max) > Self.userClipBufferBytes {
                    problems.append(ConfigProblem(path: path + ".max_buffer_bytes", reason: "may be at most \(Self.userClipBufferBytes) for cameras a user creates"))
                }
            }
        }
        return problems
    }

    private func sourceProblems(_ source: JSONValue, knownTypes: Set<String>) async -> [ConfigProblem] {
        // Validation names what is missing or unknown.
        guard case .string(let type)? = source["type"], knownTypes.contains(type) else { return [] }
        guard config.userTypes.contains(type) else {
            let allowed = config.userTypes.isEmpty ? "none" : config.userTypes.joined(separator: ", ")
            return [ConfigProblem(path: "source.type", reason: "only admins may create '\(type)' sources (users may create: \(allowed))")]
        }
        var problems: [ConfigProblem] = []
        if case .object(let transcode)? = source["transcode"] {
            for (key, value) in transcode.entries where value != .null && !(Self.userTranscode[key]?.contains(value) ?? false) {
                problems.append(ConfigProblem(path: "source.transcode.\(key)", reason: "only admins may change transcoding"))
            }
        } else if source.given("transcode") {
            problems.append(ConfigProblem(path: "source.transcode", reason: "only admins may change transcoding"))
        }
        if type == "http", case .string(let format)? = source["format"], !Self.userHTTPFormats.contains(format) {
            problems.append(ConfigProblem(path: "source.format", reason: "users may choose \(Self.userHTTPFormats.joined(separator: ", "))"))
        }
        guard case .string(let text)? = source["url"] else { return problems }
        guard let url = SourceURL(text), Self.schemes[type]?.contains(url.scheme) == true else {
            return problems + [ConfigProblem(path: "source.url", reason: "must be a \((Self.schemes[type] ?? []).joined(separator: " or ")) URL with a host")]
        }
        let destinations = config.destinations
        let refusal: DestinationRefusal? = try? await BlockingThread.run(name: "source-policy", onCancel: {}) { () -> DestinationRefusal? in
            do {
                _ = try destinations.resolve(host: url.host, port: url.port)
                return nil
            } catch let refusal as DestinationRefusal {
                return refusal
            }
        }
        if let refusal { problems.append(ConfigProblem(path: "source.url", reason: refusal.description)) }
        return problems
    }
}
