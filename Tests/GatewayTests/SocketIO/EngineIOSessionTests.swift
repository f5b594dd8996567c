import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

/// The Engine.IO session state machine, driven with plain values: no sockets, no clock.
@Suite struct EngineIOSessionTests {
    let configuration = EngineIOSession.Configuration(pingInterval: 0.3, pingTimeout: 0.2, maxPayload: 1000, handshakeTimeout: 1)

    func session(_ transport: EngineIOSession.Transport = .polling) -> EngineIOSession {
        EngineIOSession(id: "sid", transport: transport, configuration: configuration, now: 0)
    }

    @Test func handshakeData() {
        #expect(session().handshake == #"{"sid":"sid","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#)
        #expect(session(.websocket).handshake.contains(#""upgrades":[]"#))
    }

    @Test func aPollWaitsUntilSomethingIsSent() {
        var session = session()
        #expect(session.poll(now: 0.01) == .wait)
        #expect(session.send([.message(.text("a")), .message(.text("b"))]) == [.answerPoll([.message(.text("a")), .message(.text("b"))])])
        #expect(session.send([.message(.text("c"))]) == [])
        #expect(session.poll(now: 0.02) == .answer([.message(.text("c"))]))
    }

    @Test func postedPacketsAreDeliveredInOrder() {
        var session = session()
        #expect((try? session.beginPost().get()) != nil)
        #expect(throws: EngineIOError.badRequest) { try session.beginPost().get() }
        let effects = session.received(posted: [.message(.text("x")), .message(.binary([1])), .pong("")], now: 0.1)
        #expect(effects == [.deliver(.text("x")), .deliver(.binary([1]))])
        session.endPost()
        #expect((try? session.beginPost().get()) != nil)
    }

    @Test func aSecondPollClosesTheSessionAndTheFirstGetsClose() {
        var session = session()
        #expect(session.poll(now: 0) == .wait)
        #expect(session.poll(now: 0) == .reject(.badRequest, effects: [.answerPoll([.close]), .closed(.requestOverlap)]))
        #expect(session.isClosed)
        #expect(session.poll(now: 0) == .reject(.unknownSession, effects: []))
    }

    @Test func aClientCloseAnswersTheWaitingPollWithNoop() {
        var session = session()
        #expect(session.poll(now: 0) == .wait)
        #expect(session.received(posted: [.close], now: 0) == [.answerPoll([.noop]), .closed(.clientClose)])
    }

    @Test func heartbeatPingsThenTimesOutFromWhenThePingWasDue() {
        var session = session()
        session.handshakeCompleted()
        #expect(session.tick(now: 0.29) == [])
        #expect(session.tick(now: 0.31) == [])  // the ping is queued for the next poll
        #expect(session.poll(now: 0.32) == .answer([.ping("")]))
        #expect(session.poll(now: 0.49) == .wait)
        // Due at 0.3: the deadline is 0.5, whenever the ticker happened to run.
        #expect(session.tick(now: 0.5) == [.answerPoll([.close]), .closed(.pingTimeout)])
    }

    @Test func aPongRestartsTheInterval() {
        var session = session(.websocket)
        session.handshakeCompleted()
        #expect(session.tick(now: 0.3) == [.sendOnWebSocket([.ping("")])])
        #expect(session.received(webSocket: .pong(""), now: 0.35) == [])
        #expect(session.tick(now: 0.6) == [])
        #expect(session.tick(now: 0.65) == [.sendOnWebSocket([.ping("")])])
        #expect(session.tick(now: 0.86) == [.closed(.pingTimeout)])
    }

    @Test func anOverduePongClosesTheSessionAtTheNextPoll() {
        var session = session()
        session.handshakeCompleted()
        #expect(session.poll(now: 0.51) == .reject(.unknownSession, effects: [.closed(.pingTimeout)]))
    }

    @Test func upgradeProbeNoopThenUpgradeFlushesOverTheWebSocket() {
        var session = session()
        #expect(session.poll(now: 0) == .wait)
        let probe1 = session.probeConnected()
        #expect(probe1)
        let probe2 = session.probeConnected()
        #expect(!probe2, "one probe at a time")
        #expect(session.received(probe: .ping("probe"), now: 0) == [.sendOnProbe(.pong("probe")), .answerPoll([.noop])])
        #expect(session.poll(now: 0) == .answer([.noop]))
        #expect(session.send([.message(.text("queued"))]) == [])
        #expect(session.received(probe: .upgrade, now: 0) == [.sendOnWebSocket([.message(.text("queued"))])])
        #expect(session.transport == .websocket)
        #expect(session.poll(now: 0) == .reject(.badRequest, effects: []))
        #expect(!session.isClosed)
        let probe3 = session.probeConnected()
        #expect(!probe3, "a second WebSocket after the upgrade is refused")
        #expect(session.received(webSocket: .message(.text("hi")), now: 0) == [.deliver(.text("hi"))])
    }

