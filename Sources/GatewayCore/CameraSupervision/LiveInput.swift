import Foundation

/// The read loop every live source shares (RTSP, HTTP, devices): opens the input on a thread of
/// its own, announces its streams, passes on every packet. A live input that ends has failed —
/// the supervisor reconnects. Cancellation interrupts a blocked connect or read at once.
public enum LiveInput {
    /// Reads `url` (with `user`/`password` put into it, when given) until it fails or is cancelled.
    /// With `egress` (a source a user chose), the destination is checked first, RTSP connects
    /// to the checked address, HTTP goes through the egress proxy, and a redirect to a refused
    /// host is refused.
    public static func run(url: String, user: String? = nil, password: String? = nil, options: Demuxer.Options,
                           egress: SourceEgress? = nil, output: any SourceOutput, threadName: String) async throws {
        let url = Self.url(url, user: user, password: password)
        let interruption = Interruption()
        try await BlockingThread.run(name: threadName, onCancel: interruption.cancel) {
            var (openURL, openOptions) = try Self.confine(url, options: options, egress: egress)
            openOptions.onLoss = { output.lost(packets: $0) }
            let demuxer = try Demuxer(url: openURL, options: openOptions, interruption: interruption)
            if let egress { try Self.checkRedirect(demuxer, opened: openURL, egress: egress, name: openOptions.displayName ?? "source") }
            // Timestamps these demuxers make up (a frame counter at an assumed rate) drift from
            // the camera's real pace: drop them, so each frame is timed by its arrival.
            let timedByArrival = Self.formatsWithoutTimestamps.contains(demuxer.formatName)
            try output.begin(timedByArrival
                ? StreamSet(streams: demuxer.streams.streams.map { $0.retimed(Self.arrivalTimeBase) }) : demuxer.streams)
            // Frames timed by their arrival are passed on as they arrive: a batch would give them
            // all one arrival time (so are packets without timestamps, see `ReadBatching.add`).
            var batch = ReadBatching(enabled: !timedByArrival)
            while true {
                let before = MonotonicTime.nanoseconds()
                guard var packet = try demuxer.read() else { break }
                if timedByArrival {
                    packet.pts = nil
                    packet.dts = nil
                    packet.duration = 0
                    packet.timeBase = Self.arrivalTimeBase
                }
                if let nap = try batch.add(packet, readSince: before, output: output) {
                    guard !interruption.isCancelled else { break }
                    usleep(nap)
                }
            }
            try batch.flush(output: output)
            throw MediaError(.read, component: demuxer.name, "the stream ended")
        }
    }

    /// Live packets are read in batches rather than one by one: once the reader has caught up
    /// with the camera (a read had to wait for data), it naps `nap`, so that the next reads find
    /// a few tens of milliseconds of packets waiting in the socket (or the device's buffers) and
    /// take them without blocking — one thread wake-up per batch instead of one per packet (an
    /// RTSP camera at 4 Mbit/s sends about 400 RTP packets a second). What was read goes to the
    /// hub as one batch when a read had to wait (what follows is news), or after `maximumHold`.
    /// Latency: at most `nap` + `maximumHold`, small beside a 0.2 s part.
    public struct ReadBatching {
        static let blockedRead: Int64 = 2_000_000
        static let maximumHold: Int64 = 40_000_000
        public static let nap: UInt32 = 30_000
        private var packets: [MediaPacket] = []
        private var started: Int64 = 0
        let enabled: Bool

        public init(enabled: Bool) { self.enabled = enabled }

        /// Adds a packet whose read began at `before`; returns how long to nap (microseconds), if at all.
        public mutating func add(_ packet: MediaPacket, readSince before: Int64, output: any SourceOutput) throws -> UInt32? {
            guard enabled, packet.dts != nil || packet.pts != nil else {
                // A packet without a time is timed by when it is published: never held.
                try flush(output: output)
                try output.publish(packet)
                return nil
            }
            let now = MonotonicTime.nanoseconds()
            let waited = now - before > Self.blockedRead
            if packets.isEmpty { started = now }
            packets.append(packet)
            guard waited || now - started >= Self.maximumHold || packets.count >= 512 else { return nil }
            try flush(output: output)
            return waited ? Self.nap : nil
        }

        public mutating func flush(output: any SourceOutput) throws {
            guard !packets.isEmpty else { return }
            if packets.count == 1 { try output.publish(packets[0]) } else { try output.publish(contentsOf: packets) }
            packets.removeAll(keepingCapacity: true)
        }
    }

