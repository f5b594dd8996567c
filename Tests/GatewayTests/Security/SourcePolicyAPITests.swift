import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Testing

/// The exploits of issue 11 as an ordinary user tries them, and what admins may still do.
@Suite struct SourcePolicyAPITests {
    func camera(_ source: String, sinks: String = "[]", id: String = "x") -> String {
        #"{"id": "\#(id)", "name": "x", "source": \#(source), "sinks": \#(sinks)}"#
    }

    /// The policy matrix: who × source type × destination.
    @Test func usersMayPointCamerasOnlyAtAllowedNetworkDestinations() async throws {
        let gateway = try await TestGateway.start()
        let clip = try await TestMedia.clip()
        try await gateway.run { http in
            let user = try await http.login("olivia")
            let admin = try await http.login("admin")
            let cases: [(source: String, userStatus: Int, adminStatus: Int)] = [
                (#"{"type": "usb", "driver": "lavfi", "device": "movie=filename=\#(gateway.directory)/plugins.json:f=tty"}"#, 403, 201),
                (#"{"type": "file", "path": "\#(clip)", "loop": true}"#, 403, 201),
                (#"{"type": "file", "path": "/no/such/file.mp4"}"#, 403, 422),
                (#"{"type": "http", "url": "http://127.0.0.1:22/"}"#, 403, 201),
                (#"{"type": "http", "url": "http://localhost:8080/"}"#, 403, 201),
                (#"{"type": "http", "url": "http://169.254.169.254/latest/meta-data/"}"#, 403, 201),
                (#"{"type": "rtsp", "url": "rtsp://10.0.0.8/live"}"#, 403, 201),
                (#"{"type": "rtsp", "url": "rtsp://[::1]:554/live"}"#, 403, 201),
                (#"{"type": "rtsp", "url": "rtsp://0x7f000001/live"}"#, 403, 201),
                (#"{"type": "http", "url": "http://192.0.2.7/cam.mjpg", "format": "concat"}"#, 403, 201),
                (#"{"type": "http", "url": "http://192.0.2.7/cam.mjpg", "format": "mjpeg"}"#, 201, 201),
                (#"{"type": "rtsp", "url": "rtsp://192.0.2.7/live", "transcode": {"mode": "always", "preset": "veryslow"}}"#, 403, 201),
                (#"{"type": "rtsp", "url": "rtsp://192.0.2.7/live", "transcode": {"mode": "never"}}"#, 201, 201),
                (#"{"type": "rtsp", "url": "rtsp://cam:secret@192.0.2.7/live"}"#, 201, 201),
            ]
            for (index, testCase) in cases.enumerated() {
                let asUser = try await http.request(.post, "/api/cameras", token: user, json: camera(testCase.source, id: "u\(index)"))
                #expect(asUser.status == testCase.userStatus, "user: \(testCase.source): \(asUser.text)")
                if asUser.status == 403 {
                    #expect(asUser.errorCode == "source_not_allowed")
                    // Nothing about the server: no resolved address, no path check.
                    #expect(!asUser.text.contains("127.0.0.1") || testCase.source.contains("127.0.0.1"))
                    #expect(!asUser.text.contains("no such file") && !asUser.text.contains("cannot read"))
                }
                let asAdmin = try await http.request(.post, "/api/cameras", token: admin, json: camera(testCase.source, id: "a\(index)"))
                #expect(asAdmin.status == testCase.adminStatus, "admin: \(testCase.source): \(asAdmin.text)")
            }
            // Sinks that write somewhere are the admin's to place.
            let directory = try await http.request(.post, "/api/cameras", token: user, json: camera(#"{"type": "rtsp", "url": "rtsp://192.0.2.7/live"}"#,
                sinks: #"[{"type": "recorder", "directory": "/tmp/elsewhere"}, {"type": "clipper", "max_buffer_bytes": 17179869184}]"#, id: "dir"))
            #expect(directory.status == 403)
            let paths = Set((directory.json?["error"]?["details"]).flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap { if case .string(let path)? = $0["path"] { path } else { nil } }
            } ?? [])
            #expect(paths == ["sinks[0].directory", "sinks[1].max_buffer_bytes"])
            // A user cannot switch an admin's camera to a file either; renaming it keeps its source trusted.
            #expect(try await http.request(.post, "/api/cameras", token: admin, json: #"{"id": "given", "name": "Given", "owner": "olivia", "source": {"type": "file", "path": "\#(clip)", "loop": true}}"#).status == 201)
            #expect(try await http.request(.patch, "/api/cameras/given", token: user, json: #"{"source": {"type": "file", "path": "/etc/passwd"}}"#).status == 403)
            #expect(try await http.request(.patch, "/api/cameras/given", token: user, json: #"{"name": "Mine"}"#).status == 200)
            #expect(try await eventually { gateway.runtime.cameraManager.pipeline(id: "given")?.supervisor.currentStatus.state == .online })
            // Admins see who chose each source.
            #expect(try await http.request(.get, "/api/cameras/u10", token: admin).json?["source_trust"] == .string("restricted"))
            #expect(try await http.request(.get, "/api/cameras/given", token: admin).json?["source_trust"] == .string("unrestricted"))
            #expect(try await http.request(.get, "/api/cameras/given", token: user).json?["source_trust"] == nil)
        }
    }

    @Test func thePolicyIsConfigurable() async throws {
        let gateway = try await TestGateway.start(sources: #"{"user_types": ["rtsp"], "private_networks": "allow", "allow_networks": ["127.0.0.2/32"]}"#)
        try await gateway.run { http in
            let user = try await http.login("olivia")
            #expect(try await http.request(.post, "/api/cameras", token: user, json: camera(#"{"type": "rtsp", "url": "rtsp://10.0.0.8/live"}"#, id: "lan")).status == 201)
            #expect(try await http.request(.post, "/api/cameras", token: user, json: camera(#"{"type": "rtsp", "url": "rtsp://127.0.0.2:8554/live"}"#, id: "listed")).status == 201)
            #expect(try await http.request(.post, "/api/cameras", token: user, json: camera(#"{"type": "rtsp", "url": "rtsp://127.0.0.1:8554/live"}"#, id: "local")).status == 403)
            #expect(try await http.request(.post, "/api/cameras", token: user, json: camera(#"{"type": "http", "url": "http://192.0.2.7/x"}"#, id: "web")).status == 403)
        }
        let problems = ConfigLoader(registry: standardRegistry(), environment: [:])
            .load(text: #"{"sources": {"user_types": ["file"], "allow_networks": ["10.0.0.0/40"], "private_networks": "maybe"}}"#, baseDirectory: "/tmp")
        guard case .failure(let errors) = problems else { Issue.record("a bad sources section was accepted"); return }
        #expect(Set(errors.problems.map(\.path)) == ["sources.user_types", "sources.allow_networks", "sources.private_networks"])
    }

    /// A user's camera whose stored destination the policy refuses (DNS changed, or the record
    /// predates the policy) is refused at connect time, and its owner is told no more than that.
    @Test func theDestinationIsCheckedAgainAtEveryConnect() async throws {
        let gateway = try await TestGateway.start()
        let now = WallClock.now()
        try await gateway.runtime.storage.upsertCamera(CameraRecord(
            id: "old", name: "Old", owner: "olivia", source: .object(JSONObject([("type", .string("rtsp")), ("url", .string("rtsp://127.0.0.1:9/x"))])),
            sinks: .array([]), origin: .api, sourceTrust: .restricted, createdAt: now, updatedAt: now))
        try await gateway.runtime.storage.upsertCamera(CameraRecord(
            id: "oldfile", name: "Old file", owner: "olivia", source: .object(JSONObject([("type", .string("file")), ("path", .string("/etc/hostname"))])),
            sinks: .array([]), origin: .api, sourceTrust: .restricted, createdAt: now, updatedAt: now))
        let record = try #require(try await gateway.runtime.storage.camera(id: "old"))
        try gateway.runtime.cameraManager.start(record)
        let fileRecord = try #require(try await gateway.runtime.storage.camera(id: "oldfile"))
        #expect(throws: ConfigErrors.self) { try gateway.runtime.cameraManager.start(fileRecord) }
        try await gateway.run { http in
            let manager = gateway.runtime.cameraManager
            #expect(try await eventually { manager.pipeline(id: "old")?.supervisor.currentStatus.lastError != nil })
            let owner = try await http.request(.get, "/api/cameras/old", token: try await http.login("olivia"))
            #expect(owner.json?["last_error"] == .string("the source policy does not allow this destination"))
            let admin = try await http.request(.get, "/api/cameras/old", token: try await http.login("admin"))
            if case .string(let text)? = admin.json?["last_error"] { #expect(text.contains("127.0.0.1")) } else { Issue.record("admins see the error in full") }
        }
    }
}
