import GatewayCore
import JSON
/// Clip triggers for every front end (REST, seed 004, Socket.IO): operators and up.
public struct ClipControl: Sendable {
    let access: AccessControl
    let manager: CameraManager
    let limits: LimitsConfig
    /// In a cluster: the node that runs the camera writes the clip.
    var calls: ClusterCalls?

    public func trigger(_ principal: Principal, cameraID: String, pre: Double?, post: Double?, label: String?) async throws -> VideoRecord {
        let (record, _) = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if manager.pipeline(id: cameraID) == nil, record.hasSink("clipper"), let calls {
            var arguments = JSONObject()
            if let pre { arguments["pre"] = .double(pre) }
            if let post { arguments["post"] = .double(post) }
            if let label { arguments["label"] = .string(label) }
            if let result = try await calls.remote("clip", cameraID: cameraID, principal: principal, arguments: arguments),
               let id = result["video_id"].flatMap(ClusterService.string) {
                guard let clip = try await access.storage.video(id: id) else { throw GatewayError(.internal, "the clip's record is missing") }
                return clip
            }
        }
        guard let clipper = manager.sink(of: cameraID, as: (any ClipTrigger).self) else {
            throw GatewayError(.noClipper, "camera '\(cameraID)' has no clipper sink")
        }
        if await clipper.pendingClips(actor: nil) >= limits.clipJobsPerCamera {
            throw GatewayError(.tooManyClips, "camera '\(cameraID)' is writing \(limits.clipJobsPerCamera) clips already", retryAfter: 5)
        }
        if !principal.isAdmin {
            var mine = 0
            for pipeline in manager.all {
                if let other = pipeline.sinks.lazy.compactMap({ $0 as? any ClipTrigger }).first { mine += await other.pendingClips(actor: principal.username) }
            }
            if mine >= limits.clipJobsPerUser {
                throw GatewayError(.tooManyClips, "you have \(limits.clipJobsPerUser) clips being written already", retryAfter: 5)
            }
        }
        return try await clipper.trigger(pre: pre, post: post, label: label, actor: principal.username)
    }

    /// Seed 004's `/api/store`: the camera asked for, or the first clipper camera the caller may operate.
    public func cameraForStore(_ principal: Principal, requested: String?) async throws -> String {
        if let requested { return requested }
        for (camera, role) in try await access.visibleCameras(principal) where role >= .operator {
            if manager.sink(of: camera.id, as: (any ClipTrigger).self) != nil || (calls != nil && camera.hasSink("clipper")) { return camera.id }
        }
        throw GatewayError(.noClipper, "no camera with a clipper sink that you may operate")
    }
}