    /// Protocols libavformat may use per URL scheme, whoever chose the source: never `file`,
    /// `concat`, `subfile`, `data` or a pipe, also not through a playlist the server returns.
    static let protocolWhitelists = [
        "rtsp": "rtsp,rtsps,rtp,srtp,udp,tcp,tls", "rtsps": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
        "http": "http,https,tcp,tls,httpproxy,crypto", "https": "http,https,tcp,tls,httpproxy,crypto",
    ]
    /// Input formats libavformat may probe for a user's HTTP camera: live formats that open no
    /// further URL.
    static let userHTTPFormatWhitelist = "mpjpeg,mjpeg,jpeg_pipe,mpegts,flv,h264,hevc"

    /// The URL and options to open: protocols pinned by scheme; for a restricted source, its
    /// destination checked (RTSP pinned to the checked address, HTTP through the proxy).
    static func confine(_ url: String, options: Demuxer.Options, egress: SourceEgress?) throws -> (String, Demuxer.Options) {
        var options = options
        let name = options.displayName ?? "source"
        let parsed = SourceURL(url)
        if let scheme = parsed?.scheme, let whitelist = protocolWhitelists[scheme] {
            options.options["protocol_whitelist"] = whitelist
        }
        guard let egress else { return (url, options) }
        guard let parsed, protocolWhitelists[parsed.scheme] != nil else {
            throw MediaError(.notAllowed, component: name, "not a network URL the source policy allows")
        }
        let addresses: [ResolvedAddress]
        do {
            addresses = try egress.policy.resolve(host: parsed.host, port: parsed.port)
        } catch {
            throw MediaError(.notAllowed, component: name, error.description)
        }
        switch parsed.scheme {
        case "http", "https":
            options.options["http_proxy"] = egress.proxyURL
            options.options["format_whitelist"] = userHTTPFormatWhitelist
            return (url, options)
        default:
            // rtsp, rtsps: connect to the address just checked (libavformat's TLS does not verify
            // the certificate, so the name adds nothing there), and decide a redirect before
            // libavformat follows it: to its checked address, or nowhere.
            options.onRedirect = { target in
                guard let redirected = SourceURL(target), redirected.scheme == parsed.scheme,
                      let checked = try? egress.policy.resolve(host: redirected.host, port: redirected.port) else { return nil }
                return redirected.replacingHost(with: checked[0].urlHost)
            }
            return (parsed.replacingHost(with: addresses[0].urlHost), options)
        }
    }

    /// libavformat follows an RTSP redirect inside the open: refuse the stream when it ended
    /// up somewhere the policy does not allow.
    static func checkRedirect(_ demuxer: Demuxer, opened: String, egress: SourceEgress, name: String) throws {
        guard let final = demuxer.finalURL, final != opened, let target = SourceURL(final) else { return }
        if let original = SourceURL(opened), original.host == target.host, original.port == target.port { return }
        do {
            _ = try egress.policy.resolve(host: target.host, port: target.port)
        } catch {
            throw MediaError(.notAllowed, component: name, "redirected to \(error.description)")
        }
    }

    /// Demuxers whose timestamps count frames rather than time (multipart and bare MJPEG).
    static let formatsWithoutTimestamps: Set<String> = ["mpjpeg", "mjpeg", "jpeg_pipe"]
    static let arrivalTimeBase = Rational(1, 90_000)

    /// `url` with `user` and `password` as its userinfo (percent-encoded), replacing any there.
    public static func url(_ url: String, user: String?, password: String?) -> String {
        guard let user, let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let hostStart = rest[..<authorityEnd].lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".utf8)
        func encode(_ text: String) -> String {
            text.utf8.map { allowed.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
        }
        let userinfo = encode(user) + (password.map { ":" + encode($0) } ?? "")
        return String(url[..<scheme.upperBound]) + userinfo + "@" + String(rest[hostStart...])
    }
}

/// The options of a live source that is a URL libavformat opens (`rtsp`, `http`): which URL,
/// which credentials, which demuxer options.
public protocol LiveURLConfiguration: Decodable, Sendable {
    var url: String { get }
    var user: String? { get }
    var password: String? { get }
    var demuxerOptions: Demuxer.Options { get }
}

/// A live source that is a URL libavformat opens: `run` is the shared read loop (`LiveInput`),
/// with the source policy's egress when a user chose the camera.
public protocol LiveURLSource: SourceAdapter where Configuration: LiveURLConfiguration {
    var configuration: Configuration { get }
    var context: PluginContext { get }
}

extension LiveURLSource {
    public func run(output: any SourceOutput) async throws {
        try await LiveInput.run(url: configuration.url, user: configuration.user, password: configuration.password,
                                options: configuration.demuxerOptions, egress: context.egress,
                                output: output, threadName: "\(Self.type):\(context.id)")
    }
}
