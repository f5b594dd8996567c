import GatewayCore
import JSON
import Testing
@testable import Gateway

/// What the console's event stream lets through, and how its files are encoded.
@Suite struct ConsoleTests {
    let victor = Principal(userID: "v", username: "victor", role: .user)
    let admin = Principal(userID: "a", username: "admin", role: .admin)

    func event(_ name: String, camera: String? = nil, actor: String? = nil, details: [(String, JSONValue)] = []) -> GatewayEvent {
        GatewayEvent(name: name, actor: actor, camera: camera, details: JSONObject(details))
    }

    func view(_ principal: Principal, _ roles: [String: CameraRole], gone: [String: Double] = [:]) -> EventStreamRoute.View {
        EventStreamRoute.View(principal: principal, roles: roles, generation: 0, readAt: 0, gone: gone)
    }

    @Test func cameraEventsGoToThoseWhoMaySeeTheCamera() {
        let state = event("camera.state_changed", camera: "door", details: [("to", .string("offline")), ("reason", .string("rtsp://…: 401")),
                                                                           ("public_reason", .string("the camera refused the credentials"))])
        let shown = EventStreamRoute.shown(state, in: view(victor, ["door": .viewer]))
        #expect(shown?.details["public_reason"] == .string("the camera refused the credentials"))
        // The admins' wording stays with admins.
        #expect(shown?.details["reason"] == nil)
        #expect(EventStreamRoute.shown(state, in: view(admin, ["door": .admin]))?.details["reason"] != nil)
        #expect(EventStreamRoute.shown(state, in: view(victor, [:])) == nil)
        #expect(EventStreamRoute.shown(event("clip.ready", camera: "yard"), in: view(victor, ["door": .viewer])) == nil)
        // A deletion reaches those who could see the camera until then.
        #expect(EventStreamRoute.shown(event("camera.deleted", camera: "door"), in: view(victor, [:], gone: ["door": 1])) != nil)
        #expect(EventStreamRoute.shown(event("camera.deleted", camera: "yard"), in: view(victor, [:], gone: ["door": 1])) == nil)
        // A share: the user it names and the camera's managers; not the other viewers.
        let unshared = event("camera.unshared", camera: "door", details: [("username", .string("victor"))])
        #expect(EventStreamRoute.shown(unshared, in: view(victor, [:])) != nil)
        let other = event("camera.shared", camera: "door", details: [("username", .string("olivia"))])
        #expect(EventStreamRoute.shown(other, in: view(victor, ["door": .viewer])) == nil)
        #expect(EventStreamRoute.shown(other, in: view(victor, ["door": .owner])) != nil)
        // Who watched what, and refused commands, never go out.
        #expect(EventStreamRoute.shown(event("viewer.joined", camera: "door", actor: "olivia"), in: view(victor, ["door": .owner])) == nil)
        #expect(EventStreamRoute.shown(event("command.rejected", camera: "door", actor: "olivia"), in: view(admin, ["door": .admin])) == nil)
    }

    @Test func accountEventsGoToTheirOwnersAndAdmins() {
        let upload = event("video.ready", actor: "victor")
        #expect(EventStreamRoute.shown(upload, in: view(victor, [:])) != nil)
        #expect(EventStreamRoute.shown(upload, in: view(admin, [:])) != nil)
        #expect(EventStreamRoute.shown(event("video.ready", actor: "olivia"), in: view(victor, [:])) == nil)
        #expect(EventStreamRoute.shown(event("user.login", actor: "olivia"), in: view(admin, [:])) == nil)
        #expect(EventStreamRoute.shown(event("user.registered", actor: "olivia"), in: view(admin, [:])) != nil)
        #expect(EventStreamRoute.shown(event("user.registered", actor: "olivia"), in: view(victor, [:])) == nil)
        let demoted = event("user.role_changed", details: [("username", .string("victor"))])
        #expect(EventStreamRoute.shown(demoted, in: view(victor, [:])) != nil)
        #expect(EventStreamRoute.shown(event("config.reloaded"), in: view(victor, [:])) == nil)
    }

    @Test func whatTheCallerMaySeeIsReadAgainWhenItMayHaveChanged() {
        let seen = EventStreamRoute.View(principal: victor, roles: [:], generation: 3, readAt: 100)
        let state = event("camera.state_changed", camera: "door")
        #expect(!EventStreamRoute.mustReread(seen, for: state, generation: 3, now: 100.5, interval: .seconds(1)))
        #expect(EventStreamRoute.mustReread(seen, for: state, generation: 4, now: 100.5, interval: .seconds(1)))
        // Grants expire by the clock: never older than the interval.
        #expect(EventStreamRoute.mustReread(seen, for: state, generation: 3, now: 101.2, interval: .seconds(1)))
        #expect(EventStreamRoute.mustReread(seen, for: event("camera.shared", camera: "door", details: [("username", .string("victor"))]),
                                            generation: 3, now: 100.5, interval: .seconds(1)))
        #expect(!EventStreamRoute.mustReread(seen, for: event("camera.shared", camera: "door", details: [("username", .string("olivia"))]),
                                             generation: 3, now: 100.5, interval: .seconds(1)))
    }

    @Test func eventsAreEncodedAsOneServerSentEvent() {
        let text = String(buffer: EventStreamRoute.encode(event("camera.updated", camera: "a\nb")))
        #expect(text.hasPrefix("id: "))
        #expect(text.hasSuffix("\n\n"))
        // The event's JSON is one line: a newline inside a value is escaped.
        #expect(text.split(separator: "\n").count == 3)
    }

    @Test func gzipIsSentWhenTheBrowserTakesIt() {
        #expect(ConsoleRoutes.acceptsGzip("gzip, deflate, br"))
        #expect(ConsoleRoutes.acceptsGzip("br;q=1.0, gzip;q=0.8"))
        #expect(ConsoleRoutes.acceptsGzip("*"))
        #expect(!ConsoleRoutes.acceptsGzip("gzip;q=0"))
        #expect(!ConsoleRoutes.acceptsGzip("gzip; q=0.000"))
        #expect(!ConsoleRoutes.acceptsGzip("gzip;q=0, *"))
        #expect(!ConsoleRoutes.acceptsGzip("identity"))
        #expect(!ConsoleRoutes.acceptsGzip(nil))
        #expect(ConsoleRoutes.acceptsGzip("gzip;q=0.5"))
    }

    @Test func etagsMatchAsBrowsersSendThem() {
        #expect(ConsoleRoutes.matches("\"abc\"", etag: "\"abc\""))
        #expect(ConsoleRoutes.matches("W/\"abc\"", etag: "\"abc\""))
        #expect(ConsoleRoutes.matches("\"x\", \"abc\"", etag: "\"abc\""))
        #expect(ConsoleRoutes.matches("*", etag: "\"abc\""))
        #expect(!ConsoleRoutes.matches("\"abd\"", etag: "\"abc\""))
    }

    @Test func everyConsoleFileIsInstalledWithItsType() {
        let assets = ConsoleRoutes.assets
        for name in ["index.html", "console.css", "icon.svg", "js/app.js", "js/api.js", "js/player.js", "js/events.js"] {
            #expect(assets[name] != nil, "\(name) is missing")
        }
        #expect(assets["js/app.js"]?.contentType == "text/javascript; charset=utf-8")
        #expect(assets["index.html"]?.gzipped != nil)
        // The compressed and the plain body are different representations: different ETags.
        #expect(assets["index.html"].map { $0.etag != $0.gzippedETag } == true)
    }
}
