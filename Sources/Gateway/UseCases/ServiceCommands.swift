import GatewayCore

/// The commands event backends pass on (MQTT `clip/trigger`, `recording/set`), run as the
/// backend's configured service user through the same use cases and access decision as REST.
struct ServiceCommands: GatewayCommands {
    let users: UserService
    let clips: ClipControl
    let recording: RecordingControl

    func triggerClip(cameraID: String, as username: String, pre: Double?, post: Double?, label: String?) async throws -> String {
        try await clips.trigger(try await users.principal(named: username), cameraID: cameraID, pre: pre, post: post, label: label).id
    }

    func setRecording(cameraID: String, enabled: Bool?, as username: String) async throws -> Bool {
        try await recording.set(try await users.principal(named: username), cameraID: cameraID, enabled: enabled)
    }
}
