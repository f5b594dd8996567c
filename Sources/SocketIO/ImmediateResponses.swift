import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// A plain request the immediate path may answer: a GET over HTTP/1.1 with no body, no
/// credentials in headers, at most one `Origin`, no `Range`, `Upgrade` or `Connection` but
/// `keep-alive`.
public struct ImmediateRequest: Sendable {
    /// The request target as sent (`/path?query`).
    public var target: String
    public var acceptEncoding: String?
    /// A browser's page on another origin: the answer carries the CORS fields the router's
    /// middleware would give it (`CORSPolicy`).
    public var origin: String?

    public init(target: String, acceptEncoding: String? = nil, origin: String? = nil) {
        self.target = target
        self.acceptEncoding = acceptEncoding
        self.origin = origin
    }
}

/// A response made in full on the connection's event loop: the head and the body's buffers,
/// written one after the other (shared, never copied).
public struct ImmediateResponse: Sendable {
    public var head: HTTPResponse
    public var body: [ByteBuffer]

    public init(head: HTTPResponse, body: [ByteBuffer]) {
        self.head = head
        self.body = body
    }

    public init(head: HTTPResponse, body: ByteBuffer) {
        self.init(head: head, body: [body])
    }

    /// The status line and the fields, with `Content-Length` of the body.
    func encodedHead(allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = body.reduce(0) { $0 + $1.readableBytes }
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeString("HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for field in head.headerFields where field.name != .contentLength && field.name != .transferEncoding {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("Content-Length: ")
        buffer.writeString(String(length))
        buffer.writeStaticString("\r\n\r\n")
        return buffer
    }
}

/// Answers some requests on the connection's event loop from their bytes, before the HTTP codec
/// and the router: those `answer` can answer at once from what it has at hand (see `docs/hls.md`,
/// "Serving"). It sits first in the pipeline and reads each request's head itself (linear,
/// bounded to 8 KiB); every other request goes on to the codec unchanged, and so does every
/// request that follows one the router has not answered yet, so responses keep their order.
///
/// It only ever hands the codec whole requests that have no body (no `Content-Length`,
/// `Transfer-Encoding`, `Expect` or `Upgrade`), so the codec is always between requests when the
/// next one may be answered here. At the first request that is not like that (a body, an upgrade,
/// anything it cannot read exactly as the codec would), it hands over everything from there on
/// and leaves the pipeline.
final class ImmediateResponses: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maximumHead = 8192

    private let answer: @Sendable (ImmediateRequest) -> ImmediateResponse?
    /// Requests handed to the codec whose response has not ended yet (`RoutedResponses` counts
    /// the ends).
    var routed = 0
    /// The start of a request whose head has not all arrived (a copy: under 8 KiB).
    private var pending: ByteBuffer?
    private var leaving = false
    /// The peer closed its side, or the server is shutting down: close once what was answered
    /// here is written, unless the codec has a request in hand (then it decides).
    private var closing = false

