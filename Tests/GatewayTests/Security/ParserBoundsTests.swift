@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Everything parsed from outside — before authentication too — is bounded and linear, and no
/// value of any size crashes it: byte ranges, JSON, Engine.IO and Socket.IO packets.
@Suite struct ParserBoundsTests {
    // MARK: Range

    /// RFC 9110's byte ranges, computed the slow and obvious way with unbounded integers
    /// (decimal strings compared by length), as the reference the parser must agree with.
    static func expectedRange(_ header: String, size: Int) -> Range<Int>? {
        func compare(_ digits: Substring, _ limit: Int) -> Int? {  // nil: not digits; else -1/0/1 against limit
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let trimmed = digits.drop { $0 == "0" }
            let limitText = String(limit)
            if trimmed.count != limitText.count { return trimmed.count < limitText.count ? -1 : 1 }
            return trimmed == limitText ? 0 : (trimmed < limitText ? -1 : 1)
        }
        guard size > 0, header.hasPrefix("bytes="), !header.contains(","), !header.contains(" ") else { return nil }
        let parts = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let order = compare(parts[1], size) else { return nil }
            if order >= 0 { return 0..<size }
            let suffix = Int(parts[1])!
            return suffix == 0 ? nil : (size - suffix)..<size
        }
        guard let startOrder = compare(parts[0], size), startOrder < 0 else { return nil }
        let start = Int(parts[0])!
        if parts[1].isEmpty { return start..<size }
        guard let endOrder = compare(parts[1], size - 1) else { return nil }
        if endOrder >= 0 { return start..<size }
        let end = Int(parts[1])!
        return end < start ? nil : start..<(end + 1)
    }

    @Test func hugeRangesAreClampedNotOverflowed() {
        #expect(RangeResponse.parse("bytes=0-9223372036854775807", size: 100) == 0..<100)
        #expect(RangeResponse.parse("bytes=0-99999999999999999999999999", size: 100) == 0..<100)
        #expect(RangeResponse.parse("bytes=-9223372036854775807", size: 100) == 0..<100)
        #expect(RangeResponse.parse("bytes=9223372036854775807-", size: 100) == nil)
        #expect(RangeResponse.parse("bytes=5-4", size: 100) == nil)
        #expect(RangeResponse.parse("bytes=-0", size: 100) == nil)
        #expect(RangeResponse.parse("bytes=+5-9", size: 100) == nil)
        #expect(RangeResponse.parse(String(repeating: "bytes=0-1", count: 1000), size: 100) == nil)
    }

    @Test func randomRangesAgreeWithTheReference() {
        var random = SplitMix(seed: 11)
        let pieces = ["", "0", "1", "7", "99", "100", "101", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                      "00000000000000000000000000005", "-1", "a", " 3", "1e3"]
        for _ in 0..<20_000 {
            let size = [1, 2, 100, 101, Int.max][Int(random.next() % 5)]
            let first = pieces[Int(random.next() % UInt64(pieces.count))]
            let last = pieces[Int(random.next() % UInt64(pieces.count))]
            let header = "bytes=\(first)-\(last)"
            #expect(RangeResponse.parse(header, size: size) == Self.expectedRange(header, size: size), "\(header) of \(size)")
        }
    }

    // MARK: JSON

    @Test func adversarialJSONIsRefusedOrParsedWithoutCrashing() throws {
        let inputs = [
            String(repeating: "[", count: 100_000), String(repeating: "{\"a\":", count: 100_000),
            "1e400", "-1e400", "[1e999999]", "123456789012345678901234567890", "\"\\ud800\"", "\"\\udc00\\ud800\"",
            "{\"a\":1,\"a\":2}", "\u{FEFF}{}", "[" + String(repeating: "1,", count: 50_000) + "1]",
        ]
        for input in inputs { _ = try? JSONParser.parse(input) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(String(repeating: "[", count: 200) + String(repeating: "]", count: 200)) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse("1e400") }
        #expect(try JSONParser.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test func randomBytesNeverCrashTheParsers() {
        var random = SplitMix(seed: 7)
        let alphabet = Array("{}[]\",:0123456789.eE-+ \\ntfrlsu\u{1E}/_#".utf8)
        for _ in 0..<5_000 {
            let count = Int(random.next() % 64)
            let bytes = (0..<count).map { _ in random.next() % 4 == 0 ? UInt8(random.next() & 0xFF) : alphabet[Int(random.next() % UInt64(alphabet.count))] }
            _ = try? JSONParser.parse(bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            _ = try? EngineIOCodec.decodePayload(text)
            _ = try? SocketIOCodec.decode(text)
            _ = try? SocketIOCodec.decode("2" + text)
            _ = try? SocketIOCodec.decode("51-/admin,3" + text)
        }
    }

    /// A document of many distinct keys costs the parser in proportion to its size: 16 times
    /// the keys may cost 16 times the CPU, not 256 (the duplicate-key scan this replaced).
    /// Measured in this thread's CPU time, so other processes on the machine do not count;
    /// the margin between linear and quadratic is an order of magnitude.
    @Test func manyKeysCostLinearWork() throws {
        func document(_ keys: Int) -> [UInt8] {
            Array(("{" + (0..<keys).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}").utf8)
        }
        let small = document(4_000), large = document(64_000)
        _ = try JSONParser.parse(small)
        let smallCost = threadCPUTime { _ = try? JSONParser.parse(small) }
        let largeCost = threadCPUTime { _ = try? JSONParser.parse(large) }
        #expect(largeCost / max(smallCost, 1e-6) < 48, "4,000 keys: \(smallCost) s; 64,000 keys: \(largeCost) s")
        if case .object(let object) = try JSONParser.parse(large) { #expect(object["k63999"] == .int(63_999)) }
    }

    /// The same bound counted in steps rather than time: random documents, random bytes and
    /// adversarial shapes (many keys, deep nesting, escapes, surrogates, long numbers, errors
    /// found at the very end) never take more than 8 steps per byte.
    @Test func parsingTakesAtMostEightStepsPerByte() {
        var random = SplitMix(seed: 29)
        func randomDocument(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 6 ? 4 : 7), using: &random) {
            case 0: return String(Int.random(in: -1_000_000...1_000_000, using: &random))
            case 1: return "\"" + String((0..<Int.random(in: 0..<12, using: &random)).map { _ in "ab\\n\\u00e9\\ud83d\\ude00 ".randomElement(using: &random)! }) + "\""
            case 2: return ["true", "false", "null", "1.5e-7", "-0.25"].randomElement(using: &random)!
            case 3: return "[]"
            case 4, 5:
                let count = Int.random(in: 0..<8, using: &random)
                return "{" + (0..<count).map { "\"k\($0)\": " + randomDocument(depth + 1) }.joined(separator: ",") + "}"
            default:
                return "[" + (0..<Int.random(in: 0..<8, using: &random)).map { _ in randomDocument(depth + 1) }.joined(separator: ", ") + "]"
            }
        }
        var inputs: [[UInt8]] = (0..<300).map { _ in Array(randomDocument(0).utf8) }
        inputs += (0..<300).map { _ in (0..<Int.random(in: 0..<4_096, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) } }
        // Truncated and corrupted documents: errors at every position.
        inputs += inputs.prefix(100).flatMap { document in
            document.count < 2 ? [] : [Array(document.prefix(document.count / 2)), document + [UInt8(ascii: "x")]]
        }
        let keys = (0..<50_000).map { "\"key\($0)\":\($0)" }.joined(separator: ",")
        inputs += [
            "{" + keys + "}", "{" + keys + ",\"key0\":1}",  // a duplicate found at the very end
            String(repeating: "[", count: 128) + String(repeating: "]", count: 128),
            String(repeating: "[", count: 100_000),  // refused at depth 129
            "\"" + String(repeating: "\\ud83d\\ude00", count: 20_000) + "\"",
            "\"" + String(repeating: "\\u00", count: 20_000),
            String(repeating: "7", count: 200_000), "-" + String(repeating: "0", count: 100_000) + ".5",
            "[" + String(repeating: "1,", count: 100_000) + "]", String(repeating: " ", count: 100_000) + "{}",
            String(repeating: "{\"a\":", count: 128) + "1" + String(repeating: "}", count: 128),
        ].map { Array($0.utf8) }
        var worst = 0.0
        for input in inputs {
            let (_, operations) = JSONParser.parseCountingOperations(input)
            let perByte = Double(operations) / Double(input.count + 1)
            worst = max(worst, perByte)
            #expect(operations <= 8 * (input.count + 1), "\(operations) steps for \(input.count) bytes: \(String(decoding: input.prefix(60), as: UTF8.self))")
        }
        #expect(worst > 0.5, "the count is not counting (worst \(worst) steps per byte)")
    }

    func threadCPUTime(_ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            var start = timespec(), end = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
            body()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
            best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9)
        }
        return best
    }
}

/// A small deterministic generator, so a failing input can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
