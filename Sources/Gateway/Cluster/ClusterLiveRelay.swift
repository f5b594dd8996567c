import Metrics
import NIOCore
import NIOHTTP1
import Synchronization
import GatewayCore
import JSON

/// Live fMP4 of cameras other nodes run, for this node's WebSocket and Socket.IO viewers: one
/// connection per camera to its owner (`/internal/cluster/live/{id}`), fanned out here through
/// a hub of its own, as the camera's own hub does on its node. Viewers are authorized here (the
/// same database, the same rules; revocations reach this node as events). When the owner's
/// stream ends (the camera moved, or its node died) the hub ends its viewers, whose players
/// connect again and reach the camera wherever it runs now. The connection closes once nobody
/// has watched for 10 s.
final class ClusterLiveRelay: Sendable {
    private final class Feed: Sendable {
        let hub: FragmentHub
        let url: String
        /// When bytes last came from the owner, and when a viewer was last seen (monotonic seconds).
        let lastData = Mutex(MonotonicTime.seconds())
        let lastViewer = Mutex(MonotonicTime.seconds())
        init(hub: FragmentHub, url: String) {
            self.hub = hub
            self.url = url
        }
    }

    /// The owner's stream is given up after this long without bytes, and the connection is
    /// closed after this long without viewers.
    static let silence = 10.0

    private let http: ClusterHTTP
    private let feeds = Mutex<[String: Feed]>([:])
    private let metrics: any MetricsFactory

    init(http: ClusterHTTP, metrics: any MetricsFactory) {
        self.http = http
        self.metrics = metrics
    }

    /// Subscribes a viewer to camera `cameraID` as node `url` serves it.
    func subscribe(cameraID: String, url: String, viewer: String) -> HubReader<FragmentEvent> {
        let (feed, isNew) = feeds.withLock { feeds -> (Feed, Bool) in
            if let feed = feeds[cameraID], feed.url == url { return (feed, false) }
            let feed = Feed(hub: FragmentHub(cameraID: cameraID, metrics: metrics), url: url)
            feeds[cameraID] = feed
            return (feed, true)
        }
        let reader = feed.hub.subscribe(name: viewer)
        if isNew {
            let pump = Task { await self.pump(feed, cameraID: cameraID) }
            // A frozen owner, or one whose host vanished, sends nothing and may never close the
            // connection: the feed ends anyway and its viewers connect again.
            Task {
                while !pump.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let now = MonotonicTime.seconds()
                    if feed.hub.liveViewerCount > 0 { feed.lastViewer.withLock { $0 = now } }
                    if now - feed.lastData.withLock({ $0 }) > Self.silence || now - feed.lastViewer.withLock({ $0 }) > Self.silence {
                        pump.cancel()
                        self.end(feed, cameraID: cameraID)
                        return
                    }
                    if feed.hub.isClosed { return }
                }
            }
        }
        return reader
    }

    private func end(_ feed: Feed, cameraID: String) {
        feeds.withLock { feeds in
            if feeds[cameraID] === feed { feeds[cameraID] = nil }
        }
        feed.hub.closeAll()
    }

    private func pump(_ feed: Feed, cameraID: String) async {
        var decoder = ClusterLiveFrames.Decoder()
        do {
            try await http.exchange(.GET, base: feed.url, path: "/internal/cluster/live/\(cameraID)") { part in
                switch part {
                case .head(let head):
                    guard head.status == .ok else { throw GatewayError(.streamUnavailable, "the owner answered \(head.status.code)") }
                case .body(let buffer):
                    try Task.checkCancellation()
                    feed.lastData.withLock { $0 = MonotonicTime.seconds() }
                    decoder.append(buffer)
                    while let event = try decoder.next() {
                        switch event {
                        case .initSegment(let segment): feed.hub.begin(segment)
                        case .fragment(let fragment): feed.hub.publish(fragment)
                        case .skipped: break
                        }
                    }
                case .end:
                    break
                }
            }
        } catch {}
        end(feed, cameraID: cameraID)
    }
}

/// Live fMP4 between nodes: per event a kind byte (`I` init segment, `F` fragment), a 4-byte
/// big-endian length and a JSON header, a 4-byte length and the bytes.
enum ClusterLiveFrames {
    static let maximumHeader = 4096
    static let maximumPayload = 64 << 20

    static func encode(_ event: FragmentEvent) -> ByteBuffer? {
        let kind: UInt8
        let header: JSONValue
        let bytes: [UInt8]
        switch event {
        case .initSegment(let segment):
            kind = UInt8(ascii: "I")
            header = .object(JSONObject([("codecs", .string(segment.codecs)), ("generation", .int(segment.generation))]))
            bytes = segment.bytes
        case .fragment(let fragment):
            kind = UInt8(ascii: "F")
            header = .object(JSONObject([("start", .double(fragment.startTime)), ("duration", .double(fragment.duration)),
                                         ("key", .bool(fragment.isIndependent)), ("sequence", .int(fragment.sequence)),
                                         ("before_key", .bool(fragment.endsBeforeKeyframe))]))
            bytes = fragment.bytes
        case .skipped:
            return nil
        }
        let text = Array(JSONWriter.string(header).utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(9 + text.count + bytes.count)
        buffer.writeInteger(kind)
        buffer.writeInteger(UInt32(text.count))
        buffer.writeBytes(text)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    struct Decoder {
        private var buffer = ByteBuffer()

        mutating func append(_ bytes: ByteBuffer) {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }

        /// The next whole event, nil until one has arrived; throws on a malformed stream.
        mutating func next() throws -> FragmentEvent? {
            let start = buffer.readerIndex
            guard let kind: UInt8 = buffer.getInteger(at: start), let headerLength: UInt32 = buffer.getInteger(at: start + 1) else { return nil }
            guard headerLength <= maximumHeader else { throw GatewayError(.internal, "relay header too large") }
            let payloadAt = start + 5 + Int(headerLength)
            guard let payloadLength: UInt32 = buffer.getInteger(at: payloadAt) else { return nil }
            guard payloadLength <= maximumPayload else { throw GatewayError(.internal, "relay payload too large") }
            guard buffer.readableBytes >= 5 + Int(headerLength) + 4 + Int(payloadLength) else { return nil }
            let headerBytes = buffer.getBytes(at: start + 5, length: Int(headerLength)) ?? []
            let payload = buffer.getBytes(at: payloadAt + 4, length: Int(payloadLength)) ?? []
            buffer.moveReaderIndex(forwardBy: 5 + Int(headerLength) + 4 + Int(payloadLength))
            buffer.discardReadBytes()
            guard let header = try? JSONParser.parse(headerBytes) else { throw GatewayError(.internal, "malformed relay header") }
            switch kind {
            case UInt8(ascii: "I"):
                return .initSegment(MP4InitSegment(bytes: payload, codecs: header["codecs"].flatMap(ClusterService.string) ?? "",
                                                   generation: header["generation"]?.integer ?? 0))
            case UInt8(ascii: "F"):
                var isKey = false
                if case .bool(let value)? = header["key"] { isKey = value }
                var fragment = MP4Fragment(bytes: payload, startTime: header["start"]?.doubleValue ?? 0, duration: header["duration"]?.doubleValue ?? 0,
                                           isIndependent: isKey, sequence: header["sequence"]?.integer ?? 0)
                if case .bool(let value)? = header["before_key"] { fragment.endsBeforeKeyframe = value }
                return .fragment(fragment)
            default:
                throw GatewayError(.internal, "unknown relay frame")
            }
        }
    }
}
