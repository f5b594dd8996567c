#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Something that happened in the gateway, for the event backends (log, MQTT, analytics).
public struct GatewayEvent: Sendable, Equatable {
    /// Dotted name: `user.login`, `camera.created`, `camera.state_changed`, …
    public let name: String
    /// Unix time in seconds.
    public let time: Double
    /// The username that caused it; nil for system changes.
    public let actor: String?
    public let camera: String?
    public let details: JSONObject

    public init(name: String, actor: String? = nil, camera: String? = nil, details: JSONObject = JSONObject(), time: Double = WallClock.now()) {
        self.name = name
        self.actor = actor
        self.camera = camera
        self.details = details
        self.time = time
    }

    /// `{"time": "2026-…Z", "event": …, "actor": …, "camera": …, "details": {…}}`
    public var json: JSONValue {
        var object = JSONObject([("time", .string(WallClock.iso8601(time))), ("event", .string(name))])
        if let actor { object["actor"] = .string(actor) }
        if let camera { object["camera"] = .string(camera) }
        object["details"] = .object(details)
        return .object(object)
    }
}

public enum WallClock {
    public static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The times the gateway accepts from outside and can print: 1970-01-01 to 9999-12-31.
    public static let representable: ClosedRange<Double> = 0...253_402_300_799

    /// RFC 3339 in UTC with milliseconds. A time outside `representable` (a record stored by an
    /// older version, say) prints as the nearest end of that range instead of trapping.
    public static func iso8601(_ time: Double) -> String {
        let time = time.isNaN ? 0 : min(max(time, representable.lowerBound), representable.upperBound)
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int(((time - time.rounded(.down)) * 1000).rounded(.down))
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
