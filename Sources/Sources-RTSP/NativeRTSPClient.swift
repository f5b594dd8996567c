import CFFmpeg
import Foundation
import GatewayCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A camera the native client does not read (a codec, a transport, a redirect): libavformat
/// reads it instead. `afterBegin`: found once the session had begun (B-frames), so the session
/// ends and the next one uses libavformat.
struct NativeRTSPUnsupported: Error, CustomStringConvertible {
    let reason: String
    var afterBegin = false
    var description: String { reason }
}

/// The socket a blocked read waits on, and cancellation: `cancel` shuts the socket down so the
/// read returns at once. The descriptor is closed only through `close`, under the same lock, so a
/// late cancel never shuts down a descriptor number reused since.
final class RTSPCancellation: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var cancelled = false
    }
    private let state = Mutex(State())

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            if state.descriptor >= 0 { _ = shutdown(state.descriptor, Int32(SHUT_RDWR)) }
        }
    }

    /// Registers a new socket; false (and the socket closed) when already cancelled.
    func adopt(_ descriptor: Int32) -> Bool {
        state.withLock { state in
            guard !state.cancelled else {
                Glibc.close(descriptor)
                return false
            }
            state.descriptor = descriptor
            return true
        }
    }

    func close() {
        state.withLock { state in
            if state.descriptor >= 0 { Glibc.close(state.descriptor) }
            state.descriptor = -1
        }
    }
}

/// Reads an RTSP camera over TCP (RTP interleaved on the RTSP connection, RFC 2326 §10.12) in
/// the gateway's own code: H.264, H.265, AAC and G.711. libavformat's RTSP demuxer reads each
/// interleaved packet with three system calls (a byte, three bytes, the packet) and a poll
/// before each — about 2,400 a second for a 4 Mbit/s camera; this reads 64 KiB at a time.
/// Anything else (UDP, RTSPS, another codec, a redirect, B-frames) is left to libavformat
/// (`NativeRTSPUnsupported`). See docs/sources.md, "RTSP".
struct NativeRTSPClient {
    let url: String
    let user: String?
    let password: String?
    let timeout: Duration
    let egress: SourceEgress?
    let displayName: String
    let cancellation: RTSPCancellation

    static let userAgent = "camera-gateway"
    /// Names any address: an operator's camera may be anywhere, loopback included.
    static let anyDestination = DestinationPolicy(allowPrivateNetworks: true, allowNetworks: [IPNetwork("::/0")!, IPNetwork("0.0.0.0/0")!])

    func run(output: any SourceOutput) throws {
        guard let parsed = SourceURL(url), parsed.scheme == "rtsp" else { throw NativeRTSPUnsupported(reason: "not rtsp://") }
        let (requestURL, urlUser, urlPassword) = Self.splitCredentials(url)
        let credentials = (user ?? urlUser).map { ($0, password ?? urlPassword ?? "") }
        let addresses: [ResolvedAddress]
        do {
            addresses = try (egress?.policy ?? Self.anyDestination).resolve(host: parsed.host, port: parsed.port)
        } catch {
            if egress != nil { throw MediaError(.notAllowed, component: displayName, error.description) }
            throw MediaError(.open, component: displayName, "the host does not resolve")
        }
        let connection = try RTSPConnection(addresses: addresses, timeout: timeout, cancellation: cancellation,
                                            credentials: credentials, displayName: displayName)
        defer { cancellation.close() }
        let session = try Handshake(connection: connection, url: requestURL, displayName: displayName).perform()
        defer { connection.sendQuietly(RTSPRequest(method: "TEARDOWN", uri: session.aggregateURL)) }
        var stream = RTPSession(tracks: session.tracks, output: output, displayName: displayName)
        try stream.read(connection: connection, keepAlive: session.keepAlive)
    }

    /// The URL without its userinfo, and the userinfo percent-decoded.
    static func splitCredentials(_ url: String) -> (String, String?, String?) {
        guard let scheme = url.range(of: "://") else { return (url, nil, nil) }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return (url, nil, nil) }
        let userinfo = rest[..<at]
        let plain = String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
        let parts = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let user = parts.first.flatMap { String($0).removingPercentEncoding }
        let password = parts.count > 1 ? String(parts[1]).removingPercentEncoding : nil
        return (plain, user, password)
    }
}

