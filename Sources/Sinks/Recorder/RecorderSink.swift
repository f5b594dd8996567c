import GatewayCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The continuous recorder (`type: "recorder"`): fMP4 segment files of `segment_duration`,
/// made of the camera's fMP4 parts (cut once per camera, at most `part_duration` long), taken
/// and appended about once a second, so a crash loses about a second and the part in progress,
/// and every file stays playable. Each segment is indexed in storage as a recording;
/// retention deletes the oldest by age and by total size.
public final class RecorderSink: SinkAdapter, RecordingSwitch {
    public static let type = "recorder"
    public typealias Configuration = RecorderSinkConfiguration

    private let hub: StreamHub
    private let fragmentRequest: FragmentRequest
    /// The reader of the camera's parts while `run` runs: stopping or turning recording off
    /// takes the parts it still holds.
    private let readerSlot = ReaderSlot()
    let state: RecorderState
    /// How often it takes its parts (`RecorderState.wakeInterval`; tests hold parts longer).
    private let takeInterval: Duration

    public convenience init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        try self.init(configuration: configuration, context: context, hub: hub, takeInterval: RecorderState.wakeInterval)
    }

    init(configuration: Configuration, context: PluginContext, hub: StreamHub, takeInterval: Duration) throws {
        self.takeInterval = takeInterval
        self.hub = hub
        guard let storage = context.storage else { throw MediaError(.unsupported, component: context.id, "the recorder needs a storage backend") }
        let directory = (configuration.directory ?? context.dataDirectory + "/recordings") + "/" + context.id
        try FileIO.makeDirectory(directory)
        let fragmenter = hub.fragmenter
        fragmentRequest = fragmenter.request(partDuration: configuration.partDuration)
        let reader = readerSlot
        state = RecorderState(store: SinkStore(context: context, directory: directory, storage: storage, ioName: "recorder"),
                              configuration: configuration, cutNow: { fragmenter.cutNow() },
                              takeQueued: { reader.takeQueued() })
    }

    public var isRecording: Bool { get async { await state.enabled } }

    public func setRecording(_ enabled: Bool, actor: String?) async -> Bool {
        let result = await state.setEnabled(enabled, actor: actor)
        demandWhileRecording(await state.enabled)
        return result
    }

    /// While it records, the recorder keeps an on-demand camera connected.
    private let recordingHold = Mutex<DemandHold?>(nil)

    private func demandWhileRecording(_ enabled: Bool) {
        let ended = recordingHold.withLock { hold -> DemandHold? in
            if enabled {
                if hold == nil { hold = hub.demand.hold() }
                return nil
            }
            defer { hold = nil }
            return hold
        }
        ended?.release()
    }

    public func run() async throws {
        await state.recoverInterrupted()
        demandWhileRecording(await state.enabled)
        defer { demandWhileRecording(false) }
        // The camera's fMP4 parts, cut once for every fMP4 sink; the recorder holds the camera's
        // demand itself, while it records. It writes about once a second, so it takes the parts
        // in batches, once a second: one wake-up instead of one per part.
        let reader = hub.fragmenter.fragments.subscribe(name: "recorder", capacity: 1024, demands: false, sink: true,
                                                        wakeInterval: takeInterval)
        readerSlot.set(reader)
        while let batch = await reader.nextBatch() { await state.handle(batch) }
        // Stopping cancels this task; closing the segment (a storage update) must still happen,
        // with the parts the reader still holds and the one in progress.
        let recorderState = state
        await Task { await recorderState.finish(reason: "stopped") }.value
        readerSlot.set(nil)
        reader.close()
    }
}

/// The recorder's fragment reader, while it has one.
private final class ReaderSlot: Sendable {
    private let reader = Mutex<HubReader<FragmentEvent>?>(nil)
    func set(_ value: HubReader<FragmentEvent>?) { reader.withLock { $0 = value } }
    func takeQueued() -> [FragmentEvent] { reader.withLock { $0 }?.takeQueued() ?? [] }
}
