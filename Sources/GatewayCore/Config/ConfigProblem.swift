import JSON
/// One thing wrong with a configuration: where (a JSON path such as `cameras[0].source.type`) and why.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible, Error {
    public let path: String
    public let reason: String
    /// The value has the documented shape but cannot be used here (a file that does not exist,
    /// two options that contradict each other): the API answers 422 rather than 400.
    public let isUnusable: Bool

    public init(path: String, reason: String, isUnusable: Bool = false) {
        self.path = path
        self.reason = reason
        self.isUnusable = isUnusable
    }

    public var description: String { "\(path.isEmpty ? "(root)" : path): \(reason)" }
}

/// Every problem found in a configuration, reported together.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public let problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var description: String {
        "configuration has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Formats coding paths the way users write them: `cameras[0].sinks[2].type`.
public enum ConfigPath {
    public static func format(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue, key.stringValue == "Index \(index)" || key.stringValue == "\(index)" {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }
}

struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { intValue = index; stringValue = "\(index)" }
    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { return nil }
}

struct NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension JSONValue: ConfigPlaceholder {
    public static var configPlaceholder: JSONValue { .null }
}
