import Foundation
import JSON
import Logging

/// What a node says about itself when it joins.
public struct ClusterNodeInfo: Sendable {
    public var id: String
    public var url: String
    /// Where players are redirected (the same as `url` unless set).
    public var publicURL: String
    public var weight: Int
    public var maxCameras: Int

    public init(id: String, url: String, publicURL: String? = nil, weight: Int, maxCameras: Int) {
        self.id = id
        self.url = url
        self.publicURL = publicURL ?? url
        self.weight = weight
        self.maxCameras = maxCameras
    }
}

/// A node as the database knows it.
public struct ClusterNodeRecord: Sendable {
    public var id: String
    public var url: String
    public var publicURL: String
    public var weight: Int
    public var maxCameras: Int
    public var draining: Bool
    /// Unix seconds, by the database's clock.
    public var startedAt: Double
    public var heartbeatAt: Double
    /// Seconds since its last heartbeat, by the database's clock (nodes' clocks may differ).
    public var heartbeatAge: Double
    /// The database session that holds its locks.
    public var lockSession: Int
    /// Its cameras' states as it last reported them: `{camera id: {"state", "error"}}`.
    public var states: JSONValue

    public init(id: String, url: String, publicURL: String, weight: Int, maxCameras: Int, draining: Bool, startedAt: Double, heartbeatAt: Double,
                heartbeatAge: Double, lockSession: Int, states: JSONValue) {
        self.id = id
        self.url = url
        self.publicURL = publicURL
        self.weight = weight
        self.maxCameras = maxCameras
        self.draining = draining
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.heartbeatAge = heartbeatAge
        self.lockSession = lockSession
        self.states = states
    }
}

/// The cluster at one moment: the nodes and which session holds which lock.
public struct ClusterSnapshot: Sendable {
    public var nodes: [ClusterNodeRecord]
    /// Lock key → the session holding it.
    public var locks: [Int64: Int]

    public init(nodes: [ClusterNodeRecord], locks: [Int64: Int]) {
        self.nodes = nodes
        self.locks = locks
    }

    /// Whether `node`'s lock session is open: it holds its node lock.
    public func isSessionOpen(_ node: ClusterNodeRecord) -> Bool {
        locks[ClusterKeys.node(node.id)] == node.lockSession
    }

    /// The cameras `node` holds (its locks besides its node lock).
    public func camerasHeld(by node: ClusterNodeRecord) -> Int {
        isSessionOpen(node) ? locks.values.count { $0 == node.lockSession } - 1 : 0
    }

    /// The node whose session holds camera `id`'s lock.
    public func owner(of cameraID: String) -> ClusterNodeRecord? {
        guard let session = locks[ClusterKeys.camera(cameraID)] else { return nil }
        return nodes.first { $0.lockSession == session && isSessionOpen($0) }
    }
}

/// Where several gateway nodes meet: a lock per camera (one owner at a time), a heartbeat per
/// node, and notifications to every node. The PostgreSQL storage backend provides one
/// (session advisory locks on a connection of the node's own; LISTEN/NOTIFY).
public protocol ClusterBackend: Sendable {
    /// Opens this node's lock session, takes its node lock and registers it. `fresh` (the
    /// process's first join) ends a drain; joining again after a fence keeps it. Fails when a
    /// live node already has this id.
    func join(_ node: ClusterNodeInfo, fresh: Bool) async throws
    /// Renews the heartbeat with the states of this node's cameras and reads the cluster.
    /// Throws when the lock session is gone (every lock with it).
    func heartbeat(states: JSONValue) async throws -> ClusterSnapshot
    /// Takes lock `key` on the lock session if no other session holds it.
    func tryLock(_ key: Int64) async throws -> Bool
    func unlock(_ key: Int64) async throws
    /// Ends another node's lock session (a node whose heartbeat stopped): its locks go with it.
    func terminate(session: Int) async throws
    /// Marks node `id` draining (its cameras move away) or not; false when there is no such node.
    func setDraining(nodeID: String, _ draining: Bool) async throws -> Bool
    /// The nodes registered, without taking part (the `gateway cluster` commands).
    func snapshot() async throws -> ClusterSnapshot
    /// Sends `payload` (at most 7,900 bytes) to every node, this one included.
    func notify(_ payload: String) async throws
    /// Notifications while the lock session is open; ends with it.
    func notifications() -> AsyncStream<String>
    /// Closes the lock session: every lock of this node goes.
    func leave() async
}

extension ClusterBackend {
    public func join(_ node: ClusterNodeInfo) async throws { try await join(node, fresh: true) }
}

/// A storage backend that can also coordinate nodes.
public protocol ClusterCapableStorage: StorageBackend {
    /// `timeout`: how long a request on the lock session may take before the session counts
    /// as failed (the node then stops its cameras).
    func makeCluster(logger: Logger, timeout: Double) throws -> any ClusterBackend
}

/// Advisory lock keys: 64-bit FNV-1a of a name in the gateway's own namespace. Two names that
/// collide (about 1 in 10^13 for 1,000 cameras) share a lock: the node holding it owns both.
public enum ClusterKeys {
    public static func camera(_ id: String) -> Int64 { hash("gateway-camera:" + id) }
    public static func node(_ id: String) -> Int64 { hash("gateway-node:" + id) }

    public static func hash(_ text: String) -> Int64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: value)
    }

    /// Rendezvous (highest random weight) score of `node` for `camera`: every node computes the
    /// same ranking without talking; a node of weight w gets about w / Σw of the cameras, and
    /// when a node leaves only its cameras move.
    public static func score(camera: String, node: String, weight: Int) -> Double {
        // A well-mixed 64-bit value → (0, 1) → -w / ln(u): the weighted rendezvous score.
        var mixed = UInt64(bitPattern: hash(node + "\u{0}" + camera))
        mixed ^= mixed >> 33
        mixed &*= 0xff51_afd7_ed55_8ccd
        mixed ^= mixed >> 33
        mixed &*= 0xc4ce_b9fe_1a85_ec53
        mixed ^= mixed >> 33
        let unit = (Double(mixed >> 11) + 0.5) / Double(UInt64(1) << 53)
        return -Double(max(weight, 1)) / log(unit)
    }
}
