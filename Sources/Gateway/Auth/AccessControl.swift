import GatewayCore
/// A caller's standing on one camera, weakest first.
public enum CameraRole: String, Sendable, Codable, Comparable, CaseIterable {
    case viewer, `operator`, owner, admin

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: CameraRole, rhs: CameraRole) -> Bool { lhs.rank < rhs.rank }
}

/// What a request wants to do with a camera.
public enum CameraAction: String, Sendable {
    /// See it, watch it, list and play its clips and recordings.
    case view
    /// Also start/stop streams, toggle recording, trigger clips.
    case operate
    /// Edit, delete, share.
    case manage

    public var minimumRole: CameraRole {
        switch self {
        case .view: .viewer
        case .operate: .operator
        case .manage: .owner
        }
    }
}

/// The one access decision of the gateway. Every path that touches a camera — REST, Socket.IO,
/// HLS playlists and segments, recordings, clips — asks it, and nothing else decides.
public enum AccessDecision {
    /// The caller's role on `camera`, or nil when the camera is not theirs to see.
    public static func role(of principal: Principal, on camera: CameraRecord, grant: GrantRecord?, now: Double) -> CameraRole? {
        if principal.isAdmin { return .admin }
        if camera.owner == principal.username { return .owner }
        guard let grant, grant.cameraID == camera.id, grant.username == principal.username, grant.isActive(at: now) else { return nil }
        switch grant.role {
        case .viewer: return .viewer
        case .operator: return .operator
        }
    }

    public enum Outcome: Equatable, Sendable {
        case allowed(CameraRole)
        /// The caller may not know the camera exists: answer as if it did not (404).
        case hidden
        /// The caller sees the camera but may not do this (403).
        case forbidden(CameraRole)
    }

    public static func decide(_ principal: Principal, on camera: CameraRecord, grant: GrantRecord?,
                              action: CameraAction, now: Double) -> Outcome {
        guard let role = role(of: principal, on: camera, grant: grant, now: now) else { return .hidden }
        return role >= action.minimumRole ? .allowed(role) : .forbidden(role)
    }
}

/// Looks up what the decision needs and turns its outcome into the API's errors.
public struct AccessControl: Sendable {
    public let storage: any StorageBackend
    public let changes: AccessChanges
    /// How often an open stream's access is checked again when nothing here changed (grants
    /// expire by the clock; another process may change storage).
    public var recheckInterval: Duration = .seconds(1)
    /// Recent positive decisions, for media requests (see `authorizeMedia`).
    public let recent: MediaAccessCache

    public init(storage: any StorageBackend, changes: AccessChanges = AccessChanges()) {
        self.storage = storage
        self.changes = changes
        recent = MediaAccessCache(changes: changes)
    }

    /// Returns once `principal` may no longer do `action` on camera `cameraID`: the grant was
    /// revoked or expired, the camera deleted or given away, or the principal's credential
    /// expired. An open stream runs this beside itself and ends when it returns.
    public func untilRevoked(_ principal: Principal, cameraID: String, for action: CameraAction = .view) async {
        await untilRevoked(principal) { current in _ = try await authorize(current, cameraID: cameraID, for: action) }
    }

    /// The same with any check (a video's own rule); `check` throws the API's 401/403/404 when
    /// access is gone. Other failures (storage briefly away) do not end the stream. `check` gets
    /// the principal with its role as stored now: after a change here (`changes`) the role is
    /// read again, so a demoted admin's streams end with the access the role gave.
    public func untilRevoked(_ principal: Principal, check: @Sendable (Principal) async throws -> Void) async {
        var current = principal
        var roleGeneration = changes.generation
        while !Task.isCancelled {
            let generation = changes.generation
            let now = WallClock.now()
            if let expiresAt = principal.expiresAt, now >= expiresAt { return }
            do {
                if generation != roleGeneration {
                    guard let user = try await storage.user(id: principal.userID) else { return }
                    current = Principal(userID: principal.userID, username: principal.username, role: user.role, expiresAt: principal.expiresAt)
                    roleGeneration = generation
                }
                try await check(current)
            } catch let error as GatewayError where error.deniesAccess {
                return
            } catch {
                if Task.isCancelled { return }
            }
            var wait = recheckInterval
            if let expiresAt = principal.expiresAt, expiresAt - now < 1 { wait = .milliseconds(Int64(max(0, expiresAt - now) * 1000) + 1) }
            await changes.wait(after: generation, timeout: wait)
        }
    }

