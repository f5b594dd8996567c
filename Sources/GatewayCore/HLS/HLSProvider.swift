/// A sink that serves a camera as HLS (the `hls` sink). The HTTP routes find it among the
/// camera's sinks; they authorize every request before calling it.
public protocol HLSProvider: CameraSink {
    /// Notes a request by `player` (a user): starts the muxer when it is idle — unless an
    /// operator stopped the stream — defers its idle shutdown, and counts the player as active.
    func touch(player: String) async
    /// `stream/start` by an operator: like `touch`, and undoes an operator's `stop`.
    func resume(player: String) async
    /// Stops the muxer now (`stream/stop`); viewers' requests do not restart it.
    func stop() async
    var isActive: Bool { get async }
    /// The media playlist once it has a segment. With `blockUntil` (LL-HLS `_HLS_msn`,
    /// `_HLS_part`) it waits until that segment or part exists. `query` goes on every URI.
    func mediaPlaylist(query: String, blockUntil: (sequence: Int, part: Int?)?) async throws -> String
    /// The multivariant playlist naming the media playlist, with CODECS and RESOLUTION.
    func multivariantPlaylist(query: String) async throws -> String
    /// An init segment, segment or part by name; waits briefly for a part that is about to exist.
    func resource(named name: String) async -> HLSResource?
    /// What a request by `player` for `file` (a media playlist without blocking, a segment, a
    /// part or an init segment) gets at once, without waiting — only when the answer and its
    /// side effects are what the full path (`touch`, then `mediaPlaylist` or `resource`) gave
    /// this player within the last second; otherwise nil, and the request takes the full path.
    func immediate(player: String, file: String) -> HLSImmediate?
}

extension HLSProvider {
    public func immediate(player: String, file: String) -> HLSImmediate? { nil }
}

/// An answer `HLSProvider.immediate` has at hand.
public enum HLSImmediate: Sendable {
    case playlist(RenderedPlaylist)
    case resource(HLSResource)
}

/// An init segment, segment or part: the arrays it is made of (a segment is its parts), shared
/// with the sink that holds them.
public struct HLSResource: Sendable {
    public let chunks: [[UInt8]]
    public let contentType: String
    /// Names these very bytes for the life of the process (a segment name comes back after a
    /// restart of the muxer; this does not); 0 when unknown (read from disk).
    public let identity: UInt64

    public init(chunks: [[UInt8]], contentType: String, identity: UInt64 = 0) {
        self.chunks = chunks
        self.contentType = contentType
        self.identity = identity
    }

    public var count: Int { chunks.reduce(0) { $0 + $1.count } }

    /// The bytes in one array (a copy: for tests and tools, not for serving).
    public func joinedBytes() -> [UInt8] { Array(chunks.joined()) }
}

public enum HLSError: Error, Sendable {
    /// No segment within the wait (the camera is offline).
    case unavailable
    /// A blocking reload for a segment too far ahead.
    case badRequest(String)
}
