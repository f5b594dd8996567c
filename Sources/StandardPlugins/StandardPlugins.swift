import GatewayCore
import Sinks
import SourcesFile
import SourcesHTTP
import SourcesRTSP
import SourcesUSB
import CacheRedis
import EventsMQTT
import EventsPostgres
import StorageMongoDB
import StoragePostgres
import StorageSQLite

/// The plugins a `gateway` binary has. Adding one is one line here; the core never imports
/// an adapter (Swift has no self-registration, so the list is explicit).
public enum StandardPlugins {
    public static var registry: PluginRegistry {
        var registry = PluginRegistry()
        registry.register(source: FileSource.self)
        registry.register(source: RTSPSource.self)
        registry.register(source: HTTPSource.self)
        registry.register(source: USBSource.self)
        StandardSinks.register(into: &registry)
        registry.register(events: LogEventBackend.self)
        registry.register(events: MQTTEventBackend.self)
        registry.register(events: PostgresEventBackend.self)
        registry.register(storage: SQLiteStorage.self)
        registry.register(storage: PostgresStorage.self)
        registry.register(storage: MongoStorage.self)
        registry.register(cache: RedisCache.self)
        return registry
    }
}
