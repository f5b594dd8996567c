#if canImport(Glibc)
import Glibc
#endif

/// Something that happened in the gateway, for the event backends (log, MQTT, analytics).
public struct GatewayEvent: Sendable, Equatable {
    /// Dotted name: `camera.state_changed`, `stream.started`, `clip.ready`, …
    public let name: String
    public let camera: String?
    /// Unix time in seconds.
    public let time: Double
    public let attributes: JSONObject

    public init(name: String, camera: String? = nil, attributes: JSONObject = JSONObject(), time: Double = WallClock.now()) {
        self.name = name
        self.camera = camera
        self.attributes = attributes
        self.time = time
    }
}

public enum WallClock {
    public static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
