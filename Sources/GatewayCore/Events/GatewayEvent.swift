#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Something that happened in the gateway, for the event backends (log, MQTT, analytics).
public struct GatewayEvent: Sendable, Equatable {
    /// The version of the payload schema (`json`); see docs/events.md.
    public static let schemaVersion = 1
    /// Unique per event, the same in every backend: consumers drop duplicates by it (remote
    /// backends deliver at least once).
    public let id: String
    /// Dotted name: `user.login`, `camera.created`, `camera.state_changed`, …
    public let name: String
    /// Unix time in seconds.
    public let time: Double
    /// The username that caused it; nil for system changes.
    public let actor: String?
    public let camera: String?
    public let details: JSONObject

    public init(name: String, actor: String? = nil, camera: String? = nil, details: JSONObject = JSONObject(), time: Double = WallClock.now(),
                id: String = GatewayEvent.newID()) {
        self.id = id
        self.name = name
        self.actor = actor
        self.camera = camera
        self.details = details
        self.time = time
    }

    /// The part of `name` before the first dot (`user`), and the rest (`login`).
    public var category: Substring { name.prefix { $0 != "." } }
    public var action: Substring { name.firstIndex(of: ".").map { name[name.index(after: $0)...] } ?? "" }

    /// A random UUID (version 4), lowercase.
    public static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        let high = random.next() & ~0xF000 | 0x4000, low = random.next() & ~(0xC000 << 48) | (0x8000 << 48)
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (word, dashes) in [(high, [8, 13]), (low, [18, 23])] {
            for nibble in 0..<16 {
                if dashes.contains(text.count) { text.append(UInt8(ascii: "-")) }
                text.append(digits[Int((word >> UInt64(60 - nibble * 4)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `{"v": 1, "id": …, "time": "2026-…Z", "event": …, "actor": …, "camera": …, "details": {…}}`
    public var json: JSONValue {
        var object = JSONObject([("v", .int(Self.schemaVersion)), ("id", .string(id)), ("time", .string(WallClock.iso8601(time))),
                                 ("event", .string(name))])
        if let actor { object["actor"] = .string(actor) }
        if let camera { object["camera"] = .string(camera) }
        object["details"] = .object(details)
        return .object(object)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
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
        func pad(_ value: Int32, _ width: Int) -> String { String(value).leftPadded(to: width) }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