    /// The camera and the caller's role on it, or 404 (absent or hidden) / 403 (not enough).
    public func authorize(_ principal: Principal, cameraID: String, for action: CameraAction) async throws -> (CameraRecord, CameraRole) {
        let (camera, role, _) = try await decide(principal, cameraID: cameraID, for: action)
        return (camera, role)
    }

    /// `authorize` for a media request (a playlist, a segment, a part: many per second per
    /// player), answered from a decision made within the last second when nothing here changed
    /// since (`MediaAccessCache`).
    public func authorizeMedia(_ principal: Principal, cameraID: String, for action: CameraAction) async throws -> (CameraRecord, CameraRole) {
        let decision = try await recent.decision(principal, cameraID: cameraID, action: action) {
            let (camera, role, grant) = try await decide(principal, cameraID: cameraID, for: action)
            return (MediaAccessCache.Decision(camera: camera, role: role), grant?.expiresAt)
        }
        return (decision.camera, decision.role)
    }

    private func decide(_ principal: Principal, cameraID: String, for action: CameraAction) async throws -> (CameraRecord, CameraRole, GrantRecord?) {
        guard let camera = try await storage.camera(id: cameraID) else { throw GatewayError.notFound("camera '\(cameraID)' not found") }
        let grant = principal.isAdmin || camera.owner == principal.username
            ? nil : try await storage.grant(cameraID: cameraID, username: principal.username)
        switch AccessDecision.decide(principal, on: camera, grant: grant, action: action, now: WallClock.now()) {
        case .allowed(let role): return (camera, role, grant)
        case .hidden: throw GatewayError.notFound("camera '\(cameraID)' not found")
        case .forbidden(let role):
            throw GatewayError(.forbidden, "your role on camera '\(cameraID)' is \(role.rawValue); this needs \(action.minimumRole.rawValue)")
        }
    }

    /// The video, if the caller may do `action` with it: a camera's video follows the camera's
    /// access decision, a video of no camera (an upload) its owner and admins. A video the caller
    /// may not see is a 404, as if it did not exist.
    public func authorize(_ principal: Principal, videoID: String, for action: CameraAction) async throws -> VideoRecord {
        guard let video = try await storage.video(id: videoID) else { throw GatewayError.notFound("video '\(videoID)' not found") }
        if let cameraID = video.cameraID {
            do {
                _ = try await authorize(principal, cameraID: cameraID, for: action)
            } catch let error as GatewayError where error.code == .notFound {
                throw GatewayError.notFound("video '\(videoID)' not found")
            }
        } else if !(principal.isAdmin || video.createdBy == principal.username) {
            throw GatewayError.notFound("video '\(videoID)' not found")
        }
        return video
    }

    /// Every camera the caller may see, with their role on each.
    public func visibleCameras(_ principal: Principal) async throws -> [(CameraRecord, CameraRole)] {
        try await cameraViews(principal).visible
    }

    /// `visibleCameras`, and the ids of every camera there is (to tell a camera deleted from one
    /// that was only hidden).
    public func cameraViews(_ principal: Principal) async throws -> (visible: [(CameraRecord, CameraRole)], all: Set<String>) {
        let cameras = try await storage.cameras()
        let now = WallClock.now()
        let grants = principal.isAdmin ? [:] : Dictionary(
            try await storage.grants(username: principal.username).map { ($0.cameraID, $0) }, uniquingKeysWith: { first, _ in first })
        let visible = cameras.compactMap { camera in
            AccessDecision.role(of: principal, on: camera, grant: grants[camera.id], now: now).map { (camera, $0) }
        }
        return (visible, Set(cameras.map(\.id)))
    }
}
