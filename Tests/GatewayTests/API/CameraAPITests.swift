import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct CameraAPITests {
    func fileCamera(_ name: String) async throws -> String {
        #"{"name": "\#(name)", "source": {"type": "file", "path": "\#(try await TestMedia.clip())", "loop": true}}"#
    }

    @Test func invalidCamerasAreRefusedWithEveryProblemAndItsPath() async throws {
        try await TestGateway.start().run { http in
            let owner = try await http.login("olivia")
            let response = try await http.request(.post, "/api/cameras", token: owner, json: """
                {"name": "x", "source": {"type": "rtsp", "transport": "carrier-pigeon"}, "sinks": [{"type": "hls", "window": 1}, {"type": "teleport"}]}
                """)
            #expect(response.status == 400)
            #expect(response.errorCode == "invalid_camera")
            var paths: [String] = []
            if case .array(let details)? = response.json?["error"]?["details"] {
                for case .object(let detail) in details { if case .string(let path)? = detail["path"] { paths.append(path) } }
            }
            #expect(Set(paths) == ["source.url", "source.transport", "sinks[0].window", "sinks[1].type"])
            let unknown = try await http.request(.post, "/api/cameras", token: owner, json: #"{"name": "x", "source": {"type": "webcam"}}"#)
            #expect(unknown.text.contains("known types: file, http, rtsp, usb"))
            let badID = try await http.request(.post, "/api/cameras", token: owner, json: #"{"id": "no spaces", "name": "x", "source": {"type": "rtsp", "url": "rtsp://h/s"}}"#)
            #expect(badID.status == 400)
            #expect(try await http.request(.post, "/api/cameras", json: try await fileCamera("x")).status == 401)
        }
    }

    @Test func createdCamerasStartAtOnceAndPatchRestartsOnlyThatCamera() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            // File sources read the server: an admin creates them, for olivia.
            let owner = try await http.login("olivia")
            let admin = try await http.login("admin")
            let first = try await http.request(.post, "/api/cameras", token: admin, json: #"{"id": "first", "name": "First", "owner": "olivia", "source": {"type": "file", "path": "\#(try await TestMedia.clip())", "loop": true}}"#)
            #expect(first.status == 201)
            #expect(first.headers[.location] == "/api/cameras/first")
            #expect(first.json?["owner"] == .string("olivia"))
            #expect(try await http.request(.post, "/api/cameras", token: admin, json: #"{"id": "second", "name": "Second", "owner": "olivia", "source": {"type": "file", "path": "\#(try await TestMedia.clip())", "loop": true}}"#).status == 201)
            let manager = gateway.runtime.cameraManager
            #expect(try await eventually { manager.pipeline(id: "first")?.supervisor.currentStatus.state == .online
                && manager.pipeline(id: "second")?.supervisor.currentStatus.state == .online })
            let firstBefore = try #require(manager.pipeline(id: "first"))
            let secondBefore = try #require(manager.pipeline(id: "second"))

            let patched = try await http.request(.patch, "/api/cameras/first", token: owner, json: #"{"name": "First, renamed"}"#)
            #expect(patched.status == 200)
            #expect(patched.json?["name"] == .string("First, renamed"))
            #expect(manager.pipeline(id: "first") !== firstBefore)
            #expect(manager.pipeline(id: "second") === secondBefore)
            #expect(try await eventually { manager.pipeline(id: "first")?.supervisor.currentStatus.state == .online })
            #expect(try await eventually { firstBefore.supervisor.currentStatus.state == .offline })
            #expect(secondBefore.supervisor.currentStatus.state == .online)

            let badPatch = try await http.request(.patch, "/api/cameras/first", token: admin, json: #"{"source": {"type": "file"}}"#)
            #expect(badPatch.status == 400)
            let refusedPatch = try await http.request(.patch, "/api/cameras/first", token: owner, json: #"{"source": {"type": "file", "path": "/etc/hostname"}}"#)
            #expect(refusedPatch.status == 403)
            #expect(refusedPatch.errorCode == "source_not_allowed")
            #expect(try await http.request(.get, "/api/cameras/first", token: owner).json?["name"] == .string("First, renamed"))

            #expect(try await http.request(.delete, "/api/cameras/first", token: owner).status == 204)
            #expect(manager.pipeline(id: "first") == nil)
            #expect(try await http.request(.get, "/api/cameras/first", token: owner).status == 404)
            #expect(try await http.request(.delete, "/api/cameras/first", token: owner).status == 404)
            let duplicate = try await http.request(.post, "/api/cameras", token: owner, json: #"{"id": "second", "name": "Again", "source": {"type": "rtsp", "url": "rtsp://h/s"}}"#)
            #expect(duplicate.status == 409)
        }
    }

    @Test func configCamerasAreOnboardedKeepTheirOwnerAndAreChangedInTheFile() async throws {
        let clip = try await TestMedia.clip()
        let gateway = try await TestGateway.start(cameras: """
            [{"id": "lobby", "name": "Lobby", "owner": "olivia", "source": {"type": "file", "path": "\(clip)", "loop": true}}]
            """)
        try await gateway.run { http in
            let owner = try await http.login("olivia")
            let camera = try await http.request(.get, "/api/cameras/lobby", token: owner)
            #expect(camera.json?["role"] == .string("owner"))
            #expect(camera.json?["origin"] == .string("config"))
            let patch = try await http.request(.patch, "/api/cameras/lobby", token: owner, json: #"{"name": "x"}"#)
            #expect(patch.status == 409)
            #expect(patch.errorCode == "managed_by_config")
            #expect(try await http.request(.delete, "/api/cameras/lobby", token: try await http.login("admin")).status == 409)
            #expect(try await http.request(.post, "/api/cameras/lobby/shares", token: owner, json: #"{"username": "victor"}"#).status == 201)
            #expect(try await http.request(.get, "/api/cameras/lobby", token: try await http.login("victor")).json?["role"] == .string("viewer"))
        }
    }

    @Test func camerasAndSharesPersistAcrossARestart() async throws {
        let directory = TestMedia.temporaryPath("restart")
        let clip = try await TestMedia.clip()
        let first = try await TestGateway.start(directory: directory)
        try await first.run { http in
            let owner = try await http.login("olivia")
            #expect(try await http.request(.post, "/api/cameras", token: try await http.login("admin"),
                                            json: #"{"id": "kept", "name": "Kept", "owner": "olivia", "source": {"type": "file", "path": "\#(clip)", "loop": true}}"#).status == 201)
            #expect(try await http.request(.post, "/api/cameras/kept/shares", token: owner, json: #"{"username": "oscar", "role": "operator"}"#).status == 201)
        }
        let second = try await TestGateway.start(directory: directory)
        #expect(second.runtime.cameraManager.pipeline(id: "kept") != nil)
        try await second.run { http in
            let camera = try await http.request(.get, "/api/cameras/kept", token: try await http.login("oscar"))
            #expect(camera.json?["role"] == .string("operator"))
            #expect(camera.json?["name"] == .string("Kept"))
            let hub = try #require(second.runtime.cameraManager.pipeline(id: "kept")).hub
            #expect(try await eventually { hub.statistics.packets > 0 })
        }
    }

    @Test func credentialsNeverAppearInResponsesLogsOrEvents() async throws {
        let gateway = try await TestGateway.start()
        let secret = "S3cretPW"
        try await gateway.run { http in
            let owner = try await http.login("olivia")
            let created = try await http.request(.post, "/api/cameras", token: owner, json: """
                {"id": "secret", "name": "Secret", "source": {"type": "rtsp", "url": "rtsp://admin:\(secret)@192.0.2.7:554/h264", "password": "\(secret)"}}
                """)
            #expect(created.status == 201)
            #expect(created.json?["source"]?["url"] == .string("rtsp://***@192.0.2.7:554/h264"))
            #expect(created.json?["source"]?["password"] == .string("***"))
            _ = try await http.request(.get, "/api/cameras", token: owner)
            _ = try await http.request(.get, "/api/cameras/secret", token: owner)
            _ = try await http.request(.patch, "/api/cameras/secret", token: owner, json: #"{"name": "Still secret"}"#)
            _ = try await http.request(.get, "/cameras", token: owner)
            _ = try await http.request(.post, "/addCamera", token: owner, json: #"{"name": "Seed", "rtspUrl": "rtsp://u:\#(secret)@192.0.2.8/live"}"#)
            _ = try await http.request(.get, "/api/health", token: owner)
            _ = try await http.request(.get, "/api/health", token: try await http.login("admin"))
            // Stored as given: the gateway needs them to connect.
            #expect(try await gateway.runtime.storage.camera(id: "secret")?.source["url"] == .string("rtsp://admin:\(secret)@192.0.2.7:554/h264"))
            #expect(!http.allBodies.contains { $0.contains(secret) })
        }
        #expect(!gateway.logs.all.contains { $0.contains(secret) })
        let events = String(decoding: try FileIO.read(gateway.dataDirectory + "/events.jsonl"), as: UTF8.self)
        #expect(events.contains("camera.created"))
        #expect(!events.contains(secret))
    }

    @Test func seed001CameraRoutes() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let owner = try await http.login("olivia")
            let added = try await http.request(.post, "/addCamera", token: owner, json: #"{"name": "Garage", "rtspUrl": "rtsp://192.0.2.3/stream"}"#)
            #expect(added.status == 200)
            #expect(added.json?["success"] == .bool(true))
            guard case .string(let id)? = added.json?["camera"]?["id"] else { Issue.record("no camera"); return }
            #expect(added.json?["camera"]?["source"]?["type"] == .string("rtsp"))
            let shared = try await http.request(.post, "/shareCamera", token: owner, json: #"{"cameraId": "\#(id)", "username": "victor"}"#)
            #expect(shared.json?["success"] == .bool(true))
            let asViewer = try await http.request(.get, "/cameras", token: try await http.login("victor"))
            guard case .array(let list)? = asViewer.json else { Issue.record("not an array: \(asViewer.text)"); return }
            #expect(list.count == 1 && list.first?["role"] == .string("viewer"))
            let notYours = try await http.request(.post, "/deleteCamera", token: try await http.login("victor"), json: #"{"cameraId": "\#(id)"}"#)
            #expect(notYours.status == 403)
            #expect(try await http.request(.post, "/deleteCamera", token: owner, json: #"{"cameraId": "\#(id)"}"#).json?["success"] == .bool(true))
            #expect(try await http.request(.get, "/cameras", token: owner).json == .array([]))
            #expect(try await http.request(.post, "/deleteCamera", token: owner, json: #"{"cameraId": "\#(id)"}"#).status == 404)
        }
    }
}
