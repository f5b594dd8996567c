@testable import GatewayCore
import Testing

/// Annex B to MP4's 4-byte NAL lengths (`FragmentBoxes.lengthPrefixed`), against frames built
/// from known NAL units with 3- and 4-byte start codes.
@Suite struct AnnexBTests {
    /// A NAL unit as an encoder makes it: never two zero bytes followed by a byte below 4
    /// (emulation prevention), never ending in a zero byte.
    func nal(_ generator: inout SystemRandomNumberGenerator, size: Int) -> [UInt8] {
        var bytes: [UInt8] = [UInt8.random(in: 1...0x7F, using: &generator)]
        while bytes.count < size {
            var byte = UInt8.random(in: 0...255, using: &generator)
            // Plenty of 0x00 and 0x01, the bytes a start code is made of.
            if byte > 200 { byte = byte & 1 }
            if byte < 4, bytes.count >= 2, bytes[bytes.count - 1] == 0, bytes[bytes.count - 2] == 0 { byte = 4 }
            bytes.append(byte)
        }
        if bytes[bytes.count - 1] == 0 { bytes[bytes.count - 1] = 9 }
        return bytes
    }

    @Test func everyNALUnitGetsItsLengthWhateverItsStartCode() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let units = (0..<Int.random(in: 1...6, using: &generator)).map { _ in nal(&generator, size: Int.random(in: 1...3000, using: &generator)) }
            var annexB: [UInt8] = []
            var expected: [UInt8] = []
            for unit in units {
                annexB += Bool.random(using: &generator) ? [0, 0, 1] : [0, 0, 0, 1]
                annexB += unit
                let length = UInt32(unit.count)
                expected += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + unit
            }
            let converted = annexB.withUnsafeBytes { FragmentBoxes.lengthPrefixed(annexB: $0) }
            #expect(converted == expected, "round \(round)")
        }
        // No start code at all: one bare NAL unit.
        #expect([UInt8]([0x65, 1, 2]).withUnsafeBytes { FragmentBoxes.lengthPrefixed(annexB: $0) } == [0, 0, 0, 3, 0x65, 1, 2])
        #expect([UInt8]().withUnsafeBytes { FragmentBoxes.lengthPrefixed(annexB: $0) } == [0, 0, 0, 0])
    }
}
