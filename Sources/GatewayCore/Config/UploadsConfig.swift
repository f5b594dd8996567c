/// plugins.json's `uploads` section: video uploads (`POST /api/videos/upload`, the resumable
/// `/api/videos/uploads`, `gateway import`) and their processing.
public struct UploadsConfig: Decodable, Sendable, ConfigPlaceholder {
    /// Largest file accepted, in bytes (413 beyond it). Default 2 GiB.
    public var maxBytes = 2 << 30
    /// Bytes of uploads one user may keep (413 beyond it); 0 for no quota. Admins are exempt. Default 10 GiB.
    public var quotaBytes = 10 << 30
    /// Uploads processed at once (each on a thread of its own). Default 1.
    public var workers = 1
    /// Length of the HLS segments made for uploads. Default 4.
    public var segmentSeconds = 4.0
    /// Hours an unfinished resumable upload is kept before it is removed. Default 24.
    public var resumableHours = 24.0

    enum CodingKeys: String, CodingKey {
        case maxBytes = "max_bytes", quotaBytes = "quota_bytes", workers, segmentSeconds = "segment_seconds", resumableHours = "resumable_hours"
    }

    public init() {}
    public static var configPlaceholder: UploadsConfig { UploadsConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxBytes = try container.decodeIfPresent(Int.self, forKey: .maxBytes) ?? maxBytes
        quotaBytes = try container.decodeIfPresent(Int.self, forKey: .quotaBytes) ?? quotaBytes
        workers = try container.decodeIfPresent(Int.self, forKey: .workers) ?? workers
        segmentSeconds = try container.decodeIfPresent(Double.self, forKey: .segmentSeconds) ?? segmentSeconds
        resumableHours = try container.decodeIfPresent(Double.self, forKey: .resumableHours) ?? resumableHours
        try decoder.requireRange(maxBytes, 1...(1 << 42), CodingKeys.maxBytes)
        try decoder.requireRange(quotaBytes, 0...(1 << 50), CodingKeys.quotaBytes)
        try decoder.requireRange(workers, 1...64, CodingKeys.workers)
        try decoder.requireRange(segmentSeconds, 1...30, CodingKeys.segmentSeconds)
        try decoder.requireRange(resumableHours, 0.01...720, CodingKeys.resumableHours)
    }
}
