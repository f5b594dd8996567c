import Gateway
import GatewayCore
#if canImport(Glibc)
import Glibc
#endif

/// What `gateway probe` prints: the container, then one line per stream.
struct ProbeReport {
    let demuxer: Demuxer

    var text: String {
        var lines = ["input:    \(demuxer.name)", "format:   \(demuxer.formatName)"]
        if let duration = demuxer.duration { lines.append("duration: \(format(duration, digits: 3)) s") }
        if demuxer.bitRate > 0 { lines.append("bitrate:  \(demuxer.bitRate / 1000) kb/s") }
        lines.append("streams:")
        for stream in demuxer.allStreams {
            let parameters = stream.parameters
            var fields = ["#\(stream.index) \(stream.kind.rawValue)", "codec=\(stream.codecName)"]
            if let profile = parameters.profileName { fields.append("profile=\(profile)") }
            switch stream.kind {
            case .video:
                fields.append("resolution=\(parameters.width)x\(parameters.height)")
                if let fps = stream.frameRate { fields.append("fps=\(format(fps, digits: 2))") }
            case .audio:
                fields.append("sample_rate=\(parameters.sampleRate)")
                fields.append("channels=\(parameters.channels)")
            default:
                break
            }
            if parameters.bitRate > 0 { fields.append("bitrate=\(parameters.bitRate / 1000) kb/s") }
            fields.append("time_base=\(stream.timeBase)")
            if !parameters.isCopyableToMP4, stream.kind == .video || stream.kind == .audio { fields.append("(needs transcode for MP4/HLS)") }
            lines.append("  " + fields.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    private func format(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return "\(rounded)"
    }
}

struct StandardErrorStream: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
