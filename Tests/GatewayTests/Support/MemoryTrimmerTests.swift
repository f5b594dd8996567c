import Foundation
import GatewayCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A heap with free holes below memory still in use keeps them resident until it is trimmed.
@Suite struct MemoryTrimmerTests {
    func residentBytes() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    @Test func freeHolesInTheHeapGoBackToTheSystem() throws {
        #if canImport(Glibc)
        // 256 MiB in 32 KiB blocks (below the mmap threshold: from the heap), every one written;
        // then all freed but one in 16, which pins the heap's top.
        let count = 8192
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<count {
            let block = try #require(malloc(32 << 10))
            memset(block, 0x5A, 32 << 10)
            blocks.append(block)
        }
        for (index, block) in blocks.enumerated() where index % 16 != 15 { free(block) }
        let before = residentBytes()
        #expect(MemoryTrimmer.trimNow())
        let after = residentBytes()
        for (index, block) in blocks.enumerated() where index % 16 == 15 { free(block) }
        // About 240 MiB were free; at least half of it must have left (other tests allocate meanwhile).
        #expect(before - after >= 120 << 20, "resident \(before >> 20) MiB before the trim, \(after >> 20) MiB after")
        #endif
    }
}
