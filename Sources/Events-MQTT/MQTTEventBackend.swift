import Foundation
import GatewayCore
import JSON
import Logging
import Synchronization

/// The MQTT event backend (`type: "mqtt"`), on libmosquitto. Each event is published as its JSON
/// (`GatewayEvent.json`) to `{prefix}/{category}/{action}` (`gateway/user/login`) at the
/// configured QoS. `{prefix}/available` is retained: `online` once connected, `offline` as the
/// last will and as the goodbye. With `retain_state`, `{prefix}/cameras/{id}/state` is retained
/// too, so a new subscriber learns every camera's state at once. With a `service_user`,
/// `{prefix}/cameras/{id}/clip/trigger` and `{prefix}/cameras/{id}/recording/set` are commands.
/// Events reach it through the bus's spool: nothing is lost while the broker is away.
public final class MQTTEventBackend: RemoteEventBackend, EventBackendAdapter {
    public static let type = "mqtt"

    /// Commands bigger than this are ignored.
    static let maxCommandBytes = 64 * 1024

    public let configuration: Configuration
    private let logger: Logger
    private let events: EventBus
    private let commands: GatewayCommandsBox
    private let qos: Int32
    /// The state payload last published per camera, published again on every new connection.
    private let states = Mutex<[String: [UInt8]]>([:])
    /// Cameras deleted (and not created again): the supervisor's last "stopped" comes after
    /// `camera.deleted`, and must not bring a cleared retained state back.
    private let deleted = Mutex<Set<String>>([])
    private let connection = Mutex<MQTTConnection?>(nil)

