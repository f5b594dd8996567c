import ArgumentParser
import GatewayCore
import StandardPlugins

/// `gateway cluster status|drain|undrain`: the nodes sharing a plugins.json's PostgreSQL
/// database (docs/scale-out.md), from outside any of them.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "See the nodes of a cluster, or move a node's cameras away before maintenance.",
        subcommands: [ClusterStatus.self, ClusterDrain.self, ClusterUndrain.self])

    /// The cluster backend of the storage `file` names.
    static func open(_ file: String) async throws -> (any StorageBackend, any ClusterBackend) {
        let logger = StorageCLI.logger()
        let storage = try await StorageCLI.open(file, logger: logger)
        guard let capable = storage as? any ClusterCapableStorage else {
            await storage.close()
            printError("\(file): the storage backend cannot coordinate nodes; a cluster needs postgres")
            throw ExitCode(2)
        }
        return (storage, try capable.makeCluster(logger: logger, timeout: 10))
    }

    static func describe(_ snapshot: ClusterSnapshot) -> [String] {
        snapshot.nodes.filter { snapshot.isSessionOpen($0) }.map { node in
            let cameras = snapshot.camerasHeld(by: node)
            return "\(node.id)\t\(node.url)\tweight \(node.weight)\t\(cameras) cameras\theartbeat \(String(format: "%.1f", node.heartbeatAge)) s ago"
                + (node.draining ? "\tdraining" : "")
        }
    }
}

struct ClusterStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the live nodes and how many cameras each runs.")

    @Option(name: .shortAndLong, help: "A plugins.json of the cluster (for its storage).")
    var config = "plugins.json"

    func run() async throws {
        let (storage, cluster) = try await ClusterCommand.open(config)
        let snapshot: ClusterSnapshot
        do {
            snapshot = try await cluster.snapshot()
        } catch {
            await storage.close()
            printError("gateway cluster status: \(error)")
            throw ExitCode(1)
        }
        let lines = ClusterCommand.describe(snapshot)
        print(lines.isEmpty ? "no live nodes" : lines.joined(separator: "\n"))
        await storage.close()
    }
}

/// Marks a node draining: it gives its cameras to the others (each stops there and starts on
/// another within a heartbeat or two) and takes no new ones until it restarts or is undrained.
struct ClusterDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Move a node's cameras to the other nodes and keep new ones off it.",
        discussion: "Waits until the node runs no camera (at most --timeout seconds). A restart of the node, or `undrain`, ends the drain.")

    @Argument(help: "The node's id (cluster.node_id).")
    var node: String

    @Option(name: .shortAndLong, help: "A plugins.json of the cluster (for its storage).")
    var config = "plugins.json"

    @Option(help: "Seconds to wait for the node's cameras to move.")
    var timeout = 60.0

    func run() async throws {
        let (storage, cluster) = try await ClusterCommand.open(config)
        do {
            guard try await cluster.setDraining(nodeID: node, true) else {
                printError("gateway cluster drain: no node '\(node)'")
                throw ExitCode(1)
            }
            try? await cluster.notify(#"{"node":"gateway-cli","kind":"kick"}"#)
            let started = MonotonicTime.seconds()
            while true {
                let snapshot = try await cluster.snapshot()
                let record = snapshot.nodes.first { $0.id == node }
                let cameras = record.map(snapshot.camerasHeld(by:)) ?? 0
                if cameras <= 0 {
                    print("\(node): drained (no cameras) after \(String(format: "%.1f", MonotonicTime.seconds() - started)) s")
                    break
                }
                if MonotonicTime.seconds() - started > timeout {
                    printError("gateway cluster drain: \(node) still runs \(cameras) cameras after \(Int(timeout)) s")
                    throw ExitCode(1)
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        } catch {
            await storage.close()
            throw error
        }
        await storage.close()
    }
}

struct ClusterUndrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undrain", abstract: "Let a drained node take cameras again.")

    @Argument(help: "The node's id (cluster.node_id).")
    var node: String

    @Option(name: .shortAndLong, help: "A plugins.json of the cluster (for its storage).")
    var config = "plugins.json"

    func run() async throws {
        let (storage, cluster) = try await ClusterCommand.open(config)
        let found = try? await cluster.setDraining(nodeID: node, false)
        try? await cluster.notify(#"{"node":"gateway-cli","kind":"kick"}"#)
        await storage.close()
        guard found == true else {
            printError("gateway cluster undrain: no node '\(node)'")
            throw ExitCode(1)
        }
        print("\(node): takes cameras again")
    }
}
