import Hummingbird
import NIOCore
import ServiceLifecycle
import GatewayCore

/// `GET /api/cameras/{id}/mjpeg`: an MJPEG camera's own frames as `multipart/x-mixed-replace`
/// (what `<img src>` plays), from the camera's `mjpeg` sink. Viewers need `view` access, by
/// bearer token, cookie or the camera's stream token in `?token=`.
struct MJPEGRoutes {
    static let boundary = "gateway-mjpeg-frame"

    let users: UserService
    let streamTokens: StreamTokens
    let access: AccessControl
    let manager: CameraManager
    /// In a cluster: viewers of cameras other nodes run are sent there.
    let cluster: ClusterService?

    func register(on router: Router<GatewayRequestContext>) {
        let media = router.group().add(middleware: CredentialAuthenticator(check: CredentialCheck(users: users, streamTokens: streamTokens),
                                                                           scope: .cameraMedia(parameter: "id")))
        media.get("/api/cameras/:id/mjpeg") { request, context in
            let cameraID = try context.parameters.require("id")
            let principal = try context.principal()
            _ = try await access.authorize(principal, cameraID: cameraID, for: .view)
            if let cluster, let redirect = try await cluster.redirect(cameraID: cameraID, uri: request.uri, runsHere: manager.pipeline(id: cameraID) != nil,
                                                                     token: { try await streamTokens.token(userID: principal.userID, cameraID: cameraID) }) {
                return redirect
            }
            guard let provider = manager.sink(of: cameraID, as: (any MJPEGProvider).self) else {
                throw GatewayError.notFound("camera '\(cameraID)' has no mjpeg sink")
            }
            guard let reader = provider.subscribe(viewer: "mjpeg:\(principal.username)") else {
                throw GatewayError(.notMJPEG, "camera '\(cameraID)' does not send MJPEG")
            }
            var headers = HTTPFields()
            headers[.contentType] = "multipart/x-mixed-replace; boundary=\(Self.boundary)"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { reader.close() }
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        // The stream ends when the viewer's access does.
                        group.addTask {
                            await access.untilRevoked(principal, cameraID: cameraID)
                            reader.close()
                        }
                        for await event in reader {
                            guard case .packet(let frame) = event else { continue }
                            try await writer.write(Self.part(frame.payload))
                        }
                        group.cancelAll()
                    }
                } onGracefulShutdown: {
                    reader.close()
                }
                try await writer.finish(nil)
            })
        }
    }

    /// One multipart part: headers, the JPEG, CRLF.
    static func part(_ jpeg: PacketBuffer) -> ByteBuffer {
        let head = "--\(boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(jpeg.count)\r\n\r\n"
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.utf8.count + jpeg.count + 2)
        buffer.writeString(head)
        _ = jpeg.withUnsafeBytes { buffer.writeBytes($0) }
        buffer.writeString("\r\n")
        return buffer
    }
}
