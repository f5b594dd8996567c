import Hummingbird
import GatewayCore
import JSON

/// Seed 001's camera routes, answering in its shapes over the same operations.
/// (`/login`, `/register`, `/self` are served by `AuthRoutes`.)
struct SeedRoutes {
    let cameras: CameraOperations
    let manager: CameraManager

    struct AddCamera: Decodable { let name: String; let rtspUrl: String }
    struct CameraReference: Decodable { let cameraId: String }
    struct ShareCamera: Decodable { let cameraId: String; let username: String; let role: GrantRole? }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/cameras") { _, context in
            let visible = try await cameras.list(try context.principal())
            return Response.json(.array(visible.map { Views.camera($0.0, role: $0.1, manager: manager) }))
        }
        router.post("/addCamera") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(AddCamera.self, from: request)
            let record = try await cameras.create(principal, .init(
                name: body.name, source: .object(JSONObject([("type", .string("rtsp")), ("url", .string(body.rtspUrl))])),
                    sinks: CameraOperations.seedSinks))
            return Response.json(.object(JSONObject([
                ("success", .bool(true)),
                ("camera", Views.camera(record, role: .owner, manager: manager)),
            ])))
        }
        router.post("/deleteCamera") { request, context in
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            try await cameras.delete(try context.principal(), id: body.cameraId)
            return Response.json(.object(JSONObject([("success", .bool(true))])))
        }
        router.post("/shareCamera") { request, context in
            let body = try await RequestBody.decode(ShareCamera.self, from: request)
            let grant = try await cameras.share(try context.principal(), id: body.cameraId, username: body.username,
                                                role: body.role ?? .viewer, expiresAt: nil)
            return Response.json(.object(JSONObject([("success", .bool(true)), ("share", Views.grant(grant))])))
        }
    }
}

/// RFC 3339 times (`2026-11-21T10:00:00Z`, `…+02:00`, fractional seconds) to Unix seconds.
enum RFC3339 {
    static func parse(_ text: String) -> Double? {
        let pattern = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= pattern.count else { return nil }
            var value = 0
            for byte in pattern[start..<start + count] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        func separator(_ index: Int, _ allowed: String) -> Bool { index < pattern.count && allowed.utf8.contains(pattern[index]) }
        guard pattern.count >= 20, pattern.count <= 64, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              separator(4, "-"), separator(7, "-"), separator(10, "Tt"), separator(13, ":"), separator(16, ":"),
              (1...12).contains(month), hour < 24, minute < 60, second < 61 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...monthDays[month - 1]).contains(day) else { return nil }
        var index = 19
        var fraction = 0.0
        if index < pattern.count, pattern[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            var scale = 0.1
            while index < pattern.count, (48...57).contains(pattern[index]) {
                fraction += Double(pattern[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > digits else { return nil }
        }
        guard index < pattern.count else { return nil }
        var offset = 0
        switch pattern[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"): guard index + 1 == pattern.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == pattern.count, separator(index + 3, ":"), let hours = number(index + 1, 2), let minutes = number(index + 4, 2),
                  hours < 24, minutes < 60 else { return nil }
            offset = (hours * 60 + minutes) * 60 * (pattern[index] == UInt8(ascii: "+") ? 1 : -1)
        default: return nil
        }
        // Days from 1970-01-01 (proleptic Gregorian), after Howard Hinnant's civil-date algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146097 + dayOfEra - 719468
        return Double(days * 86400 + hour * 3600 + minute * 60 + second - offset) + fraction
    }
}
