import Foundation
/// A streaming `multipart/form-data` reader (RFC 7578): fed the body chunk by chunk, it hands
/// out each part's headers and its bytes as they arrive, holding at most one chunk plus a
/// delimiter's length — never a whole file. Part headers are bounded (8 KiB, 32 parts); the scan
/// is linear in the body (the delimiter is at most 74 bytes).
struct MultipartReader {
    struct Part: Equatable {
        var name: String
        var filename: String?
        var contentType: String?
    }

    enum Event: Equatable {
        case begin(Part)
        case data([UInt8])
        case end
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let maximumHeaderBytes = 8 * 1024
    static let maximumParts = 32
    /// Transport padding allowed after a delimiter.
    static let maximumPadding = 1024

    private enum State { case preamble, afterDelimiter, headers, body, done }

    private let delimiter: [UInt8]
    private var state = State.preamble
    private var buffer: [UInt8]
    private var parts = 0

    /// The boundary of a `multipart/form-data; boundary=…` content type, or nil.
    static func boundary(of contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return value
        }
        return nil
    }

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first delimiter may open the body without the CRLF before it.
        buffer = [0x0D, 0x0A]
    }

    var isFinished: Bool { state == .done }

    /// Feeds `chunk`; returns what it completes, in order.
    mutating func feed(_ chunk: some Collection<UInt8>) throws -> [Event] {
        buffer += chunk
        var events: [Event] = []
        var position = 0
        parsing: while true {
            switch state {
            case .preamble:
                guard let found = Self.find(delimiter, in: buffer, from: position) else {
                    position = max(position, buffer.count - delimiter.count + 1)
                    break parsing
                }
                position = found + delimiter.count
                state = .afterDelimiter
            case .afterDelimiter:
                guard buffer.count - position >= 2 else { break parsing }
                if buffer[position] == 0x2D, buffer[position + 1] == 0x2D {  // "--": the last one
                    state = .done
                    position = buffer.count
                    break parsing
                }
                // Transport padding (spaces, tabs) may stand before the line's end.
                var end = position
                while end < buffer.count, buffer[end] == 0x20 || buffer[end] == 0x09 { end += 1 }
                // Bounded, or a body of spaces would be held (and rescanned) without end.
                guard end - position <= Self.maximumPadding else { throw Failure(description: "a malformed multipart delimiter") }
                guard buffer.count - end >= 2 else { break parsing }
                guard buffer[end] == 0x0D, buffer[end + 1] == 0x0A else { throw Failure(description: "a malformed multipart delimiter") }
                position = end + 2
                state = .headers
            case .headers:
                guard let end = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: buffer, from: position) else {
                    if buffer.count - position > Self.maximumHeaderBytes { throw Failure(description: "multipart part headers are limited to 8 KiB") }
                    break parsing
                }
                guard end - position <= Self.maximumHeaderBytes else { throw Failure(description: "multipart part headers are limited to 8 KiB") }
                parts += 1
                guard parts <= Self.maximumParts else { throw Failure(description: "at most \(Self.maximumParts) multipart parts") }
                events.append(.begin(try Self.part(String(decoding: buffer[position..<end], as: UTF8.self))))
                position = end + 4
                state = .body
            case .body:
                if let found = Self.find(delimiter, in: buffer, from: position) {
                    if found > position { events.append(.data(Array(buffer[position..<found]))) }
                    events.append(.end)
                    position = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    // Keep what could be the start of a delimiter split across chunks.
                    let safe = max(position, buffer.count - delimiter.count + 1)
                    if safe > position { events.append(.data(Array(buffer[position..<safe]))) }
                    position = safe
                    break parsing
                }
            case .done:
                position = buffer.count
                break parsing
            }
        }
        buffer.removeFirst(min(position, buffer.count))
        return events
    }

    /// The name, filename and type a part's headers give.
    static func part(_ headers: String) throws -> Part {
        var part = Part(name: "")
        var named = false
        for line in headers.split(separator: "\r\n") {
            let field = line.split(separator: ":", maxSplits: 1)
            guard field.count == 2 else { continue }
            let value = field[1].trimmingCharacters(in: .whitespaces)
            switch field[0].trimmingCharacters(in: .whitespaces).lowercased() {
            case "content-disposition":
                for parameter in value.split(separator: ";").dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard pair.count == 2 else { continue }
                    var text = pair[1]
                    if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
                    switch pair[0].lowercased() {
                    case "name":
                        part.name = text
                        named = true
                    case "filename": part.filename = text
                    default: break
                    }
                }
            case "content-type": part.contentType = value
            default: break
            }
        }
        guard named else { throw Failure(description: "a multipart part has no name") }
        return part
    }

    /// The first index of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count - start >= needle.count else { return nil }
        let last = haystack.count - needle.count
        var index = start
        return haystack.withUnsafeBufferPointer { bytes -> Int? in
            while index <= last {
                if bytes[index] == first {
                    var matched = 1
                    while matched < needle.count, bytes[index + matched] == needle[matched] { matched += 1 }
                    if matched == needle.count { return index }
                }
                index += 1
            }
            return nil
        }
    }
}
