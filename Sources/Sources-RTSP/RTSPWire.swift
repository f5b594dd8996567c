import Foundation

/// An RTSP response as the camera sent it (RFC 2326 §7): status, header fields, body.
struct RTSPResponse: Sendable {
    var status: Int
    var reason: String
    var fields: [(name: String, value: String)]
    var body: [UInt8]

    /// The first field named `name` (case-insensitive), trimmed.
    func field(_ name: String) -> String? { fields(name).first }

    func fields(_ name: String) -> [String] {
        fields.lazy.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    var cseq: Int? { field("CSeq").flatMap { Int($0) } }
    var statusLine: String { "\(status) \(reason)" }
}

/// What an RTSP connection carries, one item at a time: responses, requests the server makes
/// (answered by nothing; a camera that needs them is rare), and after PLAY the interleaved RTP
/// and RTCP packets (RFC 2326 §10.12: `$`, a channel, a 16-bit length, the packet).
enum RTSPItem {
    case response(RTSPResponse)
    case request(method: String)
    /// The packet's bytes are `buffer[range]` of the reader, valid until its next `receive`.
    case interleaved(channel: UInt8, range: Range<Int>)
}

struct RTSPProtocolError: Error, CustomStringConvertible {
    let description: String
}

/// Parses what a camera sends from one buffer the socket is read into in large pieces (64 KiB):
/// an RTP packet costs no system call of its own. Bounded: a message head longer than
/// `maximumHead` or a body longer than `maximumBody` is an error, and the scan for the end of a
/// head resumes where the last one stopped (linear in what arrives).
struct RTSPReader {
    static let maximumHead = 16 << 10
    static let maximumBody = 256 << 10
    static let readSize = 64 << 10

    private(set) var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// How far the current head has been searched for its blank line.
    private var scanned = 0

    init(capacity: Int = 4 * readSize) {
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// Reads once from `descriptor` into the free end of the buffer (moving what is left to the
    /// front first when needed). Returns the bytes read (0: the peer closed) or -1 with errno set.
    mutating func receive(from descriptor: Int32) -> Int {
        if buffer.count - end < Self.readSize {
            if start > 0 {
                let left = end - start
                buffer.withUnsafeMutableBytes { bytes in
                    if left > 0 { memmove(bytes.baseAddress!, bytes.baseAddress! + start, left) }
                }
                scanned -= start
                start = 0
                end = left
            }
            if buffer.count - end < Self.readSize { buffer += [UInt8](repeating: 0, count: Self.readSize) }
        }
        let count = buffer.withUnsafeMutableBytes { bytes in
            recv(descriptor, bytes.baseAddress! + end, bytes.count - end, 0)
        }
        if count > 0 { end += count }
        return count
    }

    /// Appends bytes (tests).
    mutating func append(_ bytes: [UInt8]) {
        if buffer.count - end < bytes.count { buffer += [UInt8](repeating: 0, count: bytes.count) }
        buffer.replaceSubrange(end..<(end + bytes.count), with: bytes)
        end += bytes.count
    }

    /// The next complete item, or nil when more bytes are needed.
    mutating func next() throws(RTSPProtocolError) -> RTSPItem? {
        // Line ends between messages are noise some servers send.
        while start < end, buffer[start] == 0x0D || buffer[start] == 0x0A { start += 1 }
        guard start < end else { return nil }
        if buffer[start] == 0x24 {  // "$"
            guard end - start >= 4 else { return nil }
            let length = Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            guard end - start >= 4 + length else { return nil }
            let channel = buffer[start + 1]
            let range = (start + 4)..<(start + 4 + length)
            start += 4 + length
            scanned = start
            return .interleaved(channel: channel, range: range)
        }
        // A message: its head ends with an empty line.
        var index = max(scanned, start)
        var headEnd: Int?
        while index + 3 < end {
            if buffer[index] == 0x0D, buffer[index + 1] == 0x0A, buffer[index + 2] == 0x0D, buffer[index + 3] == 0x0A {
                headEnd = index
                break
            }
            index += 1
        }
        guard let headEnd else {
            scanned = max(start, end - 3)
            if end - start > Self.maximumHead { throw RTSPProtocolError(description: "a message head longer than \(Self.maximumHead) bytes") }
            return nil
        }
        guard headEnd - start <= Self.maximumHead else { throw RTSPProtocolError(description: "a message head longer than \(Self.maximumHead) bytes") }
        let head = String(decoding: buffer[start..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.removeFirst()
        var fields: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                           String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        let lengthText = fields.first { $0.name.caseInsensitiveCompare("Content-Length") == .orderedSame }?.value ?? "0"
        guard let length = Int(lengthText), (0...Self.maximumBody).contains(length) else {
            throw RTSPProtocolError(description: "a Content-Length that is not a number up to \(Self.maximumBody)")
        }
        let bodyStart = headEnd + 4
        guard end - bodyStart >= length else { return nil }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        start = bodyStart + length
        scanned = start
        if first.hasPrefix("RTSP/") {
            let parts = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, let status = Int(parts[1]), (100...999).contains(status) else {
                throw RTSPProtocolError(description: "a status line that is not RTSP's")
            }
            return .response(RTSPResponse(status: status, reason: parts.count > 2 ? String(parts[2]) : "", fields: fields, body: body))
        }
        guard let method = first.split(separator: " ").first, first.hasSuffix("RTSP/1.0") else {
            throw RTSPProtocolError(description: "neither an RTSP message nor an interleaved packet")
        }
        return .request(method: String(method))
    }
}

/// An RTSP request's text (RFC 2326 §6).
struct RTSPRequest {
    var method: String
    var uri: String
    var fields: [(String, String)] = []

    func encoded(cseq: Int, session: String?, authorization: String?, userAgent: String) -> [UInt8] {
        var text = "\(method) \(uri) RTSP/1.0\r\nCSeq: \(cseq)\r\nUser-Agent: \(userAgent)\r\n"
        if let session { text += "Session: \(session)\r\n" }
        if let authorization { text += "Authorization: \(authorization)\r\n" }
        for (name, value) in fields { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }
}