    init(answer: @escaping @Sendable (ImmediateRequest) -> ImmediateResponse?) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !leaving else { return context.fireChannelRead(data) }
        var buffer = unwrapInboundIn(data)
        if var earlier = pending.take() {
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        var wrote = false
        while buffer.readableBytes > 0 {
            switch PlainRequestHead.read(buffer) {
            case .incomplete:
                // Only the unread bytes: the buffer's storage also holds the requests before.
                pending = ByteBuffer(buffer.readableBytesView)
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            case .other:
                if wrote { context.flush() }
                wrote = false
                leave(context: context, rest: buffer)
                buffer.clear()
            case .plain(let length, let request):
                // A peer that does not read what it is sent gets the router's path, which waits
                // for the socket (and stops reading) rather than queueing answers here. (What
                // was answered in this read is flushed first: it counts until it is written.)
                if wrote, !context.channel.isWritable {
                    context.flush()
                    wrote = false
                }
                if routed == 0, !closing, context.channel.isWritable, let request, let response = answer(request) {
                    buffer.moveReaderIndex(forwardBy: length)
                    context.write(wrapOutboundOut(response.encodedHead(allocator: context.channel.allocator)), promise: nil)
                    for part in response.body where part.readableBytes > 0 { context.write(wrapOutboundOut(part), promise: nil) }
                    wrote = true
                } else {
                    routed += 1
                    context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: length)!))
                }
            }
        }
        if wrote { context.flush() }
    }

    /// The peer's end of input, and a graceful shutdown: a connection whose requests were all
    /// answered here may never have reached the codec's handlers, which close it in those cases.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let isInputClosed = (event as? ChannelEvent) == .inputClosed
        if !leaving, routed == 0, isInputClosed || event is ChannelShouldQuiesceEvent {
            closing = true
            let channel = context.channel
            // Promises complete in order: once this empty write is done, so are the answers before
            // it. (Written here, at the socket's end: the channel's own write would go through the
            // HTTP encoder.)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Everything from here on is the codec's.
    private func leave(context: ChannelHandlerContext, rest: ByteBuffer) {
        leaving = true
        context.fireChannelRead(wrapInboundOut(rest))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// After the codec: counts the ends of the responses to requests `ImmediateResponses` handed on.
final class RoutedResponses: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var front: ImmediateResponses?

    func handlerAdded(context: ChannelHandlerContext) {
        front = try? context.pipeline.syncOperations.handler(type: ImmediateResponses.self)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let front, front.routed > 0 { front.routed -= 1 }
        context.write(data, promise: promise)
    }
}

/// Reads one request head from raw bytes the way it must be read to be answered here: strict
/// CRLF lines, token field names, no folding. Anything else is `.other` and goes to the codec.
enum PlainRequestHead: Equatable {
    /// The head has not all arrived (and is still under the bound).
    case incomplete
    /// A request with no body, `length` bytes; `request` when the immediate path may look at it.
    case plain(length: Int, request: ImmediateRequest?)
    /// Not one this path reads: the codec takes it and everything after it.
    case other

    static func read(_ buffer: ByteBuffer) -> PlainRequestHead {
        buffer.withUnsafeReadableBytes { bytes in
            let limit = min(bytes.count, ImmediateResponses.maximumHead)
            guard let base = bytes.baseAddress, limit > 0 else { return .incomplete }
            // The blank line: each CR found with memchr, then the three bytes after it.
            var offset = 0
            var headLength: Int?
            while offset + 4 <= limit, let found = memchr(base + offset, Int32(UInt8(ascii: "\r")), limit - offset - 3) {
                let at = base.distance(to: UnsafeRawPointer(found))
                if bytes[at + 1] == UInt8(ascii: "\n"), bytes[at + 2] == UInt8(ascii: "\r"), bytes[at + 3] == UInt8(ascii: "\n") {
                    headLength = at + 4
                    break
                }
                offset = at + 1
            }
            guard let headLength else {
                // A head with bare LFs would never end here; the codec answers it.
                if bytes.count >= ImmediateResponses.maximumHead { return .other }
                for at in 0..<limit where bytes[at] == UInt8(ascii: "\n") && (at == 0 || bytes[at - 1] != UInt8(ascii: "\r")) {
                    return .other
                }
                return .incomplete
            }
            return parse(UnsafeRawBufferPointer(rebasing: bytes[0..<headLength]))
        }
    }

    /// `head` ends with CRLF CRLF.
    static func parse(_ head: UnsafeRawBufferPointer) -> PlainRequestHead {
        var lines: [Range<Int>] = []
        var start = 0
        var index = 0
        while index < head.count {
            switch head[index] {
            case UInt8(ascii: "\r"):
                guard index + 1 < head.count, head[index + 1] == UInt8(ascii: "\n") else { return .other }
                lines.append(start..<index)
                index += 2
                start = index
                continue
            // Bare LF, and control bytes the codec refuses (tab is allowed in values).
            case UInt8(ascii: "\n"), 0..<0x09, 0x0a..<0x20, 0x7f: return .other
            default: index += 1
            }
        }
        // The last line is the empty one that ends the head.
        guard lines.count >= 2, lines.last!.isEmpty else { return .other }
        let requestLine = head[lines[0]]
        let words = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard words.count == 3, !words[0].isEmpty, words[0].allSatisfy(isToken), !words[1].isEmpty,
              words[1].allSatisfy({ $0 > 0x20 && $0 < 0x7f }), words[2].starts(with: "HTTP/1.".utf8), words[2].count == 8 else { return .other }
        // CONNECT makes the codec stop parsing (a tunnel): the codec's from here on.
        if words[0].elementsEqual("CONNECT".utf8) { return .other }
        var candidate = words[0].elementsEqual("GET".utf8) && words[2].elementsEqual("HTTP/1.1".utf8)
        var acceptEncoding: String?
        var origin: String?
        for line in lines[1..<(lines.count - 1)] {
            let field = head[line]
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")), colon > field.startIndex,
                  field[field.startIndex..<colon].allSatisfy(isToken) else { return .other }
            let name = field[field.startIndex..<colon]
            let value = trimmed(field[(colon + 1)...])
            func named(_ lowercase: String) -> Bool { Self.equals(name, lowercase: lowercase) }
            if named("content-length") || named("transfer-encoding") || named("upgrade") || named("expect") { return .other }
            if named("authorization") || named("cookie") || named("range") || named("x-gateway-late-upgrade") {
                candidate = false
            } else if named("origin") {
                // Two origins are not one browser's request: the router's middleware decides.
                if origin != nil { candidate = false }
                origin = String(decoding: value, as: UTF8.self)
            } else if named("connection") {
                let tokens = value.split(separator: UInt8(ascii: ","))
                if !tokens.allSatisfy({ Self.equals(trimmed($0), lowercase: "keep-alive") }) { candidate = false }
            } else if named("accept-encoding") {
                acceptEncoding = (acceptEncoding.map { $0 + ", " } ?? "") + String(decoding: value, as: UTF8.self)
            }
        }
        let request = candidate ? ImmediateRequest(target: String(decoding: words[1], as: UTF8.self), acceptEncoding: acceptEncoding, origin: origin) : nil
        return .plain(length: head.count, request: request)
    }

    /// ASCII case-insensitive: `bytes` (token characters) against a lowercase name.
    private static func equals(_ bytes: UnsafeRawBufferPointer.SubSequence, lowercase: String) -> Bool {
        bytes.count == lowercase.utf8.count && zip(bytes, lowercase.utf8).allSatisfy { $0 | 0x20 == $1 || $0 == $1 }
    }

    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer.SubSequence) -> UnsafeRawBufferPointer.SubSequence {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return bytes[bytes.startIndex..<bytes.startIndex]
        }
        return bytes[first...last]
    }
}

extension ImmediateRequest: Equatable {}

/// A server child channel whose connections get `ImmediateResponses` first in the pipeline.
struct ImmediateChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let answer: @Sendable (ImmediateRequest) -> ImmediateResponse?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ImmediateResponses(answer: answer))
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