    @Test func anythingElseOnTheProbeAbortsTheUpgrade() {
        var session = session()
        let probe4 = session.probeConnected()
        #expect(probe4)
        #expect(session.received(probe: .message(.text("early")), now: 0) == [.abortProbe])
        #expect(session.transport == .polling)
        let probe5 = session.probeConnected()
        #expect(probe5)
    }

    @Test func invalidPacketsAndTheHandshakeTimeoutClose() {
        var polling = session()
        #expect(polling.received(posted: [.upgrade], now: 0) == [.closed(.parseError)])
        var socket = session(.websocket)
        #expect(socket.received(webSocket: .ping(""), now: 0) == [.closed(.parseError)])
        var silent = session(.websocket)
        #expect(silent.tick(now: 1.0) == [.closed(.handshakeTimeout)])
    }

    @Test func packetCodec() throws {
        #expect(EngineIOCodec.encodePayload([.message(.text("hello")), .message(.binary([1, 2, 3, 4])), .ping("")]) == "4hello\u{1E}bAQIDBA==\u{1E}2")
        #expect(try EngineIOCodec.decodePayload("4hello\u{1E}bAQIDBA==\u{1E}3") == [.message(.text("hello")), .message(.binary([1, 2, 3, 4])), .pong("")])
        #expect(try EngineIOCodec.decodeText("2probe") == .ping("probe"))
        #expect(throws: EngineIOParseError.self) { try EngineIOCodec.decodePayload("abc") }
        #expect(throws: EngineIOParseError.self) { try EngineIOCodec.decodePayload("") }
        #expect(throws: EngineIOParseError.self) { try EngineIOCodec.decodePayload("b!!!") }
        #expect(EngineIOError.unknownSession.body == #"{"code":1,"message":"Session ID unknown"}"#)
    }
}

@Suite struct SocketIOCodecTests {
    @Test(arguments: [
        ("0", SocketIOPacket(.connect)),
        ("0/admin,", SocketIOPacket(.connect, namespace: "/admin")),
        ("40/custom", SocketIOPacket(.connect, namespace: "/custom")),
        (#"2/admin,13["foo"]"#, SocketIOPacket(.event, namespace: "/admin", id: 13, data: .array([.string("foo")]))),
        ("312[]", SocketIOPacket(.ack, id: 12, data: .array([]))),
        ("1/admin,", SocketIOPacket(.disconnect, namespace: "/admin")),
    ])
    func decodesTheSpecExamples(_ text: String, _ expected: SocketIOPacket) throws {
        let input = text.hasPrefix("40") ? String(text.dropFirst()) : text
        #expect(try SocketIOCodec.decode(input).packet == expected)
    }

    @Test func binaryAttachmentsRoundTripAtAnyDepthWithNamespaceAndID() throws {
        let packet = SocketIOPacket(.ack, namespace: "/admin", id: 1, data: .array([
            .binary([1, 2]), .object([("deep", .array([.json(.int(3)), .binary([4])]))]),
        ]))
        let (text, attachments) = SocketIOCodec.encode(packet)
        #expect(text == #"62-/admin,1[{"_placeholder":true,"num":0},{"deep":[3,{"_placeholder":true,"num":1}]}]"#)
        #expect(attachments == [[1, 2], [4]])
        let (decoded, count) = try SocketIOCodec.decode(text)
        #expect(count == 2)
        let rebuilt = try SocketIOCodec.reconstruct(try #require(decoded.data), attachments: attachments)
        #expect(rebuilt == packet.data)
    }

    @Test(arguments: ["abc", "9", "2{}", "2", "3[]", "5-[\"x\"]", #"2abc["x"]"#, "1[1]", #"0"x""#])
    func malformedPacketsAreRejected(_ text: String) {
        #expect(throws: SocketIOParseError.self) { try SocketIOCodec.decode(text) }
    }

    @Test func aMissingAttachmentIsAnError() throws {
        let (packet, _) = try SocketIOCodec.decode(#"51-["x",{"_placeholder":true,"num":3}]"#)
        #expect(throws: SocketIOParseError.self) { try SocketIOCodec.reconstruct(packet.data!, attachments: [[1]]) }
    }
}
