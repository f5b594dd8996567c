import Foundation
import GatewayCore
import Logging

/// The ring-buffer clipper (`type: "clipper"`): keeps the last `pre_seconds` of the camera in
/// memory and, on a trigger, writes a progressive MP4 from the keyframe at or before
/// (trigger − pre) to (trigger + post) while the post-roll arrives, without re-encoding.
public final class ClipperSink: SinkAdapter, ClipTrigger {
    public static let type = "clipper"
    public typealias Configuration = ClipperSinkConfiguration

    let cameraID: String
    private let hub: StreamHub
    private let configuration: Configuration
    private let logger: Logger
    let state: ClipperState
    /// `clip.trigger` events for this camera (from MQTT, rules, …), handled in order by `run()`.
    private let requests: AsyncStream<GatewayEvent>
    private let requestsContinuation: AsyncStream<GatewayEvent>.Continuation
    /// The event bus listener that feeds `requests`, removed when the clipper stops (a camera
    /// restarted after a change gets a new clipper and must not leave the old one listening).
    private let events: EventBus
    private let listener: Int

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        cameraID = context.id
        self.hub = hub
        self.configuration = configuration
        logger = context.logger
        guard let storage = context.storage else { throw MediaError(.unsupported, component: context.id, "the clipper needs a storage backend") }
        let directory = context.dataDirectory + "/clips/" + context.id
        try FileIO.makeDirectory(directory)
        // Clips interrupted by a crash left `.part` files: they are not clips.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".part") {
            FileIO.remove(directory + "/" + name)
        }
        let (requests, continuation) = AsyncStream.makeStream(of: GatewayEvent.self, bufferingPolicy: .bufferingNewest(64))
        self.requests = requests
        requestsContinuation = continuation
        let cameraID = context.id
        events = context.events
        listener = context.events.observe { event in
            if event.name == "clip.trigger", event.camera == cameraID { continuation.yield(event) }
        }
        state = ClipperState(store: SinkStore(context: context, directory: directory, storage: storage, ioName: "clips"), configuration: configuration)
    }

    /// Bytes of packets held in memory for the pre-roll.
    public var bufferedBytes: Int { get async { state.tap.bufferedBytes } }

    public func pendingClips(actor: String?) async -> Int { await state.pendingClips(actor: actor) }

    public func trigger(pre: Double?, post: Double?, label: String?, actor: String?) async throws -> VideoRecord {
        try await state.trigger(pre: pre ?? configuration.preSeconds, post: post ?? configuration.postSeconds, label: label, actor: actor)
    }

    public func run() async throws {
        defer {
            events.stopObserving(listener)
            requestsContinuation.finish()
        }
        await state.failInterrupted()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await request in self.requests {
                    func seconds(_ key: String) -> Double? {
                        switch request.details[key] {
                        case .int(let value)?: Double(value)
                        case .double(let value)?: value
                        default: nil
                        }
                    }
                    var label: String?
                    if case .string(let text)? = request.details["label"] { label = text }
                    do {
                        _ = try await self.trigger(pre: seconds("pre_seconds"), post: seconds("post_seconds"), label: label, actor: request.actor)
                    } catch {
                        self.logger.warning("clip trigger from the event bus failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            // The pre-roll is kept on the camera's thread (a tap, no task woken); this task
            // wakes only while clips are being written, once per batch. The clipper holds the
            // camera's demand, as its reader did.
            let keeper = state.tap
            let tap = hub.tap(name: "clipper", demands: true) { events in keeper.handle(events) }
            for await _ in keeper.signals {
                if Task.isCancelled { break }
                await state.drain()
            }
            hub.untap(tap)
            // Stopping (gateway shutdown, camera removed): clips in progress become READY with
            // what they have, instead of being left `recording` and deleted at the next start.
            // The task is cancelled by then, and storage refuses work from cancelled tasks: the
            // finishing runs in a task of its own, awaited here.
            let clips = self.state
            await Task { await clips.finishAll(note: "ended early: the gateway stopped") }.value
            group.cancelAll()
        }
    }
}
