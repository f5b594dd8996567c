/// Clip triggers for every front end (REST, seed 004, Socket.IO): operators and up.
public struct ClipControl: Sendable {
    let access: AccessControl
    let manager: CameraManager

    public func trigger(_ principal: Principal, cameraID: String, pre: Double?, post: Double?, label: String?) async throws -> VideoRecord {
        _ = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        guard let clipper = manager.sink(of: cameraID, as: (any ClipTrigger).self) else {
            throw APIError(.conflict, code: "no_clipper", "camera '\(cameraID)' has no clipper sink")
        }
        if let pre, !(0...3600).contains(pre) { throw APIError.badRequest("pre_seconds must be between 0 and 3600") }
        if let post, !(0...3600).contains(post) { throw APIError.badRequest("post_seconds must be between 0 and 3600") }
        return try await clipper.trigger(pre: pre, post: post, label: label, actor: principal.username)
    }

    /// Seed 004's `/api/store`: the camera asked for, or the first clipper camera the caller may operate.
    public func cameraForStore(_ principal: Principal, requested: String?) async throws -> String {
        if let requested { return requested }
        for (camera, role) in try await access.visibleCameras(principal) where role >= .operator {
            if manager.sink(of: camera.id, as: (any ClipTrigger).self) != nil { return camera.id }
        }
        throw APIError(.conflict, code: "no_clipper", "no camera with a clipper sink that you may operate")
    }
}
