/// A sink that records continuously (the recorder); its switch is reachable from the API.
public protocol RecordingSwitch: CameraSink {
    var isRecording: Bool { get async }
    /// Turns recording on or off; returns the new state.
    func setRecording(_ enabled: Bool, actor: String?) async -> Bool
}
