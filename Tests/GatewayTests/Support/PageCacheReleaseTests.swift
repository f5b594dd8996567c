import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import GatewayCore
import Testing

/// A recording's bytes leave the page cache once they are on disk, so recording does not grow
/// the cache (and each write reuses pages just freed).
@Suite struct PageCacheReleaseTests {
    /// Writes `megabytes` MiB in 256 KiB chunks, making each chunk clean (on disk) before the next,
    /// as the kernel's writeback would in the recorder's second between writes; the bytes of the
    /// file still in the page cache at the end.
    private func residentBytes(megabytes: Int, release: Bool) throws -> Int {
        let directory = FileManager.default.currentDirectoryPath + "/.build/page-cache-test-\(UUID().uuidString)"
        try FileIO.makeDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let descriptor = open(directory + "/segment.mp4", O_RDWR | O_CREAT | O_TRUNC, 0o640)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var cache = PageCacheRelease()
        let chunk = [UInt8](repeating: 0x5a, count: 256 << 10)
        var size = 0
        for _ in 0..<(megabytes * 4) {
            let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            try #require(written == chunk.count)
            size += written
            #expect(fdatasync(descriptor) == 0)
            if release { cache.wrote(upTo: size, descriptor: descriptor) }
        }
        let map = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0))
        try #require(map != MAP_FAILED)
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = [UInt8](repeating: 0, count: (size + page - 1) / page)
        #expect(mincore(map, size, &resident) == 0)
        return resident.filter { $0 & 1 != 0 }.count * page
    }

    @Test func writtenBytesLeaveTheCacheOnceTheyAreOnDisk() throws {
        // Without it, all 8 MiB stay cached (which shows the check can see them)…
        #expect(try residentBytes(megabytes: 8, release: false) == 8 << 20)
        // …with it, at most what was written since the last round (under a MiB, plus the rounds
        // a slow writeback may keep).
        let kept = try residentBytes(megabytes: 8, release: true)
        #expect(kept <= 2 << 20, "\(kept) bytes of 8 MiB still cached")
    }
}
