/// Options every source accepts beside its own (`on_demand`, `idle_timeout`, `retry_initial`,
/// `retry_max`, `transcode`); the camera's supervisor reads them, not the adapter.
public struct SourceOptions: Decodable, Sendable, ConfigPlaceholder {
    /// Connect only while someone watches or records; default false.
    public var onDemand = false
    /// Seconds an on-demand source stays connected after its last viewer left. Default 30.
    public var idleTimeout: Double = 30
    /// Seconds before the first retry of a failed source; doubles each time, with ±20 % jitter.
    /// Default 1.
    public var retryInitial: Double?
    /// Longest wait between retries, in seconds. Default 30.
    public var retryMax: Double?
    public var transcode = TranscodeOptions()

    enum CodingKeys: String, CodingKey {
        case onDemand = "on_demand", idleTimeout = "idle_timeout", retryInitial = "retry_initial", retryMax = "retry_max", transcode
    }

    public init() {}
    public static var configPlaceholder: SourceOptions { SourceOptions() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        onDemand = try container.decodeIfPresent(Bool.self, forKey: .onDemand) ?? onDemand
        idleTimeout = try container.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? idleTimeout
        retryInitial = try container.decodeIfPresent(Double.self, forKey: .retryInitial)
        retryMax = try container.decodeIfPresent(Double.self, forKey: .retryMax)
        transcode = try container.decodeIfPresent(TranscodeOptions.self, forKey: .transcode) ?? transcode
        try decoder.requireRange(idleTimeout, 0.1...86_400, CodingKeys.idleTimeout)
        if let retryInitial, !(0.05...3600).contains(retryInitial) { try decoder.reportProblem(CodingKeys.retryInitial, "must be between 0.05 and 3600") }
        if let retryMax, !(0.05...3600).contains(retryMax) {
            try decoder.reportProblem(CodingKeys.retryMax, "must be between retry_initial and 3600")
        } else if let retryMax, retryMax < (retryInitial ?? 0) {
            try decoder.reportUnusable(CodingKeys.retryMax, "must be between retry_initial and 3600")
        }
    }

    /// `policy` with these retry delays.
    public func applied(to policy: CameraSupervisor.Policy) -> CameraSupervisor.Policy {
        var policy = policy
        if let retryInitial { policy.backoff.initial = .milliseconds(Int64(retryInitial * 1000)) }
        if let retryMax { policy.backoff.maximum = .milliseconds(Int64(retryMax * 1000)) }
        return policy
    }
}
