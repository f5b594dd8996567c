/// Options every source accepts beside its own (`on_demand`, `idle_timeout`, `transcode`); they
/// are read by the camera's supervisor, not by the adapter.
public struct SourceOptions: Decodable, Sendable, ConfigPlaceholder {
    /// Connect only while someone watches or records; default false.
    public var onDemand = false
    /// Seconds an on-demand source stays connected after its last viewer left. Default 30.
    public var idleTimeout: Double = 30
    public var transcode = TranscodeOptions()

    enum CodingKeys: String, CodingKey { case onDemand = "on_demand", idleTimeout = "idle_timeout", transcode }

    public init() {}
    public static var configPlaceholder: SourceOptions { SourceOptions() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        onDemand = try container.decodeIfPresent(Bool.self, forKey: .onDemand) ?? onDemand
        idleTimeout = try container.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? idleTimeout
        transcode = try container.decodeIfPresent(TranscodeOptions.self, forKey: .transcode) ?? transcode
        if idleTimeout <= 0 { try decoder.reportProblem(CodingKeys.idleTimeout, "must be positive") }
    }
}
