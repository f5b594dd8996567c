import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX file helpers, so the core does not need Foundation for plain file access.
public enum FileIO {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func read(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { throw Failure(description: String(cString: strerror(errno))) }
            if count == 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    /// Why `path` cannot be read as a regular file, or nil when it can.
    public static func unreadableReason(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return String(cString: strerror(errno)).lowercased() }
        if (info.st_mode & S_IFMT) == S_IFDIR { return "is a directory" }
        guard access(path, R_OK) == 0 else { return String(cString: strerror(errno)).lowercased() }
        return nil
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates a directory and its parents (mode 0755); succeeds when it exists.
    public static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw Failure(description: "cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(cString: buffer)
        return path == "." ? cwd : cwd + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }
}

extension FileIO {
    /// Appends `bytes` in one write (O_APPEND keeps concurrent lines whole).
    public static func append(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

extension FileIO {
    /// Writes `bytes` to `path` atomically (a temporary file renamed over it).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o640)
        guard descriptor >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    public static func remove(_ path: String) { unlink(path) }

    /// Removes a directory and everything in it (nothing when it is missing).
    public static func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// The size of the file at `path` in bytes, or nil when it cannot be read.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// What tells that a file changed: modification time (ns), size and inode (an editor that
    /// saves by renaming a new file over the old one changes the inode). Nil when it is missing.
    public static func fingerprint(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_size), Int(info.st_ino)]
    }
}

/// Write-behind for a file that is written once, front to back, and seldom read soon (a
/// recording): every `step` bytes it starts the writeback of what was written since and drops
/// from the page cache what was written before (`posix_fadvise(DONTNEED)`: dirty pages start
/// their writeback, clean ones are freed). Without it the cache grows by every byte recorded, and
/// each write copies into a page the kernel has just handed out; with it the next writes reuse
/// the pages just freed. Measured: docs/benchmarks.md, 2026-12-08.
public struct PageCacheRelease {
    public static let step = 1 << 20
    /// The ends of the last rounds: a page is advised in three rounds (writeback started, then
    /// dropped once it is clean; the third catches a writeback that took longer than a round).
    private var rounds: (Int, Int, Int) = (0, 0, 0)

    public init() {}

    /// After writes that made the file `size` bytes long.
    public mutating func wrote(upTo size: Int, descriptor: Int32) {
        guard size - rounds.2 >= Self.step else { return }
        _ = posix_fadvise(descriptor, off_t(rounds.0), off_t(size - rounds.0), POSIX_FADV_DONTNEED)
        rounds = (rounds.1, rounds.2, size)
    }

    /// Before the file is closed: everything is advised once more (the tail starts its writeback).
    public func finish(descriptor: Int32) {
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
    }
}
