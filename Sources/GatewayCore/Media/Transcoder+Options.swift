/// How a camera's video is turned into H.264 where browsers need it (the `transcode` option of
/// every source). One encode per camera, on the camera's own thread, never per viewer.
public struct TranscodeOptions: Decodable, Sendable, ConfigPlaceholder {
    public enum Mode: String, ConfigEnum, Sendable {
        /// Only video that MP4/MSE cannot carry (MJPEG, raw, MPEG-2, …).
        case auto
        /// Every video stream, also H.264/H.265 (to cap resolution or bitrate).
        case always
        /// Never: a camera whose codec cannot be copied has no HLS/WebSocket output.
        case never
    }

    /// Default `auto`.
    public var mode = Mode.auto
    /// x264 preset. Default `veryfast`.
    public var preset = "veryfast"
    /// x264 tune. Default `zerolatency` (no frame delay, no B-frames).
    public var tune = "zerolatency"
    /// Constant rate factor 0-51 when no bitrate is set. Default 23.
    public var crf = 23
    /// Target bitrate in kbit/s (capped by a VBV buffer of one second); overrides `crf`. Default none.
    public var bitrateKbps: Int?
    /// Seconds between keyframes. Default 2.
    public var gopSeconds: Double = 2
    /// Output size; one of them keeps the aspect ratio. Default: the source's size.
    public var width: Int?
    public var height: Int?
    /// Encoder threads; 0 lets x264 choose. Default 0.
    public var threads = 0

    enum CodingKeys: String, CodingKey {
        case mode, preset, tune, crf, bitrateKbps = "bitrate_kbps", gopSeconds = "gop_seconds", width, height, threads
    }

    public init() {}
    public static var configPlaceholder: TranscodeOptions { TranscodeOptions() }

    static let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
    static let tunes = ["zerolatency", "film", "animation", "grain", "stillimage", "fastdecode", "none"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mode = try container.decodeIfPresent(Mode.self, forKey: .mode) ?? mode
        preset = try container.decodeIfPresent(String.self, forKey: .preset) ?? preset
        tune = try container.decodeIfPresent(String.self, forKey: .tune) ?? tune
        crf = try container.decodeIfPresent(Int.self, forKey: .crf) ?? crf
        bitrateKbps = try container.decodeIfPresent(Int.self, forKey: .bitrateKbps)
        gopSeconds = try container.decodeIfPresent(Double.self, forKey: .gopSeconds) ?? gopSeconds
        width = try container.decodeIfPresent(Int.self, forKey: .width)
        height = try container.decodeIfPresent(Int.self, forKey: .height)
        threads = try container.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        if !Self.presets.contains(preset) {
            try decoder.reportProblem(CodingKeys.preset, "'\(preset)' is not one of \(Self.presets.joined(separator: ", "))")
        }
        if !Self.tunes.contains(tune) {
            try decoder.reportProblem(CodingKeys.tune, "'\(tune)' is not one of \(Self.tunes.joined(separator: ", "))")
        }
        if !(0...51).contains(crf) { try decoder.reportProblem(CodingKeys.crf, "must be between 0 and 51") }
        try decoder.requireRange(bitrateKbps, 16...200_000, CodingKeys.bitrateKbps)
        if gopSeconds <= 0 || gopSeconds > 60 { try decoder.reportProblem(CodingKeys.gopSeconds, "must be between 0 and 60") }
        for (key, value) in [(CodingKeys.width, width), (.height, height)] {
            if let value, !(16...8192).contains(value) || value % 2 != 0 { try decoder.reportProblem(key, "must be an even number of pixels, 16-8192") }
        }
        if !(0...16).contains(threads) { try decoder.reportProblem(CodingKeys.threads, "must be between 0 and 16") }
    }
}
