#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Reads plugins.json: parse, expand `${VAR}`, decode with the registry's plugins, then check
/// what spans sections (unique ids, known owners). Returns every problem at once.
public struct ConfigLoader: Sendable {
    public let registry: PluginRegistry
    public let environment: [String: String]

    public init(registry: PluginRegistry, environment: [String: String] = ProcessEnvironment.current) {
        self.registry = registry
        self.environment = environment
    }

    public func load(file path: String) -> Result<GatewayConfig, ConfigErrors> {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path)
        } catch {
            return .failure(ConfigErrors([ConfigProblem(path: "", reason: "cannot read \(path): \(error)")]))
        }
        return load(bytes: bytes, baseDirectory: FileIO.directory(of: path))
    }

    public func load(text: String, baseDirectory: String = ".") -> Result<GatewayConfig, ConfigErrors> {
        load(bytes: Array(text.utf8), baseDirectory: baseDirectory)
    }

    public func load(bytes: [UInt8], baseDirectory: String) -> Result<GatewayConfig, ConfigErrors> {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            return .failure(ConfigErrors([ConfigProblem(path: "", reason: "invalid JSON at \(error)")]))
        }
        let expansion = EnvironmentExpansion(environment: environment).expand(document)
        let (decoded, decodingProblems) = ConfigDecoder.decode(
            GatewayConfig.self, from: expansion.value,
            userInfo: [.pluginRegistry: registry, .configBaseDirectory: baseDirectory],
            expandedPaths: expansion.expandedPaths, settledPaths: Set(expansion.problems.map(\.path)))
        var problems = expansion.problems + decodingProblems
        if let decoded { problems += Self.crossCheck(decoded) }
        guard problems.isEmpty, var decoded else {
            return .failure(ConfigErrors(DocumentOrder(document).sorted(problems)))
        }
        decoded.document = expansion.value
        return .success(decoded)
    }

    static func crossCheck(_ config: GatewayConfig) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        var usernames: [String: Int] = [:]
        for (index, user) in config.users.enumerated() where !user.username.isEmpty {
            if let first = usernames[user.username] {
                problems.append(ConfigProblem(path: "users[\(index)].username", reason: "duplicate username '\(user.username)' (also users[\(first)])"))
            } else {
                usernames[user.username] = index
            }
        }
        var ids: [String: Int] = [:]
        for (index, camera) in config.cameras.enumerated() {
            if !camera.id.isEmpty {
                if let first = ids[camera.id] {
                    problems.append(ConfigProblem(path: "cameras[\(index)].id", reason: "duplicate camera id '\(camera.id)' (also cameras[\(first)])"))
                } else {
                    ids[camera.id] = index
                }
            }
            if let owner = camera.owner, usernames[owner] == nil {
                let known = usernames.keys.sorted().joined(separator: ", ")
                problems.append(ConfigProblem(path: "cameras[\(index)].owner",
                                              reason: "unknown owner '\(owner)'; users in this file: \(known.isEmpty ? "none" : known)"))
            }
        }
        if config.cluster != nil {
            if config.storage?.spec.type != "postgres" {
                problems.append(ConfigProblem(path: "cluster", reason: "needs the postgres storage backend (storage.type \"postgres\"): the nodes share its database"))
            }
            if config.auth.jwtSecret.isEmpty {
                problems.append(ConfigProblem(path: "auth.jwt_secret", reason: "must be set (the same on every node) when cluster is on: each node accepts the tokens the others issue"))
            }
        }
        return problems
    }
}

/// Orders problems as their places appear in the file, so a long list reads top to bottom.
struct DocumentOrder {
    private var ordinals: [String: Int] = [:]

    init(_ document: JSONValue) { visit(document, path: []) }

    private mutating func visit(_ value: JSONValue, path: [any CodingKey]) {
        ordinals[ConfigPath.format(path)] = ordinals.count
        switch value {
        case .array(let items): for (index, item) in items.enumerated() { visit(item, path: path + [IndexKey(index)]) }
        case .object(let object): for entry in object.entries { visit(entry.value, path: path + [NameKey(entry.key)]) }
        default: break
        }
    }

    /// The ordinal of the deepest part of `path` that exists in the document.
    private func ordinal(_ path: String) -> Int {
        var candidate = Substring(path)
        while true {
            if let ordinal = ordinals[String(candidate)] { return ordinal }
            guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { return ordinals[""] ?? 0 }
            candidate = candidate[..<cut]
        }
    }

    func sorted(_ problems: [ConfigProblem]) -> [ConfigProblem] {
        problems.enumerated().sorted { lhs, rhs in
            let (left, right) = (ordinal(lhs.element.path), ordinal(rhs.element.path))
            return left != right ? left < right : lhs.offset < rhs.offset
        }.map(\.element)
    }
}

public enum ProcessEnvironment {
    public static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let separator = text.firstIndex(of: "=") {
                result[String(text[..<separator])] = String(text[text.index(after: separator)...])
            }
            pointer += 1
        }
        return result
    }
}
