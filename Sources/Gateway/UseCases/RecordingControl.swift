import GatewayCore
import JSON
/// The recording switch for every front end (REST, seed 001's `/recordStream`, Socket.IO):
/// operators and up.
public struct RecordingControl: Sendable {
    let access: AccessControl
    let manager: CameraManager
    /// In a cluster: the node that runs the camera records it.
    var calls: ClusterCalls?

    /// Sets recording on or off (`nil` toggles, as seed 001 does); returns the new state.
    public func set(_ principal: Principal, cameraID: String, enabled: Bool?) async throws -> Bool {
        let (record, _) = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if manager.pipeline(id: cameraID) == nil, record.hasSink("recorder"), let calls,
           let result = try await calls.remote("recording", cameraID: cameraID, principal: principal,
                                               arguments: JSONObject(enabled.map { [("enabled", JSONValue.bool($0))] } ?? [])) {
            guard case .bool(let on) = result else { throw GatewayError(.internal, "the node running the camera gave no recording state") }
            return on
        }
        guard let recorder = manager.sink(of: cameraID, as: (any RecordingSwitch).self) else {
            throw GatewayError(.noRecorder, "camera '\(cameraID)' has no recorder sink")
        }
        let target: Bool
        if let enabled { target = enabled } else { target = !(await recorder.isRecording) }
        return await recorder.setRecording(target, actor: principal.username)
    }
}