/// One track being set up: what the SDP says and the interleaved channel it will arrive on.
struct RTPTrackPlan {
    var media: SessionDescription.Media
    var codec: ElementaryCodec
    var controlURL: String
    var channel: UInt8
}

/// OPTIONS, DESCRIBE, SETUP per track, PLAY.
struct Handshake {
    let connection: RTSPConnection
    let url: String
    let displayName: String

    func perform() throws -> (tracks: [RTPTrackPlan], aggregateURL: String, keepAlive: (RTSPRequest, Duration)) {
        let options = try connection.exchange(RTSPRequest(method: "OPTIONS", uri: url), allowFailure: true)
        let supportsGetParameter = options.field("Public")?.uppercased().contains("GET_PARAMETER") ?? false
        let described = try connection.exchange(RTSPRequest(method: "DESCRIBE", uri: url, fields: [("Accept", "application/sdp")]))
        let sdp = try SessionDescription(parsing: String(decoding: described.body, as: UTF8.self))
        var base = described.field("Content-Base") ?? described.field("Content-Location") ?? url
        if base.isEmpty { base = url }
        var plans: [RTPTrackPlan] = []
        for media in sdp.media where media.kind == "video" || media.kind == "audio" {
            guard let codec = Self.codec(of: media) else {
                throw NativeRTSPUnsupported(reason: "\(media.kind) \(media.encoding.isEmpty ? "payload \(media.payloadType)" : media.encoding)")
            }
            // One stream of each kind, as libavformat's probing picks.
            guard !plans.contains(where: { $0.codec.isVideo == codec.isVideo }) else { continue }
            plans.append(RTPTrackPlan(media: media, codec: codec, controlURL: resolveControl(media.control, base: base),
                                      channel: UInt8(plans.count * 2)))
        }
        guard !plans.isEmpty else { throw NativeRTSPUnsupported(reason: "no video or audio the native client reads") }
        var sessionTimeout = 60
        for index in plans.indices {
            let channel = plans[index].channel
            let reply = try connection.exchange(RTSPRequest(method: "SETUP", uri: plans[index].controlURL, fields: [
                ("Transport", "RTP/AVP/TCP;unicast;interleaved=\(channel)-\(channel + 1)"),
            ]))
            guard let transport = reply.field("Transport"), transport.uppercased().contains("TCP") else {
                throw NativeRTSPUnsupported(reason: "the camera does not send RTP over its RTSP connection")
            }
            if let range = transport.split(separator: ";").first(where: { $0.hasPrefix("interleaved=") }),
               let first = range.dropFirst("interleaved=".count).split(separator: "-").first, let number = UInt8(first), number < 254 {
                plans[index].channel = number
            }
            if let session = reply.field("Session") {
                let parts = session.split(separator: ";")
                connection.session = parts.first.map { $0.trimmingCharacters(in: .whitespaces) }
                if let timeout = parts.dropFirst().first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("timeout=") }),
                   let seconds = Int(timeout.split(separator: "=").last ?? "") , (5...3600).contains(seconds) {
                    sessionTimeout = seconds
                }
            }
        }
        let aggregate = resolveControl(sdp.control, base: base)
        _ = try connection.exchange(RTSPRequest(method: "PLAY", uri: aggregate, fields: [("Range", "npt=0.000-")]))
        let keepAlive = RTSPRequest(method: supportsGetParameter ? "GET_PARAMETER" : "OPTIONS", uri: supportsGetParameter ? aggregate : url)
        return (plans, aggregate, (keepAlive, .seconds(max(sessionTimeout / 2, 2))))
    }

    static func codec(of media: SessionDescription.Media) -> ElementaryCodec? {
        // A clock the time base (an Int32 denominator) can hold and that ticks at least once a millisecond.
        guard (1_000...10_000_000).contains(media.clockRate) else { return nil }
        switch (media.kind, media.encoding) {
        case ("video", "H264"): return .h264
        case ("video", "H265"): return .h265
        case ("audio", "MPEG4-GENERIC"):
            let mode = media.parameters["mode"]?.lowercased() ?? ""
            guard mode.hasPrefix("aac"), media.parameters["config"] != nil, AACDepacketizer(parameters: media.parameters) != nil else { return nil }
            return .aac
        case ("audio", "PCMU"): return .pcmMulaw
        case ("audio", "PCMA"): return .pcmAlaw
        default: return nil
        }
    }
}
