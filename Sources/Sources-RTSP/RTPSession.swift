import Foundation
import GatewayCore

/// The streaming half of a native RTSP session: interleaved RTP to frames, frames to packets
/// on the camera's media clock, packets to the hub in batches.
///
/// Timestamps: each track's RTP time is unwrapped and placed so that its first frame lands at
/// its arrival time since the session's first frame; once the camera's RTCP sender reports have
/// given both tracks' RTP times against one wall clock, the audio is moved (once) to agree with
/// the video by it, as libavformat does with the reports. The session begins — its streams
/// announced — at the first video keyframe, whose parameter sets give the picture's size.
struct RTPSession {
    final class Track {
        let plan: RTPTrackPlan
        var parameters: CodecParameters?
        var nal: NALDepacketizer?
        var aac: AACDepacketizer?
        var lastSequence: UInt16?
        var lastRaw: UInt32 = 0
        var unwrapped: Int64 = 0
        var started = false
        /// Added to the unwrapped RTP time to give the packet's time; set at the first frame.
        var offset: Int64?
        /// The last sender report: RTP time (unwrapped) and NTP seconds.
        var report: (rtp: Int64, ntp: Double)?
        var lastPTS: Int64?
        var index = 0
        var timeBase: Rational { Rational(1, Int32(plan.media.clockRate)) }

        init(plan: RTPTrackPlan) {
            self.plan = plan
            switch plan.codec {
            case .h264, .h265: nal = NALDepacketizer(isHEVC: plan.codec == .h265)
            case .aac: aac = AACDepacketizer(parameters: plan.media.parameters)
            default: break
            }
        }

        func unwrap(_ raw: UInt32) -> Int64 {
            guard started else { return Int64(raw) }
            return unwrapped + Int64(Int32(bitPattern: raw &- lastRaw))
        }

        func advance(_ raw: UInt32) -> Int64 {
            let value = unwrap(raw)
            started = true
            lastRaw = raw
            unwrapped = value
            return value
        }
    }

    let tracks: [Track]
    let output: any SourceOutput
    let displayName: String
    private var begun = false
    private var sessionStart: Int64 = 0
    private var resynchronized = false
    private var batch = LiveInput.ReadBatching(enabled: true)
    private var pending: [MediaPacket] = []
    private var lost = 0
    /// How long the thread naps once it has read all the socket held. TCP keeps what arrives
    /// meanwhile (flow control, nothing lost), so this is longer than the 30 ms of libavformat's
    /// inputs, which may be UDP: 100 ms, ten wake-ups a second, cut the gateway's CPU with 20
    /// RTSP cameras by a third against 30 ms (docs/benchmarks.md), for at most 0.1 s more
    /// between a frame's arrival and its part.
    static let nap: UInt32 = 100_000
    /// Bounds how long the session may go without a usable keyframe before it gives up.
    private var firstData: Int64?

    init(tracks plans: [RTPTrackPlan], output: any SourceOutput, displayName: String) {
        tracks = plans.map(Track.init)
        self.output = output
        self.displayName = displayName
        for track in tracks where !track.plan.codec.isVideo {
            track.parameters = Self.audioParameters(track.plan)
        }
        for track in tracks where track.plan.codec.isVideo { track.nal?.seed(Self.sdpParameterSets(track.plan)) }
    }

    static func audioParameters(_ plan: RTPTrackPlan) -> CodecParameters? {
        let media = plan.media
        switch plan.codec {
        case .aac:
            let config = Self.hex(media.parameters["config"] ?? "")
            return CodecParameters.audio(.aac, sampleRate: media.clockRate, channels: media.channels, extradata: config)
        default:
            return CodecParameters.audio(plan.codec, sampleRate: media.clockRate, channels: media.channels)
        }
    }

