import JSON
/// A value that stands in for a field that could not be decoded, so decoding can go on and
/// report the problems of the other fields too.
public protocol ConfigPlaceholder {
    static var configPlaceholder: Self { get }
}

/// A string enum in a configuration; its error message lists the allowed values.
public protocol ConfigEnum: CaseIterable, RawRepresentable, Decodable, ConfigPlaceholder where RawValue == String {}

extension ConfigEnum {
    public static var configPlaceholder: Self { allCases.first! }
}

extension String: ConfigPlaceholder { public static var configPlaceholder: String { "" } }
extension Int: ConfigPlaceholder { public static var configPlaceholder: Int { 0 } }
extension Double: ConfigPlaceholder { public static var configPlaceholder: Double { 0 } }
extension Bool: ConfigPlaceholder { public static var configPlaceholder: Bool { false } }
extension Array: ConfigPlaceholder { public static var configPlaceholder: [Element] { [] } }
extension Dictionary: ConfigPlaceholder { public static var configPlaceholder: [Key: Value] { [:] } }
extension Optional: ConfigPlaceholder { public static var configPlaceholder: Wrapped? { nil } }

extension CodingUserInfoKey {
    static let configProblemLog = CodingUserInfoKey(rawValue: "gateway.config.problems")!
    /// The directory relative paths in the configuration are resolved against.
    public static let configBaseDirectory = CodingUserInfoKey(rawValue: "gateway.config.baseDirectory")!
    /// The `PluginRegistry` that plugin sections are decoded with.
    public static let pluginRegistry = CodingUserInfoKey(rawValue: "gateway.config.pluginRegistry")!
}

extension Decoder {
    /// Reports a problem with the option `key` of the object being decoded. With the gateway's
    /// configuration decoder the problem is collected and decoding goes on; with any other
    /// decoder it is thrown.
    public func reportProblem(_ key: some CodingKey, _ reason: String) throws {
        try report(key, reason, unusable: false)
    }

    /// Reports a value of the right shape that cannot be used (a missing file, options that
    /// contradict each other): what no schema can say, answered 422 by the API.
    public func reportUnusable(_ key: some CodingKey, _ reason: String) throws {
        try report(key, reason, unusable: true)
    }

    private func report(_ key: some CodingKey, _ reason: String, unusable: Bool) throws {
        let path = ConfigPath.format(codingPath + [key])
        if let log = userInfo[.configProblemLog] as? ProblemLog {
            log.report(path, reason, unusable: unusable)
        } else {
            throw ConfigProblem(path: path, reason: reason, isUnusable: unusable)
        }
    }

