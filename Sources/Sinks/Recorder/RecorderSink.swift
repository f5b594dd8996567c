import GatewayCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The continuous recorder (`type: "recorder"`): fMP4 segment files of `segment_duration`,
/// made of the camera's fMP4 parts (cut once per camera, at most `part_duration` long), each
/// appended as soon as it is cut, so a crash loses at most one part and every file stays
/// playable. Each segment is indexed in storage as a recording;
/// retention deletes the oldest by age and by total size.
public final class RecorderSink: SinkAdapter, RecordingSwitch {
    public static let type = "recorder"
    public typealias Configuration = RecorderSinkConfiguration

    private let hub: StreamHub
    private let fragmentRequest: FragmentRequest
    let state: RecorderState

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        self.hub = hub
        guard let storage = context.storage else { throw MediaError(.unsupported, component: context.id, "the recorder needs a storage backend") }
        let directory = (configuration.directory ?? context.dataDirectory + "/recordings") + "/" + context.id
        try FileIO.makeDirectory(directory)
        let fragmenter = hub.fragmenter
        fragmentRequest = fragmenter.request(partDuration: configuration.partDuration)
        state = RecorderState(store: SinkStore(context: context, directory: directory, storage: storage, ioName: "recorder"),
                              configuration: configuration, cutNow: { fragmenter.cutNow() })
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
        // demand itself, while it records.
        let reader = hub.fragmenter.fragments.subscribe(name: "recorder", capacity: 1024, demands: false, sink: true)
        for await event in reader {
            switch event {
            case .initSegment(let initSegment): await state.begin(initSegment)
            case .fragment(let fragment): await state.append(fragment)
            case .skipped: await state.closeSegment(reason: "fragments were lost")
            }
        }
        reader.close()
        // Stopping cancels this task; closing the segment (a storage update) must still happen.
        let recorderState = state
        await Task { await recorderState.finish(reason: "stopped") }.value
    }
}
