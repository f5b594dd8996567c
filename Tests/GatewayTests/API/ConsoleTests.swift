import GatewayCore
import JSON
import Testing
@testable import Gateway

/// What the console's event stream lets through, and how its files are encoded.
@Suite struct ConsoleTests {
    let victor = Principal(userID: "v", username: "victor", role: .user)
    let admin = Principal(userID: "a", username: "admin", role: .admin)

    func event(_ name: String, camera: String? = nil, actor: String? = nil, username: String? = nil) -> GatewayEvent {
        GatewayEvent(name: name, actor: actor, camera: camera,
                     details: JSONObject(username.map { [("username", JSONValue.string($0))] } ?? []))
    }

    @Test func cameraEventsGoToThoseWhoMaySeeTheCamera() {
        let state = event("camera.state_changed", camera: "door")
        #expect(EventStreamRoute.delivers(state, to: victor, visibleBefore: ["door"], visibleNow: ["door"]))
        #expect(!EventStreamRoute.delivers(state, to: victor, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("clip.ready", camera: "yard"), to: victor, visibleBefore: ["door"], visibleNow: ["door"]))
        // A deletion reaches those who could see the camera until then.
        #expect(EventStreamRoute.delivers(event("camera.deleted", camera: "door"), to: victor, visibleBefore: ["door"], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("camera.deleted", camera: "yard"), to: victor, visibleBefore: ["door"], visibleNow: []))
        // A share and its end reach the user they name, who gains or loses the camera.
        #expect(EventStreamRoute.delivers(event("camera.unshared", camera: "door", username: "victor"), to: victor, visibleBefore: ["door"], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("camera.unshared", camera: "door", username: "olivia"), to: victor, visibleBefore: [], visibleNow: []))
        #expect(EventStreamRoute.changesAccess(event("camera.shared", camera: "door", username: "victor"), of: victor))
        #expect(!EventStreamRoute.changesAccess(event("camera.shared", camera: "door", username: "olivia"), of: victor))
    }

    @Test func accountEventsGoToTheirOwnersAndAdmins() {
        let upload = event("video.ready", actor: "victor")
        #expect(EventStreamRoute.delivers(upload, to: victor, visibleBefore: [], visibleNow: []))
        #expect(EventStreamRoute.delivers(upload, to: admin, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("video.ready", actor: "olivia"), to: victor, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("user.login", actor: "olivia"), to: admin, visibleBefore: [], visibleNow: []))
        #expect(EventStreamRoute.delivers(event("user.registered", actor: "olivia"), to: admin, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("user.registered", actor: "olivia"), to: victor, visibleBefore: [], visibleNow: []))
        #expect(EventStreamRoute.delivers(event("user.role_changed", username: "victor"), to: victor, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("config.reloaded"), to: victor, visibleBefore: [], visibleNow: []))
        #expect(!EventStreamRoute.delivers(event("command.rejected", actor: "victor"), to: victor, visibleBefore: [], visibleNow: []))
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
        #expect(!ConsoleRoutes.acceptsGzip("identity"))
        #expect(!ConsoleRoutes.acceptsGzip(nil))
        #expect(ConsoleRoutes.acceptsGzip("gzip;q=0.5"))
    }

    @Test func everyConsoleFileIsInstalledWithItsType() {
        let assets = ConsoleRoutes.assets
        for name in ["index.html", "console.css", "icon.svg", "js/app.js", "js/api.js", "js/player.js", "js/events.js"] {
            #expect(assets[name] != nil, "\(name) is missing")
        }
        #expect(assets["js/app.js"]?.contentType == "text/javascript; charset=utf-8")
        #expect(assets["index.html"]?.gzipped != nil)
    }
}
