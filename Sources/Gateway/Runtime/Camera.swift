/// One configured camera: its source under supervision, its hub, and its sinks.
public struct Camera: Sendable {
    public let id: String
    public let name: String
    public let owner: String?
    public let sourceType: String
    public let hub: StreamHub
    public let supervisor: CameraSupervisor
    public let sinks: [any CameraSink]
}
