import JSON
/// Expands `${NAME}` and `${NAME:-default}` in every string of a configuration document.
/// `$${` stands for a literal `${`. An unset variable without a default is a problem, not an
/// empty string: a missing secret should stop the gateway, not weaken it.
public struct EnvironmentExpansion {
    public let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    public struct Result {
        public var value: JSONValue
        public var problems: [ConfigProblem]
        /// Paths of strings that contained a reference; those may stand for numbers or booleans.
        public var expandedPaths: Set<String>
    }

    public func expand(_ value: JSONValue) -> Result {
        var result = Result(value: value, problems: [], expandedPaths: [])
        result.value = expand(value, path: [], into: &result)
        return result
    }

    private func expand(_ value: JSONValue, path: [any CodingKey], into result: inout Result) -> JSONValue {
        switch value {
        case .string(let text) where text.contains("$"):
            let pathString = ConfigPath.format(path)
            switch expandString(text) {
            case .success(let (expanded, hadReference)):
                if hadReference { result.expandedPaths.insert(pathString) }
                return .string(expanded)
            case .failure(let problem):
                result.problems.append(ConfigProblem(path: pathString, reason: problem.reason))
                return value
            }
        case .array(let items):
            return .array(items.enumerated().map { expand($1, path: path + [IndexKey($0)], into: &result) })
        case .object(let object):
            return .object(JSONObject(object.entries.map { ($0.key, expand($0.value, path: path + [NameKey($0.key)], into: &result)) }))
        default:
            return value
        }
    }

    struct Failure: Error { let reason: String }

    func expandString(_ text: String) -> Swift.Result<(String, Bool), Failure> {
        var output = ""
        var hadReference = false
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            let afterDollar = rest[rest.index(after: dollar)...]
            if afterDollar.hasPrefix("${") {
                output += "${"
                rest = afterDollar.dropFirst(2)
                continue
            }
            guard afterDollar.hasPrefix("{") else {
                output += "$"
                rest = afterDollar
                continue
            }
            guard let close = afterDollar.firstIndex(of: "}") else {
                return .failure(Failure(reason: "unterminated '${' in \"\(text)\""))
            }
            let body = afterDollar[afterDollar.index(after: afterDollar.startIndex)..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = body.range(of: ":-") {
                name = body[..<separator.lowerBound]
                fallback = body[separator.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }), !name.first!.isNumber else {
                return .failure(Failure(reason: "invalid variable name '\(name)' in \"\(text)\""))
            }
            hadReference = true
            if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                return .failure(Failure(reason: "environment variable \(name) is not set (write ${\(name):-default} to allow that)"))
            }
            rest = afterDollar[afterDollar.index(after: close)...]
        }
        output += rest
        return .success((output, hadReference))
    }
}
