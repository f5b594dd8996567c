import Foundation

/// The read loop every live source shares (RTSP, HTTP, devices): opens the input on a thread of
/// its own, announces its streams, passes on every packet. A live input that ends has failed —
/// the supervisor reconnects. Cancellation interrupts a blocked connect or read at once.
public enum LiveInput {
    /// Reads `url` (with `user`/`password` put into it, when given) until it fails or is cancelled.
    public static func run(url: String, user: String? = nil, password: String? = nil, options: Demuxer.Options,
                           output: any SourceOutput, threadName: String) async throws {
        let url = Self.url(url, user: user, password: password)
        let interruption = Interruption()
        try await BlockingThread.run(name: threadName, onCancel: interruption.cancel) {
            let demuxer = try Demuxer(url: url, options: options, interruption: interruption)
            // Timestamps these demuxers make up (a frame counter at an assumed rate) drift from
            // the camera's real pace: drop them, so each frame is timed by its arrival.
            let timedByArrival = Self.formatsWithoutTimestamps.contains(demuxer.formatName)
            try output.begin(timedByArrival
                ? StreamSet(streams: demuxer.streams.streams.map { $0.retimed(Self.arrivalTimeBase) }) : demuxer.streams)
            while var packet = try demuxer.read() {
                if timedByArrival {
                    packet.pts = nil
                    packet.dts = nil
                    packet.duration = 0
                    packet.timeBase = Self.arrivalTimeBase
                }
                try output.publish(packet)
            }
            throw MediaError(.read, component: demuxer.name, "the stream ended")
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
