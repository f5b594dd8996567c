import GatewayCore
import Logging

/// What a sink that writes files needs, besides its options: its camera, its directory, the
/// storage backend that indexes the files, the event bus, the logger, and an `IOQueue` for the
/// blocking file work (off the cooperative pool).
struct SinkStore: Sendable {
    let cameraID: String
    let directory: String
    let storage: any StorageBackend
    let events: EventBus
    let logger: Logger
    let io: IOQueue

    init(context: PluginContext, directory: String, storage: any StorageBackend, ioName: String) {
        cameraID = context.id
        self.directory = directory
        self.storage = storage
        events = context.events
        logger = context.logger
        io = IOQueue(name: ioName + ":" + context.id)
    }
}