    /// `sprop-parameter-sets` (H.264) or `sprop-vps`/`sprop-sps`/`sprop-pps` (H.265): base64 NAL units.
    static func sdpParameterSets(_ plan: RTPTrackPlan) -> [[UInt8]] {
        let keys = plan.codec == .h265 ? ["sprop-vps", "sprop-sps", "sprop-pps"] : ["sprop-parameter-sets"]
        return keys.flatMap { key in
            (plan.media.parameters[key] ?? "").split(separator: ",").compactMap { Data(base64Encoded: String($0)).map { [UInt8]($0) } }
        }.filter { !$0.isEmpty }
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return [] }
            bytes.append(value)
        }
        return bytes
    }

    /// Reads until the camera stops, the connection fails or the session is cancelled.
    mutating func read(connection: RTSPConnection, keepAlive: (request: RTSPRequest, interval: Duration)) throws {
        let keepAliveNanoseconds = keepAlive.interval.components.seconds * 1_000_000_000
        var nextKeepAlive = MonotonicTime.nanoseconds() + keepAliveNanoseconds
        let startupLimit = max(connection.timeout, .seconds(10))
        let startupNanoseconds = startupLimit.components.seconds * 1_000_000_000
        while true {
            try connection.receive()
            let now = MonotonicTime.nanoseconds()
            while true {
                let item: RTSPItem?
                do {
                    item = try connection.reader.next()
                } catch {
                    throw MediaError(.read, component: displayName, "not RTSP: \(error.description)")
                }
                guard let item else { break }
                switch item {
                case .interleaved(let channel, let range):
                    try connection.reader.buffer.withUnsafeBytes { buffer in
                        try handle(channel: channel, packet: UnsafeRawBufferPointer(rebasing: buffer[range]), arrival: now)
                    }
                case .response(let response):
                    if response.status == 454 { throw MediaError(.read, component: displayName, "the camera ended the session (454 Session Not Found)") }
                case .request:
                    break
                }
            }
            if lost > 0 {
                output.lost(packets: lost)
                lost = 0
            }
            if !begun, let firstData, now - firstData > startupNanoseconds {
                throw NativeRTSPUnsupported(reason: "no keyframe whose parameters could be read within \(startupLimit)")
            }
            // Batching by the socket rather than by the read: a read that had to wait may bring
            // only the first bytes of a frame, so "the read waited" (libavformat's path, one
            // packet per read) is no sign of having caught up here. Once nothing more is waiting
            // in the socket, what was read goes to the hub as one batch and the thread naps, so
            // the next read finds tens of milliseconds of packets; before that, what was read is
            // held (at most `ReadBatching`'s 40 ms).
            for packet in pending {
                _ = try batch.add(packet, readSince: now, output: output)
            }
            pending.removeAll(keepingCapacity: true)
            let caughtUp = connection.waitingInSocket == 0
            if caughtUp { try batch.flush(output: output) }
            if now >= nextKeepAlive {
                connection.sendQuietly(keepAlive.request)
                nextKeepAlive = now + keepAliveNanoseconds
            }
            if caughtUp { usleep(Self.nap) }
        }
    }

    private mutating func handle(channel: UInt8, packet: UnsafeRawBufferPointer, arrival: Int64) throws {
        if firstData == nil { firstData = arrival }
        guard let track = tracks.first(where: { $0.plan.channel == channel || $0.plan.channel + 1 == channel }) else { return }
        if channel == track.plan.channel + 1 {
            senderReport(packet, track: track)
            return
        }
        guard let header = RTPHeader(packet), Int(header.payloadType) == track.plan.media.payloadType else { return }
        var gap = false
        if let last = track.lastSequence {
            let step = Int16(bitPattern: header.sequence &- last)
            if step <= 0 { return }  // a duplicate or an old packet
            if step > 1 {
                gap = true
                lost += Int(step) - 1
            }
        }
        track.lastSequence = header.sequence
        let timestamp = track.advance(header.timestamp)
        let payload = UnsafeRawBufferPointer(rebasing: packet[header.payload])
        var failure: (any Error)?
        func emit(_ bytes: UnsafeRawBufferPointer, _ time: Int64, _ keyframe: Bool) {
            guard failure == nil else { return }
            do { try frame(track, bytes: bytes, timestamp: time, keyframe: keyframe, arrival: arrival) } catch { failure = error }
        }
        if let nal = track.nal {
            nal.push(payload, timestamp: timestamp, marker: header.marker, gap: gap, emit: emit)
        } else if let aac = track.aac {
            aac.push(payload, timestamp: timestamp, marker: header.marker, gap: gap, emit: emit)
        } else if !payload.isEmpty {
            emit(payload, timestamp, true)
        }
        if let failure { throw failure }
    }

    private mutating func frame(_ track: Track, bytes: UnsafeRawBufferPointer, timestamp: Int64, keyframe: Bool, arrival: Int64) throws {
        if !begun {
            guard track.plan.codec.isVideo, keyframe else {
                if !tracks.contains(where: { $0.plan.codec.isVideo }) { try begin(arrival: arrival) } else { return }
                return try frame(track, bytes: bytes, timestamp: timestamp, keyframe: keyframe, arrival: arrival)
            }
            let extradata = track.nal!.extradata
            guard let parameters = CodecParameters.video(track.plan.codec, extradata: extradata, keyframe: Array(bytes)) else { return }
            track.parameters = parameters
            try begin(arrival: arrival)
        }
        guard track.parameters != nil else { return }
        if track.offset == nil {
            let since = arrival - sessionStart
            track.offset = track.timeBase.ticks(seconds: Double(since) / 1e9) - timestamp
        }
        let pts = timestamp + track.offset!
        if track.plan.codec.isVideo, let last = track.lastPTS, pts < last {
            throw NativeRTSPUnsupported(reason: "B-frames (frames out of presentation order)", afterBegin: true)
        }
        track.lastPTS = pts
        let duration: Int64
        switch track.plan.codec {
        case .aac: duration = 1024
        case .pcmMulaw, .pcmAlaw: duration = Int64(bytes.count / max(track.plan.media.channels, 1))
        default: duration = 0
        }
        let payload = PacketBuffer(count: bytes.count) { $0.copyMemory(from: bytes) }
        pending.append(MediaPacket(streamIndex: track.index, kind: track.plan.codec.isVideo ? .video : .audio, pts: pts, dts: pts,
                                   duration: duration, isKeyframe: keyframe, timeBase: track.timeBase, payload: payload).bounded())
    }

    private mutating func begin(arrival: Int64) throws {
        var streams: [MediaStream] = []
        for track in tracks {
            guard let parameters = track.parameters else { continue }
            track.index = streams.count
            streams.append(MediaStream(index: streams.count, timeBase: track.timeBase, parameters: parameters, frameRate: track.plan.media.frameRate))
        }
        // An audio track whose parameters could not be made is left out, like an unknown one.
        for track in tracks where track.parameters == nil { track.index = -1 }
        sessionStart = arrival
        begun = true
        try output.begin(StreamSet(streams: streams))
    }

    /// An RTCP compound packet: the sender report (RFC 3550 §6.4.1) maps the track's RTP time to
    /// the camera's wall clock. With reports for every track, the audio is placed by them once.
    private mutating func senderReport(_ packet: UnsafeRawBufferPointer, track: Track) {
        var offset = 0
        while offset + 8 <= packet.count {
            let length = ((Int(packet[offset + 2]) << 8 | Int(packet[offset + 3])) + 1) * 4
            guard packet[offset] >> 6 == 2, offset + length <= packet.count else { return }
            if packet[offset + 1] == 200, length >= 28, track.started {
                func word(_ at: Int) -> UInt32 {
                    UInt32(packet[offset + at]) << 24 | UInt32(packet[offset + at + 1]) << 16 | UInt32(packet[offset + at + 2]) << 8 | UInt32(packet[offset + at + 3])
                }
                let ntp = Double(word(8)) + Double(word(12)) / 4_294_967_296
                track.report = (track.unwrap(word(16)), ntp)
            }
            offset += length
        }
        resynchronize()
    }

    private mutating func resynchronize() {
        guard !resynchronized, let video = tracks.first(where: { $0.plan.codec.isVideo }),
              let audio = tracks.first(where: { !$0.plan.codec.isVideo }),
              let videoReport = video.report, let audioReport = audio.report,
              let videoOffset = video.offset, let audioOffset = audio.offset else { return }
        resynchronized = true
        // Where each report's instant lies on the media clock, against where the wall clock
        // says it lies: the difference is how far the audio is off.
        let videoMedia = video.timeBase.seconds(videoReport.rtp + videoOffset)
        let audioMedia = audio.timeBase.seconds(audioReport.rtp + audioOffset)
        let error = (audioMedia - videoMedia) - (audioReport.ntp - videoReport.ntp)
        guard error.magnitude > 0.005, error.magnitude < 5 else { return }
        audio.offset = audioOffset - audio.timeBase.ticks(seconds: error)
    }
}
