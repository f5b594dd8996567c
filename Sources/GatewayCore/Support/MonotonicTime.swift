#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds, cheap enough to read per packet.
public enum MonotonicTime {
    public static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}