    public var batchLimit: Int { 100 }
    public var batchLinger: Duration { .zero }

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        logger = context.logger
        events = context.events
        commands = context.commands
        qos = Int32(configuration.qos)
    }

    var availabilityTopic: String { configuration.topicPrefix + "/available" }
    func stateTopic(_ camera: String) -> String { "\(configuration.topicPrefix)/cameras/\(camera)/state" }
    func eventTopic(_ event: GatewayEvent) -> String { "\(configuration.topicPrefix)/\(event.category)/\(event.action)" }

    public func run() async throws {
        var settings = MQTTConnection.Settings(host: configuration.host, port: configuration.port, clientID: configuration.clientID,
                                               username: configuration.username, password: configuration.password)
        settings.keepaliveSeconds = configuration.keepaliveSeconds
        settings.tls = configuration.tls
        settings.will = (availabilityTopic, Array("offline".utf8))
        let client = try MQTTConnection(settings: settings, logger: logger,
                                        onConnect: { [weak self] connection in self?.sessionStarted(connection) },
                                        onMessage: { [weak self] topic, payload in self?.received(topic: topic, payload: payload) })
        connection.withLock { $0 = client }
        client.start()
        let stop = CancellationWait()
        await stop.wait()
        await client.stop(goodbye: (availabilityTopic, Array("offline".utf8)))
        connection.withLock { $0 = nil }
    }

    public func deliver(_ batch: [GatewayEvent]) async throws {
        guard let client = connection.withLock({ $0 }) else {
            throw MQTTConnection.Failure(description: "the MQTT connection is not running")
        }
        var sent: [Int32] = []
        var newStates: [(String, [UInt8]?)] = []
        for event in batch {
            sent.append(try client.publish(topic: eventTopic(event), payload: Array(JSONWriter.string(event.json).utf8), qos: qos, retain: false))
            guard configuration.retainState, let camera = event.camera else { continue }
            if event.name == "camera.created" { _ = deleted.withLock { $0.remove(camera) } }
            if event.name == "camera.deleted" { _ = deleted.withLock { $0.insert(camera) } }
            guard let state = Self.retainedState(after: event), event.name == "camera.deleted" || !deleted.withLock({ $0.contains(camera) }) else {
                continue
            }
            // A deleted camera's retained state is cleared (an empty retained message).
            let payload = state ?? []
            sent.append(try client.publish(topic: stateTopic(camera), payload: payload, qos: qos, retain: true))
            newStates.append((camera, state))
        }
        for mid in sent { try await client.acknowledged(mid) }
        states.withLock { states in
            for (camera, state) in newStates { states[camera] = state }
        }
    }

    /// What `event` makes a camera's retained state: a payload, `.some(nil)` to clear it, or nil
    /// when it does not change it.
    static func retainedState(after event: GatewayEvent) -> [UInt8]?? {
        switch event.name {
        case "camera.state_changed":
            var object = JSONObject([("v", .int(GatewayEvent.schemaVersion)), ("camera", .string(event.camera ?? ""))])
            object["state"] = event.details["to"] ?? .null
            // What every user may read: the reason without the source's address.
            if let reason = event.details["public_reason"] ?? event.details["reason"] { object["reason"] = reason }
            object["since"] = .string(WallClock.iso8601(event.time))
            return .some(Array(JSONWriter.string(.object(object)).utf8))
        case "camera.deleted":
            return .some(nil)
        default:
            return nil
        }
    }

    /// On the network thread, for each accepted connection: announce, republish the states,
    /// subscribe to the commands.
    private func sessionStarted(_ client: MQTTConnection) {
        _ = try? client.publish(topic: availabilityTopic, payload: Array("online".utf8), qos: 1, retain: true)
        if configuration.retainState {
            for (camera, payload) in states.withLock({ $0 }) {
                _ = try? client.publish(topic: stateTopic(camera), payload: payload, qos: qos, retain: true)
            }
        }
        if configuration.serviceUser != nil {
            client.subscribe("\(configuration.topicPrefix)/cameras/+/clip/trigger", qos: 1)
            client.subscribe("\(configuration.topicPrefix)/cameras/+/recording/set", qos: 1)
        }
    }

    // MARK: commands

    enum Command: Equatable {
        case clip(pre: Double?, post: Double?, label: String?)
        case recording(Bool?)
    }

    /// The camera and command a message on a command topic asks for, or why it is not one.
    func parseCommand(topic: String, payload: [UInt8]) -> Result<(camera: String, command: Command), GatewayError> {
        let prefix = configuration.topicPrefix + "/cameras/"
        guard topic.hasPrefix(prefix) else { return .failure(.badRequest("not a command topic")) }
        let rest = topic.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard rest.count == 3, !rest[0].isEmpty else { return .failure(.badRequest("not a command topic")) }
        guard payload.count <= Self.maxCommandBytes else {
            return .failure(.badRequest("a command payload is at most \(Self.maxCommandBytes) bytes"))
        }
        let camera = String(rest[0])
        let text = String(decoding: payload, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let json: JSONValue?
        if text.isEmpty { json = nil } else { json = try? JSONParser.parse(text) }
        switch (rest[1], rest[2]) {
        case ("clip", "trigger"):
            guard text.isEmpty || json.map({ if case .object = $0 { true } else { false } }) == true else {
                return .failure(.badRequest("a clip trigger is empty or a JSON object {pre_seconds, post_seconds, label}"))
            }
            var label: String?
            if case .string(let value)? = json?["label"] { label = String(value.prefix(200)) }
            return .success((camera, .clip(pre: json?["pre_seconds"]?.doubleValue, post: json?["post_seconds"]?.doubleValue, label: label)))
        case ("recording", "set"):
            switch text.lowercased() {
            case "on", "true", "1", "start": return .success((camera, .recording(true)))
            case "off", "false", "0", "stop": return .success((camera, .recording(false)))
            case "toggle": return .success((camera, .recording(nil)))
            default:
                if case .bool(let on)? = json?["enabled"] { return .success((camera, .recording(on))) }
                return .failure(.badRequest("recording/set takes on, off, toggle or {\"enabled\": true|false}"))
            }
        default:
            return .failure(.badRequest("not a command topic"))
        }
    }

    private func received(topic: String, payload: [UInt8]) {
        guard let user = configuration.serviceUser else { return }
        let levels = topic.split(separator: "/")
        let commandName = levels.suffix(2).joined(separator: "/")
        switch parseCommand(topic: topic, payload: payload) {
        case .failure(let error):
            reject(commandName, camera: levels.count >= 3 ? String(levels[levels.count - 3]) : nil, user: user, error)
        case .success(let (camera, command)):
            Task {
                guard let commands = self.commands.commands else {
                    self.reject(commandName, camera: camera, user: user, GatewayError(.streamUnavailable, "the gateway is starting"))
                    return
                }
                do {
                    switch command {
                    case .clip(let pre, let post, let label):
                        _ = try await commands.triggerClip(cameraID: camera, as: user, pre: pre, post: post, label: label)
                    case .recording(let enabled):
                        _ = try await commands.setRecording(cameraID: camera, enabled: enabled, as: user)
                    }
                } catch {
                    self.reject(commandName, camera: camera, user: user, GatewayError.from(error) ?? GatewayError(.internal, "\(error)"))
                }
            }
        }
    }

    private func reject(_ command: String, camera: String?, user: String, _ error: GatewayError) {
        logger.warning("MQTT command refused", metadata: ["command": "\(command)", "camera": "\(camera ?? "-")", "error": "\(error.message)"])
        events.emit(GatewayEvent(name: "command.rejected", actor: user, camera: camera, details: JSONObject([
            ("via", .string("mqtt")), ("command", .string(command)), ("code", .string(error.code.rawValue)), ("error", .string(error.message)),
        ])))
    }
}

/// Waits until the task is cancelled.
private final class CancellationWait: Sendable {
    private let signal = Mutex<(cancelled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = signal.withLock { state in
                    if state.cancelled || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = signal.withLock { state in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
