/// plugins.json's `limits` section: the work one user can make the gateway do at once. Admins
/// are exempt from the per-user limits.
public struct LimitsConfig: Decodable, Sendable, ConfigPlaceholder {
    /// Cameras a user who is not an admin may own. Default 20.
    public var camerasPerUser = 20
    /// Clips being written at once on one camera (each holds a file open and follows the
    /// camera until its post-roll). Default 4.
    public var clipJobsPerCamera = 4
    /// Clips being written at once that one user asked for, across cameras. Default 8.
    public var clipJobsPerUser = 8
    /// Recording playbacks (stitched ranges, Socket.IO `playVideo`) running at once in all. Default 8.
    public var playbacks = 8
    /// … and for one user. Default 2.
    public var playbacksPerUser = 2

    enum CodingKeys: String, CodingKey {
        case camerasPerUser = "cameras_per_user", clipJobsPerCamera = "clip_jobs_per_camera", clipJobsPerUser = "clip_jobs_per_user"
        case playbacks, playbacksPerUser = "playbacks_per_user"
    }

    public init() {}
    public static var configPlaceholder: LimitsConfig { LimitsConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        camerasPerUser = try container.decodeIfPresent(Int.self, forKey: .camerasPerUser) ?? camerasPerUser
        clipJobsPerCamera = try container.decodeIfPresent(Int.self, forKey: .clipJobsPerCamera) ?? clipJobsPerCamera
        clipJobsPerUser = try container.decodeIfPresent(Int.self, forKey: .clipJobsPerUser) ?? clipJobsPerUser
        playbacks = try container.decodeIfPresent(Int.self, forKey: .playbacks) ?? playbacks
        playbacksPerUser = try container.decodeIfPresent(Int.self, forKey: .playbacksPerUser) ?? playbacksPerUser
        try decoder.requireRange(camerasPerUser, 0...100_000, CodingKeys.camerasPerUser)
        try decoder.requireRange(clipJobsPerCamera, 1...1000, CodingKeys.clipJobsPerCamera)
        try decoder.requireRange(clipJobsPerUser, 1...10_000, CodingKeys.clipJobsPerUser)
        try decoder.requireRange(playbacks, 1...1000, CodingKeys.playbacks)
        try decoder.requireRange(playbacksPerUser, 1...1000, CodingKeys.playbacksPerUser)
    }
}
