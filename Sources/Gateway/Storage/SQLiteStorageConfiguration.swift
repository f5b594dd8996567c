/// Options of the embedded storage backend (`type: "sqlite"`). The backend itself arrives with
/// users and authorization; until then the section is validated only.
public struct SQLiteStorageConfiguration: Decodable, Sendable {
    /// Database file, relative to plugins.json. Default `data/gateway.sqlite`.
    public var path: String

    enum CodingKeys: String, CodingKey { case path }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = decoder.resolvePath(try container.decodeIfPresent(String.self, forKey: .path) ?? "data/gateway.sqlite")
    }
}
