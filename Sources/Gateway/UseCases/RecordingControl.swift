import GatewayCore
/// The recording switch for every front end (REST, seed 001's `/recordStream`, Socket.IO):
/// operators and up.
public struct RecordingControl: Sendable {
    let access: AccessControl
    let manager: CameraManager

    /// Sets recording on or off (`nil` toggles, as seed 001 does); returns the new state.
    public func set(_ principal: Principal, cameraID: String, enabled: Bool?) async throws -> Bool {
        _ = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        guard let recorder = manager.sink(of: cameraID, as: (any RecordingSwitch).self) else {
            throw GatewayError(.noRecorder, "camera '\(cameraID)' has no recorder sink")
        }
        let target: Bool
        if let enabled { target = enabled } else { target = !(await recorder.isRecording) }
        return await recorder.setRecording(target, actor: principal.username)
    }
}
