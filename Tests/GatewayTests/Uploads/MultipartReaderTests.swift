@testable import Gateway
import Testing

@Suite struct MultipartReaderTests {
    static let boundary = "----Xy12"

    static func body(_ parts: [(name: String, filename: String?, data: [UInt8])], preamble: String = "") -> [UInt8] {
        var bytes = Array(preamble.utf8)
        for part in parts {
            bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"".utf8)
            if let filename = part.filename { bytes += Array("; filename=\"\(filename)\"\r\nContent-Type: video/mp4".utf8) }
            bytes += Array("\r\n\r\n".utf8) + part.data + Array("\r\n".utf8)
        }
        return bytes + Array("--\(boundary)--\r\n".utf8)
    }

    /// Feeds `bytes` in chunks of `size`; returns each part's name and bytes.
    static func read(_ bytes: [UInt8], chunk size: Int) throws -> [(String, [UInt8])] {
        var reader = MultipartReader(boundary: boundary)
        var parts: [(String, [UInt8])] = []
        var offset = 0
        while offset < bytes.count {
            for event in try reader.feed(bytes[offset..<min(bytes.count, offset + size)]) {
                switch event {
                case .begin(let part): parts.append((part.name, []))
                case .data(let data): parts[parts.count - 1].1 += data
                case .end: break
                }
            }
            offset += size
        }
        #expect(reader.isFinished)
        return parts
    }

    @Test func partsComeWholeWhateverTheChunking() throws {
        // A file that holds the delimiter's beginning and CRLFs, split at every possible place.
        let file = Array("\r\n--\(Self.boundary.dropLast())x\r\n\r\nbinary\u{0}\u{FF}".utf8) + (0..<300).map { UInt8($0 % 256) }
        let bytes = Self.body([("title", nil, Array("Hello".utf8)), ("video", "a.mp4", file)], preamble: "ignored preamble\r\n")
        for size in [1, 2, 3, 7, 64, 1000, bytes.count] {
            let parts = try Self.read(bytes, chunk: size)
            #expect(parts.map(\.0) == ["title", "video"], "chunk \(size)")
            #expect(parts.first?.1 == Array("Hello".utf8) && parts.last?.1 == file, "chunk \(size)")
        }
    }

    @Test func headersAndPartsAreBounded() throws {
        var reader = MultipartReader(boundary: Self.boundary)
        let long = Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: ".utf8) + Array(repeating: 0x61, count: 9000)
        #expect(throws: MultipartReader.Failure.self) { _ = try reader.feed(long) }
        let many = Self.body((0..<40).map { ("f\($0)", nil, [0x31]) })
        #expect(throws: MultipartReader.Failure.self) { _ = try Self.read(many, chunk: 4096) }
        var padded = MultipartReader(boundary: Self.boundary)
        let spaces = Array("--\(Self.boundary)".utf8) + Array(repeating: 0x20, count: 64 * 1024)
        #expect(throws: MultipartReader.Failure.self) { _ = try padded.feed(spaces) }
        var unnamed = MultipartReader(boundary: Self.boundary)
        #expect(throws: MultipartReader.Failure.self) {
            _ = try unnamed.feed(Array("--\(Self.boundary)\r\nContent-Type: text/plain\r\n\r\nx\r\n--\(Self.boundary)--\r\n".utf8))
        }
    }

    @Test func theBoundaryComesFromTheContentType() {
        #expect(MultipartReader.boundary(of: "multipart/form-data; boundary=abc") == "abc")
        #expect(MultipartReader.boundary(of: "Multipart/Form-Data; charset=utf-8; boundary=\"a b\"") == "a b")
        #expect(MultipartReader.boundary(of: "multipart/form-data") == nil)
        #expect(MultipartReader.boundary(of: "application/json; boundary=abc") == nil)
        #expect(MultipartReader.boundary(of: "multipart/form-data; boundary=" + String(repeating: "a", count: 71)) == nil)
        var unfinished = MultipartReader(boundary: "abc")
        _ = try? unfinished.feed(Array("--abc\r\nContent-Disposition: form-data; name=\"video\"\r\n\r\npartial".utf8))
        #expect(!unfinished.isFinished)
    }
}
