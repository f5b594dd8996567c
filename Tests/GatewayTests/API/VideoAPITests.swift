import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Hummingbird
import Testing

@Suite struct VideoAPITests {
    /// olivia's camera `yard` (shared with victor as viewer, oscar as operator) with 25 clips,
    /// and sam's camera `other` with 3.
    func setUp(_ gateway: TestGateway, _ http: TestHTTP) async throws -> (clip: [UInt8], ids: [String]) {
        let olivia = try await http.login("olivia")
        let sam = try await http.login("sam")
        for (token, id) in [(olivia, "yard"), (sam, "other")] {
            let created = try await http.request(.post, "/api/cameras", token: token, json: #"{"id": "\#(id)", "name": "\#(id)", "source": {"type": "rtsp", "url": "rtsp://192.0.2.4/s"}}"#)
            guard created.status == 201 else { throw TestFailure(created.text) }
        }
        _ = try await http.request(.post, "/api/cameras/yard/shares", token: olivia, json: #"{"username": "victor", "role": "viewer"}"#)
        _ = try await http.request(.post, "/api/cameras/yard/shares", token: olivia, json: #"{"username": "oscar", "role": "operator"}"#)
        let source = try await TestMedia.clip()
        let bytes = try FileIO.read(source)
        var ids: [String] = []
        for index in 0..<28 {
            let camera = index < 25 ? "yard" : "other"
            let path = TestMedia.temporaryPath("clip-\(index).mp4")
            try FileIO.write(bytes, to: path)
            let id = "vid-\(index)"
            try await gateway.runtime.storage.insertVideo(VideoRecord(
                id: id, cameraID: camera, kind: .clip, status: .ready, path: path, start: 1000 + Double(index), end: 1002 + Double(index),
                size: bytes.count, label: "clip \(index)", createdBy: "olivia", createdAt: 2000 + Double(index)))
            ids.append(id)
        }
        return (bytes, ids)
    }

    @Test func listingIsPaginatedAndShowsOnlyVisibleCameras() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            _ = try await setUp(gateway, http)
            let olivia = try await http.login("olivia")
            let first = try await http.request(.get, "/api/videos?page=1&limit=10", token: olivia)
            #expect(first.json?["meta"] == .object(JSONObject([("page", .int(1)), ("limit", .int(10)), ("total", .int(25)), ("totalPages", .int(3))])))
            guard case .array(let data)? = first.json?["data"] else { Issue.record("no data"); return }
            #expect(data.count == 10)
            #expect(data.first?["id"] == .string("vid-24"))  // newest first
            #expect(data.first?["stream_url"] == .string("/api/videos/vid-24/stream"))
            #expect(data.first?["duration"] == .int(2))  // written as 2
            if case .array(let last)? = try await http.request(.get, "/api/videos?page=3&limit=10", token: olivia).json?["data"] { #expect(last.count == 5) }
            #expect(try await http.request(.get, "/api/videos?kind=recording", token: olivia).json?["meta"]?["total"] == .int(0))
            #expect(try await http.request(.get, "/api/videos?camera=yard", token: try await http.login("victor")).json?["meta"]?["total"] == .int(25))
            #expect(try await http.request(.get, "/api/videos?camera=yard", token: try await http.login("sam")).status == 404)
            #expect(try await http.request(.get, "/api/videos", token: try await http.login("sam")).json?["meta"]?["total"] == .int(3))
            #expect(try await http.request(.get, "/api/videos", token: try await http.login("admin")).json?["meta"]?["total"] == .int(28))
            #expect(try await http.request(.get, "/api/videos?limit=1000", token: olivia).status == 400)
            #expect(try await http.request(.get, "/api/videos?kind=movie", token: olivia).status == 400)
            #expect(try await http.request(.get, "/api/videos").status == 401)
        }
    }

    @Test func streamingAnswersRangeRequestsByteExact() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let (bytes, _) = try await setUp(gateway, http)
            let token = try await http.login("victor")
            let size = bytes.count
            let full = try await http.request(.get, "/api/videos/vid-3/stream", token: token)
            #expect(full.status == 200 && Array(full.text.utf8).count > 0)
            #expect(full.headers[.contentLength] == String(size) && full.headers[.contentType] == "video/mp4")
            let etag = try #require(full.headers[.eTag])
            func range(_ value: String, extra: HTTPFields = [:]) async throws -> (Int, [UInt8], HTTPFields) {
                var headers = extra
                headers[.range] = value
                headers[.authorization] = "Bearer \(token)"
                let response = try await http.client.execute(uri: "/api/videos/vid-3/stream", method: .get, headers: headers, body: nil)
                return (Int(response.status.code), Array(response.body.readableBytesView), response.headers)
            }
            let (status, body, headers) = try await range("bytes=0-99")
            #expect(status == 206 && body == Array(bytes[0..<100]) && headers[.contentRange] == "bytes 0-99/\(size)")
            #expect(try await range("bytes=1000-").1 == Array(bytes[1000...]))
            #expect(try await range("bytes=-500").1 == Array(bytes[(size - 500)...]))
            #expect(try await range("bytes=\(size - 10)-\(size + 100)").1 == Array(bytes[(size - 10)...]))
            let unsatisfiable = try await range("bytes=\(size)-")
            #expect(unsatisfiable.0 == 416 && unsatisfiable.2[.contentRange] == "bytes */\(size)")
            #expect(try await range("bytes=0-9", extra: [.ifRange: etag]).0 == 206)
            let stale = try await range("bytes=0-9", extra: [.ifRange: "\"stale\""])
            #expect(stale.0 == 200 && stale.1 == bytes)
            #expect(try await range("bytes=0-9,20-29").0 == 200)  // several ranges: the whole file
            let head = try await http.request(.head, "/api/videos/vid-3/stream", token: token)
            #expect(head.status == 200 && head.headers[.contentLength] == String(size) && head.text.isEmpty)
        }
    }

    @Test func onlyOwnersAndAdminsDeleteAndEveryRouteRunsTheAccessDecision() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            _ = try await setUp(gateway, http)
            let path = try #require(try await gateway.runtime.storage.video(id: "vid-1")?.path)
            for (user, status) in [("victor", 403), ("oscar", 403), ("sam", 404)] {
                #expect(try await http.request(.delete, "/api/videos/vid-1", token: try await http.login(user)).status == status, "\(user)")
            }
            for (user, status) in [("victor", 200), ("oscar", 200), ("sam", 404), ("admin", 200)] {
                #expect(try await http.request(.get, "/api/videos/vid-1", token: try await http.login(user)).status == status, "\(user)")
                #expect(try await http.request(.get, "/api/videos/vid-1/stream", token: try await http.login(user)).status == status, "\(user)")
            }
            #expect(try await http.request(.delete, "/api/videos/vid-1", token: try await http.login("olivia")).status == 204)
            #expect(FileIO.unreadableReason(path) != nil)
            #expect(try await http.request(.get, "/api/videos/vid-1", token: try await http.login("olivia")).status == 404)
            #expect(try await http.request(.delete, "/api/videos/vid-2", token: try await http.login("admin")).status == 204)
            // Revoking the grant hides the camera's videos at the next request.
            _ = try await http.request(.delete, "/api/cameras/yard/shares/victor", token: try await http.login("olivia"))
            #expect(try await http.request(.get, "/api/videos/vid-3", token: try await http.login("victor")).status == 404)
        }
        let events = String(decoding: try FileIO.read(gateway.dataDirectory + "/events.jsonl"), as: UTF8.self)
        #expect(events.contains("\"event\":\"video.deleted\""))
    }
}
