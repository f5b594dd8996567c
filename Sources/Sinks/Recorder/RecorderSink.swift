import Gateway
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The continuous recorder (`type: "recorder"`): fMP4 segment files of `segment_duration`,
/// each fragment appended as soon as it closes (every `part_duration`), so a crash loses at most
/// one part and every file stays playable. Each segment is indexed in storage as a recording;
/// retention deletes the oldest by age and by total size.
public final class RecorderSink: SinkAdapter, RecordingSwitch {
    public static let type = "recorder"
    public typealias Configuration = RecorderSinkConfiguration

    private let hub: StreamHub
    let state: RecorderState

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        self.hub = hub
        guard let storage = context.storage else { throw MediaError(.unsupported, component: context.id, "the recorder needs a storage backend") }
        let directory = (configuration.directory ?? context.dataDirectory + "/recordings") + "/" + context.id
        try FileIO.makeDirectory(directory)
        state = RecorderState(cameraID: context.id, configuration: configuration, directory: directory, storage: storage,
                              events: context.events, logger: context.logger)
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
        await hub.withReader(name: "recorder", capacity: 4096, demands: false) { reader in
            for await event in reader {
                switch event {
                case .streams(let streams): await state.begin(streams)
                case .packet(let packet): await state.append(packet)
                case .skipped: await state.closeSegment(reason: "packets were lost")
                }
            }
        }
        // Stopping cancels this task; closing the segment (a storage update) must still happen.
        let recorderState = state
        await Task { await recorderState.closeSegment(reason: "stopped") }.value
    }
}
