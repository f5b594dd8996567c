#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered lines on standard output, for what a person must see at once (a generated
/// password), even when stdout is a pipe.
public enum Console {
    public static func write(_ line: String) { write(line, newline: true) }

    public static func write(_ line: String, newline: Bool) {
        let bytes = Array((newline ? line + "\n" : line).utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }
}