    /// Reports `key` unless `value` (when there is one) lies within `range`: every number from
    /// outside gets bounds, so that no later arithmetic on it can overflow.
    public func requireRange<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, _ key: some CodingKey) throws {
        guard let value, !range.contains(value) else { return }
        func text(_ bound: T) -> String {
            if let number = bound as? Double, number.rounded() == number, abs(number) < 1e15 { return String(Int(number)) }
            return "\(bound)"
        }
        try reportProblem(key, "must be between \(text(range.lowerBound)) and \(text(range.upperBound))")
    }

    /// Resolves a path from the configuration against the configuration file's directory.
    public func resolvePath(_ path: String) -> String {
        guard !path.hasPrefix("/"), let base = userInfo[.configBaseDirectory] as? String, !base.isEmpty else { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}

/// Problems found so far; shared by every decoder of one configuration.
final class ProblemLog {
    var problems: [ConfigProblem] = []
    var expandedPaths: Set<String> = []
    /// Paths already reported (a failed `${VAR}`); further complaints about them are noise.
    var settledPaths: Set<String> = []
    func report(_ path: String, _ reason: String, unusable: Bool = false) {
        guard !settledPaths.contains(path) else { return }
        problems.append(ConfigProblem(path: path, reason: reason, isUnusable: unusable))
    }
}

/// Thrown after a problem has been reported, to abandon a value that has no placeholder.
struct ConfigDecodingAbort: Error {}

/// A `Decoder` over `JSONValue` that collects every problem instead of stopping at the first:
/// a field that cannot be decoded is reported and replaced by a placeholder, and options nobody
/// asked for are reported as unknown.
public enum ConfigDecoder {
    public static func decode<T: Decodable>(
        _ type: T.Type, from value: JSONValue, userInfo: [CodingUserInfoKey: any Sendable] = [:],
        expandedPaths: Set<String> = [], settledPaths: Set<String> = []
    ) -> (value: T?, problems: [ConfigProblem]) {
        let log = ProblemLog()
        log.expandedPaths = expandedPaths
        log.settledPaths = settledPaths
        var info: [CodingUserInfoKey: Any] = userInfo
        info[.configProblemLog] = log
        let root = ValueDecoder(value: value, codingPath: [], log: log, userInfo: info)
        let result = try? root.decodeChild(T.self, value: value, codingPath: [])
        return (result, log.problems)
    }
}

final class ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let log: ProblemLog
    let userInfo: [CodingUserInfoKey: Any]
    /// Keys any keyed container of this value was asked about; nil when none was made.
    var requestedKeys: Set<String>?

    init(value: JSONValue, codingPath: [any CodingKey], log: ProblemLog, userInfo: [CodingUserInfoKey: Any]) {
        self.value = value
        self.codingPath = codingPath
        self.log = log
        self.userInfo = userInfo
    }

    var pathString: String { ConfigPath.format(codingPath) }

    func mismatch(_ expected: String) -> ConfigDecodingAbort {
        log.report(pathString, "expected \(expected), got \(value.kindDescription)")
        return ConfigDecodingAbort()
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch("an object") }
        if requestedKeys == nil { requestedKeys = [] }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, object: object))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch("an array") }
        return UnkeyedContainer(decoder: self, array: array)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    func child(_ value: JSONValue, _ key: any CodingKey) -> ValueDecoder {
        ValueDecoder(value: value, codingPath: codingPath + [key], log: log, userInfo: userInfo)
    }

    static func placeholder<T>(_ type: T.Type) throws -> T {
        if let provider = T.self as? any ConfigPlaceholder.Type, let value = provider.configPlaceholder as? T { return value }
        throw ConfigDecodingAbort()
    }

    /// Decodes `value` as `T` at `codingPath`, reporting instead of throwing where it can.
    func decodeChild<T: Decodable>(_ type: T.Type, value: JSONValue, codingPath: [any CodingKey]) throws -> T {
        if T.self == JSONValue.self { return value as! T }
        let decoder = ValueDecoder(value: value, codingPath: codingPath, log: log, userInfo: userInfo)
        if let enumType = T.self as? any ConfigEnum.Type {
            return try decoder.decodeEnum(enumType) as! T
        }
        do {
            let result = try T(from: decoder)
            decoder.reportUnknownKeys()
            return result
        } catch is ConfigDecodingAbort {
            return try Self.placeholder(T.self)
        } catch let error as ConfigProblem {
            log.report(error.path, error.reason)
            return try Self.placeholder(T.self)
        } catch {
            log.report(decoder.pathString, Self.describe(error))
            return try Self.placeholder(T.self)
        }
    }

    private func decodeEnum<E: ConfigEnum>(_ type: E.Type) throws -> E {
        let allowed = E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        guard case .string(let text) = value else { throw mismatch("one of \(allowed)") }
        if let match = E(rawValue: text) { return match }
        log.report(pathString, "'\(text)' is not one of \(allowed)")
        return E.configPlaceholder
    }

    func reportUnknownKeys() {
        guard let requestedKeys, case .object(let object) = value else { return }
        let known = requestedKeys.sorted()
        for key in object.keys where !requestedKeys.contains(key) {
            var reason = "unknown option '\(key)'"
            if let suggestion = known.min(by: { editDistance($0, key) < editDistance($1, key) }),
               editDistance(suggestion, key) <= max(2, key.count / 3) {
                reason += "; did you mean '\(suggestion)'?"
            } else if !known.isEmpty {
                reason += "; known options: \(known.joined(separator: ", "))"
            }
            log.report(ConfigPath.format(codingPath + [NameKey(key)]), reason)
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.typeMismatch(_, let context): return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing required option '\(key.stringValue)'"
        case DecodingError.valueNotFound(_, let context): return context.debugDescription
        default: return "\(error)"
        }
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
