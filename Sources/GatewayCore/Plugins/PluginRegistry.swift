import JSON
/// The four kinds of plugin, by the `type` string plugins.json names them with.
/// Swift has no self-registration: the executable registers the standard set explicitly.
public struct PluginRegistry: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case source, sink, storage, cache, events = "event"
    }

    /// How to decode one plugin's options and build it.
    struct Entry: Sendable {
        let decode: @Sendable (any Decoder) throws -> any Sendable
        let build: @Sendable (any Sendable, PluginContext, StreamHub?) throws -> any Sendable
    }

    private var entries: [Kind: [String: Entry]] = [:]

    public init() {}

    public mutating func register<S: SourceAdapter>(source: S.Type) {
        add(.source, S.type, S.Configuration.self) { configuration, context, _ in try S(configuration: configuration, context: context) }
    }

    public mutating func register<S: SinkAdapter>(sink: S.Type) {
        add(.sink, S.type, S.Configuration.self) { configuration, context, hub in
            guard let hub else { preconditionFailure("a sink is built with its camera's hub") }
            return try S(configuration: configuration, context: context, hub: hub)
        }
    }

    public mutating func register<E: EventBackendAdapter>(events: E.Type) {
        add(.events, E.type, E.Configuration.self) { configuration, context, _ in try E(configuration: configuration, context: context) }
    }

    public mutating func register<S: StorageAdapter>(storage: S.Type) {
        add(.storage, S.type, S.Configuration.self) { configuration, context, _ in try S(configuration: configuration, context: context) }
    }

    public mutating func register<C: CacheAdapter>(cache: C.Type) {
        add(.cache, C.type, C.Configuration.self) { configuration, context, _ in try C(configuration: configuration, context: context) }
    }

    private mutating func add<C: Decodable & Sendable, P: Sendable>(
        _ kind: Kind, _ type: String, _ configuration: C.Type,
        _ build: @escaping @Sendable (C, PluginContext, StreamHub?) throws -> P
    ) {
        entries[kind, default: [:]][type] = Entry(
            decode: { try C(from: $0) },
            build: { configuration, context, hub in try build(configuration as! C, context, hub) })
    }

    public func knownTypes(_ kind: Kind) -> [String] { (entries[kind] ?? [:]).keys.sorted() }

    func entry(_ kind: Kind, type: String) -> Entry? { entries[kind]?[type] }

    /// Builds the storage backend; a spec without options (the default) gets the plugin's defaults.
    package func buildStorage(_ spec: PluginSpec, context: PluginContext) throws -> (any StorageBackend)? {
        guard let entry = entry(.storage, type: spec.type) else { return nil }
        let configuration = try spec.configuration ?? entry.decode(EmptyObjectDecoder())
        return try entry.build(configuration, context, nil) as? any StorageBackend
    }

    package func build<P>(_ spec: PluginSpec, as product: P.Type, context: PluginContext, hub: StreamHub? = nil) throws -> P? {
        guard let entry = entry(spec.kind, type: spec.type), let configuration = spec.configuration else { return nil }
        return try entry.build(configuration, context, hub) as? P
    }
}

/// One plugin section of plugins.json: `{"type": "...", options...}`, decoded with the options
/// of the plugin that `type` names.
public struct PluginSpec: Sendable {
    public let kind: PluginRegistry.Kind
    public let type: String
    public let configuration: (any Sendable)?
    /// Where it stands in plugins.json, for messages.
    public let path: String
    /// For a source: the options every source has (on demand, transcode).
    public let sourceOptions: SourceOptions
    /// For a storage backend: the options every backend has (`wait_for_seconds`).
    public let storageOptions: StorageOptions
    /// For an event backend: the options every backend has (the spool's bounds).
    public let eventOptions: EventOptions

    public init(kind: PluginRegistry.Kind, type: String, configuration: (any Sendable)?, path: String, sourceOptions: SourceOptions = SourceOptions(),
                storageOptions: StorageOptions = StorageOptions(), eventOptions: EventOptions = EventOptions()) {
        self.kind = kind
        self.type = type
        self.configuration = configuration
        self.path = path
        self.sourceOptions = sourceOptions
        self.storageOptions = storageOptions
        self.eventOptions = eventOptions
    }

    static func decode(_ kind: PluginRegistry.Kind, from decoder: any Decoder) throws -> PluginSpec {
        let container = try decoder.container(keyedBy: NameKey.self)
        let type = try container.decode(String.self, forKey: NameKey("type"))
        let path = ConfigPath.format(decoder.codingPath)
        guard let registry = decoder.userInfo[.pluginRegistry] as? PluginRegistry else {
            throw ConfigProblem(path: path, reason: "no plugin registry to decode a \(kind.rawValue) plugin")
        }
        guard let entry = registry.entry(kind, type: type) else {
            if type.isEmpty {
                try decoder.reportProblem(NameKey("type"), "must name a \(kind.rawValue) type: \(registry.knownTypes(kind).joined(separator: ", "))")
            } else {
                try decoder.reportProblem(NameKey("type"), "unknown \(kind.rawValue) type '\(type)'; known types: \(registry.knownTypes(kind).joined(separator: ", "))")
            }
            // The other options cannot be checked without knowing the plugin.
            for key in container.allKeys { _ = container.contains(key) }
            return PluginSpec(kind: kind, type: type, configuration: nil, path: path)
        }
        let sourceOptions = kind == .source ? try SourceOptions(from: decoder) : SourceOptions()
        let storageOptions = kind == .storage ? try StorageOptions(from: decoder) : StorageOptions()
        let eventOptions = kind == .events ? try EventOptions(from: decoder) : EventOptions()
        return PluginSpec(kind: kind, type: type, configuration: try entry.decode(decoder), path: path, sourceOptions: sourceOptions,
                          storageOptions: storageOptions, eventOptions: eventOptions)
    }
}

/// Marks which registry section a plugin field is decoded from.
public protocol PluginKindMarker { static var kind: PluginRegistry.Kind { get } }
public enum SourcePluginKind: PluginKindMarker { public static var kind: PluginRegistry.Kind { .source } }
public enum SinkPluginKind: PluginKindMarker { public static var kind: PluginRegistry.Kind { .sink } }
public enum StoragePluginKind: PluginKindMarker { public static var kind: PluginRegistry.Kind { .storage } }
public enum CachePluginKind: PluginKindMarker { public static var kind: PluginRegistry.Kind { .cache } }
public enum EventsPluginKind: PluginKindMarker { public static var kind: PluginRegistry.Kind { .events } }

/// A plugin field of a given kind, as it appears in configuration structs.
public struct PluginField<Kind: PluginKindMarker>: Decodable, Sendable, ConfigPlaceholder {
    public let spec: PluginSpec

    public init(spec: PluginSpec) { self.spec = spec }

    public init(from decoder: any Decoder) throws {
        spec = try PluginSpec.decode(Kind.kind, from: decoder)
    }

    public static var configPlaceholder: PluginField {
        PluginField(spec: PluginSpec(kind: Kind.kind, type: "", configuration: nil, path: ""))
    }
}

/// Decodes a plugin's configuration from `{}`: every option at its default.
struct EmptyObjectDecoder: Decoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try ValueDecoder(value: .object(JSONObject()), codingPath: [], log: ProblemLog(), userInfo: [:]).container(keyedBy: type)
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw ConfigProblem(path: "", reason: "expected an object") }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { throw ConfigProblem(path: "", reason: "expected an object") }
}
