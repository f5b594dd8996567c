import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Hummingbird
import Testing

/// Single requests that used to take the whole process down (issue 11): each must now get a
/// 4xx with the JSON error shape, and the gateway must go on serving.
@Suite struct CrashRegressionTests {
    @Test func aHugeRangeIsClampedToTheFile() async throws {
        let gateway = try await TestGateway.start()
        let clip = try await TestMedia.clip()
        let size = try FileIO.read(clip).count
        try await gateway.storageVideo(clip, id: "v1")
        try await gateway.run { http in
            let token = try await http.login("olivia")
            for header in ["bytes=0-9223372036854775807", "bytes=0-99999999999999999999999", "bytes=-9223372036854775807"] {
                var headers = HTTPFields()
                headers[.range] = header
                let response = try await http.request(.get, "/api/videos/v1/stream", token: token, headers: headers)
                #expect(response.status == 206, "\(header)")
                #expect(response.headers[.contentRange] == "bytes 0-\(size - 1)/\(size)")
            }
            var headers = HTTPFields()
            headers[.range] = "bytes=9223372036854775807-"
            #expect(try await http.request(.get, "/api/videos/v1/stream", token: token, headers: headers).status == 416)
            #expect(try await http.request(.get, "/api/health").status == 200)
        }
    }

    @Test func anExpiryOutOfRangeIsA400AndAStoredOneIsReadable() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let owner = try await http.login("olivia")
            #expect(try await http.request(.post, "/api/cameras", token: owner, json: #"{"id": "c", "name": "c", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s"}}"#).status == 201)
            for value in ["1e300", "-1e300", "9223372036854775807", "253402300800", #""99999-01-01T00:00:00Z""#] {
                let response = try await http.request(.post, "/api/cameras/c/shares", token: owner, json: #"{"username": "victor", "role": "viewer", "expires_at": \#(value)}"#)
                #expect(response.status == 400, "\(value): \(response.text)")
                #expect(response.json?["error"]?["status"] == .int(400))
            }
            // A grant an older version stored out of range is listed (clamped), not a crash.
            try await gateway.runtime.storage.putGrant(GrantRecord(cameraID: "c", username: "victor", role: .viewer, expiresAt: 1e300,
                                                                   grantedBy: "olivia", createdAt: WallClock.now()))
            let shares = try await http.request(.get, "/api/cameras/c/shares", token: owner)
            #expect(shares.status == 200)
            #expect(shares.text.contains("9999-12-31T23:59:59"))
            #expect(try await http.request(.get, "/api/cameras/c", token: try await http.login("victor")).status == 200)
        }
    }

    @Test func hugeNumbersInCameraOptionsAreProblemsNotTraps() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let admin = try await http.login("admin")
            let response = try await http.request(.post, "/api/cameras", token: admin, json: """
                {"name": "x", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s", "timeout": 1e300, "idle_timeout": 1e18, "retry_max": 1e300},
                 "sinks": [{"type": "hls", "segment_duration": 1e300, "window": 9223372036854775807},
                           {"type": "websocket", "viewer_stall_seconds": 1e300, "viewer_queue_fragments": 9223372036854775807},
                           {"type": "clipper", "max_buffer_bytes": 9223372036854775807}]}
                """)
            #expect(response.status == 400)
            let paths = Set((response.json?["error"]?["details"]).flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap { if case .string(let path)? = $0["path"] { path } else { nil } }
            } ?? [])
            #expect(paths.isSuperset(of: ["source.timeout", "source.idle_timeout", "source.retry_max", "sinks[0].segment_duration", "sinks[0].window",
                                          "sinks[1].viewer_stall_seconds", "sinks[1].viewer_queue_fragments", "sinks[2].max_buffer_bytes"]), "\(paths)")
            let huge = try await http.request(.post, "/api/cameras", token: admin, json: #"{"name": "x", "source": {"type": "rtsp", "url": "rtsp://h/s", "timeout": 1e999}}"#)
            #expect(huge.status == 400 && huge.errorCode == "malformed_json")
        }
    }
}

extension TestGateway {
    /// A stored recording of `path` on a camera of olivia's, as the recorder would index it.
    func storageVideo(_ path: String, id: String) async throws {
        let now = WallClock.now()
        try await runtime.storage.upsertCamera(CameraRecord(id: "cam-\(id)", name: id, owner: "olivia", source: .object(JSONObject([("type", .string("rtsp")), ("url", .string("rtsp://192.0.2.1/s"))])),
                                                            sinks: .array([]), origin: .api, createdAt: now, updatedAt: now))
        let size = try FileIO.read(path).count
        try await runtime.storage.insertVideo(VideoRecord(id: id, cameraID: "cam-\(id)", kind: .clip, status: .ready, path: path, start: now - 4, end: now,
                                                          size: size, label: nil, createdBy: "olivia", createdAt: now))
    }
}
