import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Testing

/// Ids and names must not let one user inherit or probe another's things.
@Suite struct IdentityTests {
    @Test func aDeletedCamerasVideosGoWithIt() async throws {
        let gateway = try await TestGateway.start()
        let clip = try await TestMedia.clip()
        try await gateway.run { http in
            let olivia = try await http.login("olivia")
            #expect(try await http.request(.post, "/api/cameras", token: olivia, json: #"{"id": "porch", "name": "Porch", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s"}}"#).status == 201)
            let copy = TestMedia.temporaryPath("porch-clip.mp4")
            try FileManager.default.copyItem(atPath: clip, toPath: copy)
            try await gateway.runtime.storage.insertVideo(VideoRecord(id: "porch-1", cameraID: "porch", kind: .clip, status: .ready, path: copy,
                                                                      start: 1, end: 2, size: 10, label: nil, createdBy: "olivia", createdAt: 3))
            #expect(try await http.request(.delete, "/api/cameras/porch", token: olivia).status == 204)
            #expect(!FileManager.default.fileExists(atPath: copy))
            // sam makes a camera with the same id: it comes with nothing.
            let sam = try await http.login("sam")
            #expect(try await http.request(.post, "/api/cameras", token: sam, json: #"{"id": "porch", "name": "Mine", "source": {"type": "rtsp", "url": "rtsp://192.0.2.2/s"}}"#).status == 201)
            #expect(try await http.request(.get, "/api/videos/porch-1", token: sam).status == 404)
            #expect(try await http.request(.get, "/api/videos?camera=porch", token: sam).json?["meta"]?["total"] == .int(0))
        }
    }

    @Test func creatingAnIdTakenByAnInvisibleCameraLooksLikeAnyInvisibleCamera() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let olivia = try await http.login("olivia")
            let body = #"{"id": "secret-cam", "name": "x", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s"}}"#
            #expect(try await http.request(.post, "/api/cameras", token: olivia, json: body).status == 201)
            let probe = try await http.request(.post, "/api/cameras", token: try await http.login("sam"), json: body)
            let invisible = try await http.request(.get, "/api/cameras/secret-cam", token: try await http.login("sam"))
            #expect(probe.status == invisible.status && probe.status == 404)
            #expect(probe.errorCode == invisible.errorCode)
            #expect(try await http.request(.post, "/api/cameras", token: olivia, json: body).status == 409)
        }
    }
}
