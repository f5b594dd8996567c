/// Copies everything one storage backend holds into another: users (password hashes as they
/// are), cameras, grants and video records. Idempotent: what the target already holds the same
/// is counted as present and left; a record that differs is updated; a user whose name the target
/// already has keeps the target's account.
public enum StorageTransfer {
    public struct Counts: Sendable, Equatable, CustomStringConvertible {
        public var copied = 0
        public var present = 0
        public init(copied: Int = 0, present: Int = 0) {
            self.copied = copied
            self.present = present
        }
        public var description: String { "\(copied) copied, \(present) already there" }
    }

    public struct Report: Sendable, Equatable {
        public var users = Counts(), cameras = Counts(), grants = Counts(), videos = Counts()
    }

    /// `progress(what, done, total)` after each record.
    public static func copy(from source: any StorageBackend, to target: any StorageBackend,
                            progress: (String, Int, Int) -> Void = { _, _, _ in }) async throws -> Report {
        var report = Report()
        let users = try await source.users()
        for (index, user) in users.enumerated() {
            if try await target.user(named: user.username) != nil {
                report.users.present += 1
            } else {
                try await target.insertUser(user)
                report.users.copied += 1
            }
            progress("users", index + 1, users.count)
        }
        let cameras = try await source.cameras()
        var grants: [GrantRecord] = []
        for (index, camera) in cameras.enumerated() {
            if try await target.camera(id: camera.id) == camera {
                report.cameras.present += 1
            } else {
                try await target.upsertCamera(camera)
                report.cameras.copied += 1
            }
            grants += try await source.grants(cameraID: camera.id)
            progress("cameras", index + 1, cameras.count)
        }
        for (index, grant) in grants.enumerated() {
            if try await target.grant(cameraID: grant.cameraID, username: grant.username) == grant {
                report.grants.present += 1
            } else {
                try await target.putGrant(grant)
                report.grants.copied += 1
            }
            progress("grants", index + 1, grants.count)
        }
        var offset = 0
        while true {
            let page = try await source.videos(VideoQuery(offset: offset, limit: 200))
            for video in page.videos {
                switch try await target.video(id: video.id) {
                case video?: report.videos.present += 1
                case nil:
                    try await target.insertVideo(video)
                    report.videos.copied += 1
                case _?:
                    try await target.updateVideo(video)
                    report.videos.copied += 1
                }
                offset += 1
                progress("videos", offset, page.total)
            }
            if page.videos.isEmpty || offset >= page.total { break }
        }
        return report
    }
}
