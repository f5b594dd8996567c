import Synchronization

/// In a cluster: where each camera this node does not run is, and how it stands there, from
/// the owners' heartbeats and their relayed `camera.state_changed` events.
public final class RemoteCameras: Sendable {
    public struct Entry: Sendable, Equatable {
        public var node: String
        public var url: String
        public var state: CameraState
        public var lastError: String?
        public var lastPublicError: String?

        public init(node: String, url: String, state: CameraState, lastError: String? = nil, lastPublicError: String? = nil) {
            self.node = node
            self.url = url
            self.state = state
            self.lastError = lastError
            self.lastPublicError = lastPublicError
        }
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public subscript(id: String) -> Entry? { entries.withLock { $0[id] } }

    public func replaceAll(_ all: [String: Entry]) { entries.withLock { $0 = all } }

    /// A relayed state change of a camera that `node` runs.
    public func update(_ id: String, node: String, state: CameraState, lastError: String?, lastPublicError: String?) {
        entries.withLock { entries in
            guard var entry = entries[id], entry.node == node else { return }
            entry.state = state
            entry.lastError = lastError
            entry.lastPublicError = lastPublicError
            entries[id] = entry
        }
    }

    public func remove(_ id: String) { entries.withLock { _ = $0.removeValue(forKey: id) } }
}
