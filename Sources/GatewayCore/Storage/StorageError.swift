/// The storage layer's one error type.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A unique key is taken (username, camera id, video id).
        case conflict
        /// A referenced row does not exist (a grant for an unknown camera or user).
        case missingReference
        /// A value the backend cannot store (PostgreSQL: a NUL character in text).
        case invalidValue
        case unavailable
        case corrupt
    }

    public let code: Code
    public let component: String
    public let message: String

    public init(_ code: Code, component: String, _ message: String) {
        self.code = code
        self.component = component
        self.message = message
    }

    public var description: String { "\(component): \(message)" }
}
