import Foundation
@testable import SourcesRTSP
import Testing

/// The native RTSP client's parsers, on bytes as cameras send them. The client against a real
/// RTSP server (GStreamer's) is in Tests/integration/test_live_sources.py.
@Suite struct NativeRTSPTests {
    static let describeReply = Array(("RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
        + "Content-Base: rtsp://127.0.0.1:8554/cam/\r\nContent-Length: 16\r\n\r\nv=0\r\ns=Session\r\n").utf8)

    /// A response, then an interleaved packet, however the bytes are split across reads.
    @Test func aResponseAndAnInterleavedPacketParseWhateverTheSplit() throws {
        let packet: [UInt8] = [0x24, 1, 0, 5, 10, 11, 12, 13, 14]
        let stream = Self.describeReply + packet
        for split in 0...stream.count {
            var reader = RTSPReader(capacity: 1024)
            var items: [RTSPItem] = []
            reader.append(Array(stream[..<split]))
            while let item = try reader.next() { items.append(item) }
            reader.append(Array(stream[split...]))
            while let item = try reader.next() { items.append(item) }
            #expect(items.count == 2, "split at \(split)")
            guard items.count == 2, case .response(let response) = items[0], case .interleaved(let channel, let range) = items[1] else { continue }
            #expect(response.status == 200 && response.cseq == 2)
            #expect(response.field("content-base") == "rtsp://127.0.0.1:8554/cam/")
            #expect(String(decoding: response.body, as: UTF8.self) == "v=0\r\ns=Session\r\n")
            #expect(channel == 1 && Array(reader.buffer[range]) == [10, 11, 12, 13, 14])
        }
    }

    @Test func anEndlessHeadOrAHugeBodyIsRefused() {
        var endless = RTSPReader(capacity: 1024)
        endless.append(Array("RTSP/1.0 200 OK\r\n".utf8) + [UInt8](repeating: 0x41, count: RTSPReader.maximumHead + 10))
        #expect(throws: RTSPProtocolError.self) { _ = try endless.next() }
        var huge = RTSPReader(capacity: 1024)
        huge.append(Array("RTSP/1.0 200 OK\r\nContent-Length: 99999999999\r\n\r\n".utf8))
        #expect(throws: RTSPProtocolError.self) { _ = try huge.next() }
    }

    @Test func anSDPGivesEachTrackItsCodecClockAndControl() throws {
        let sdp = try SessionDescription(parsing: """
            v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session\r\nt=0 0\r\na=control:*\r\n\
            m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\n\
            a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==;profile-level-id=42C01E\r\n\
            a=control:stream=0\r\n\
            m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n\
            a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
            a=control:stream=1\r\n\
            m=audio 0 RTP/AVP 0\r\na=control:stream=2\r\n
            """)
        #expect(sdp.control == "*")
        #expect(sdp.media.count == 3)
        let video = sdp.media[0], audio = sdp.media[1], pcmu = sdp.media[2]
        #expect(video.encoding == "H264" && video.clockRate == 90000 && video.frameRate == 25 && video.control == "stream=0")
        #expect(Handshake.codec(of: video) == .h264)
        #expect(RTPSession.sdpParameterSets(RTPTrackPlan(media: video, codec: .h264, controlURL: "", channel: 0)).map(\.count) == [21, 4])
        #expect(audio.encoding == "MPEG4-GENERIC" && audio.clockRate == 48000 && audio.channels == 2 && audio.parameters["config"] == "1190")
        #expect(Handshake.codec(of: audio) == .aac)
        #expect(RTPSession.hex("1190") == [0x11, 0x90])
        #expect(pcmu.encoding == "PCMU" && pcmu.clockRate == 8000 && Handshake.codec(of: pcmu) == .pcmMulaw)
        #expect(resolveControl("stream=0", base: "rtsp://h/cam/") == "rtsp://h/cam/stream=0")
        #expect(resolveControl("stream=0", base: "rtsp://h/cam") == "rtsp://h/cam/stream=0")
        #expect(resolveControl("rtsp://other/x", base: "rtsp://h/cam") == "rtsp://other/x")
        #expect(resolveControl("*", base: "rtsp://h/cam") == "rtsp://h/cam")
    }

    /// Numbers from the camera are range-checked: a clock rate no time base can hold, a channel
    /// count no layout has, an AAC fragment larger than any AAC frame.
    @Test func numbersFromTheCameraAreRangeChecked() throws {
        let sdp = try SessionDescription(parsing: "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/99999999999\r\n"
            + "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 PCMU/0\r\nm=audio 0 RTP/AVP 98\r\na=rtpmap:98 PCMA/8000/99999\r\n")
        #expect(Handshake.codec(of: sdp.media[0]) == nil)
        #expect(Handshake.codec(of: sdp.media[1]) == nil)
        let plan = RTPTrackPlan(media: sdp.media[2], codec: .pcmAlaw, controlURL: "", channel: 2)
        #expect(RTPSession.audioParameters(plan) == nil, "99,999 channels")
        let depacketizer = AACDepacketizer(parameters: ["sizelength": "32", "indexlength": "0"])!
        var frames = 0
        // One AU header of 32 bits saying 2^31 bytes: dropped, not gathered.
        for _ in 0..<4 {
            [0, 32, 0x80, 0, 0, 0, 1, 2, 3].withUnsafeBytes { bytes in
                depacketizer.push(UnsafeRawBufferPointer(bytes), timestamp: 0, marker: false, gap: false) { _, _, _ in frames += 1 }
            }
        }
        #expect(frames == 0 && depacketizer.gathered == 0)
    }

    struct Frame: Equatable {
        var bytes: [UInt8]
        var timestamp: Int64
        var keyframe: Bool
    }

    func depacketize(_ packets: [(payload: [UInt8], timestamp: Int64, marker: Bool, gap: Bool)], hevc: Bool = false) -> ([Frame], NALDepacketizer) {
        let depacketizer = NALDepacketizer(isHEVC: hevc)
        var frames: [Frame] = []
        for packet in packets {
            packet.payload.withUnsafeBytes { payload in
                depacketizer.push(payload, timestamp: packet.timestamp, marker: packet.marker, gap: packet.gap) { bytes, time, key in
                    frames.append(Frame(bytes: Array(bytes), timestamp: time, keyframe: key))
                }
            }
        }
        return (frames, depacketizer)
    }

    /// STAP-A with the SPS and PPS, an IDR slice in three FU-A pieces, then a P slice whole.
    @Test func h264AggregatesAndFragmentsBecomeAnnexBAccessUnits() {
        let sps: [UInt8] = [0x67, 1, 2, 3], pps: [UInt8] = [0x68, 4]
        let idr: [UInt8] = [0x65] + Array(10..<40)
        let stap: [UInt8] = [0x18, 0, UInt8(sps.count)] + sps + [0, UInt8(pps.count)] + pps
        func fu(_ start: Bool, _ end: Bool, _ body: ArraySlice<UInt8>) -> [UInt8] {
            [0x60 | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | 5] + body
        }
        let (frames, depacketizer) = depacketize([
            (stap, 3000, false, false),
            (fu(true, false, idr[1..<11]), 3000, false, false),
            (fu(false, false, idr[11..<21]), 3000, false, false),
            (fu(false, true, idr[21...]), 3000, true, false),
            ([0x41, 7, 7, 7], 6600, true, false),
        ])
        let start: [UInt8] = [0, 0, 0, 1]
        #expect(frames == [
            Frame(bytes: start + sps + start + pps + start + idr, timestamp: 3000, keyframe: true),
            Frame(bytes: start + [0x41, 7, 7, 7], timestamp: 6600, keyframe: false),
        ])
        #expect(depacketizer.inBandExtradata == start + sps + start + pps)
    }

    /// A fragmented NAL unit that lost a piece is dropped; the next one is whole; a frame whose
    /// marker was lost ends when the timestamp changes.
    @Test func h264ALostFragmentDropsItsNALUnitOnly() {
        let (frames, _) = depacketize([
            ([0x7C, 0x85, 1, 2], 100, false, false),  // FU-A start of an IDR (nri 3)
            ([0x7C, 0x45, 5, 6], 100, false, true),   // its end, after a gap: the unit is dropped
            ([0x61, 9], 100, false, false),           // a whole slice of the same frame, no marker
            ([0x61, 8], 200, true, false),            // the next frame
        ])
        let start: [UInt8] = [0, 0, 0, 1]
        #expect(frames.map(\.bytes) == [start + [0x61, 9], start + [0x61, 8]])
        #expect(frames.map(\.timestamp) == [100, 200])
        #expect(frames.map(\.keyframe) == [false, false], "a frame whose IDR slice was lost is not a keyframe")
    }

    /// H.265: a fragmentation unit's NAL header is rebuilt from its two-byte payload header.
    @Test func h265FragmentsRebuildTheirHeader() {
        // Payload header type 49 (FU), layer 0, tid 1; FU header: start, type 19 (IDR_W_RADL).
        let (frames, _) = depacketize([
            ([49 << 1, 1, 0x80 | 19, 1, 2], 0, false, false),
            ([49 << 1, 1, 0x40 | 19, 3], 0, true, false),
        ], hevc: true)
        #expect(frames == [Frame(bytes: [0, 0, 0, 1, 19 << 1, 1, 1, 2, 3], timestamp: 0, keyframe: true)])
    }

    /// RFC 3640 AAC-hbr: two AUs in one packet (13-bit sizes, 3-bit indices); one AU in two.
    @Test func aacAUHeadersSplitAPacketIntoFrames() {
        let depacketizer = AACDepacketizer(parameters: ["sizelength": "13", "indexlength": "3", "indexdeltalength": "3"])!
        var frames: [Frame] = []
        func push(_ payload: [UInt8], _ timestamp: Int64, marker: Bool = true) {
            payload.withUnsafeBytes { bytes in
                depacketizer.push(bytes, timestamp: timestamp, marker: marker, gap: false) { bytes, time, key in
                    frames.append(Frame(bytes: Array(bytes), timestamp: time, keyframe: key))
                }
            }
        }
        // Header bits 32: sizes 3 and 2, each size << 3.
        push([0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5], 48000)
        #expect(frames.map(\.bytes) == [[1, 2, 3], [4, 5]])
        #expect(frames.map(\.timestamp) == [48000, 49024])
        frames.removeAll()
        push([0, 16, 0, 4 << 3, 7, 8], 50000, marker: false)
        push([0, 16, 0, 4 << 3, 9, 10], 50000)
        #expect(frames.map(\.bytes) == [[7, 8, 9, 10]])
    }

    /// MD5 (RFC 1321 vectors) and the Digest response of RFC 2617's example, as the client
    /// composes it; the challenge's quoted parameters.
    @Test func digestAuthentication() {
        #expect(md5Hex("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(md5Hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
        let ha1 = md5Hex("Mufasa:testrealm@host.com:Circle Of Life")
        let ha2 = md5Hex("GET:/dir/index.html")
        #expect(md5Hex("\(ha1):dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:\(ha2)") == "6629fae49393a05397450978507c4ef1")
        let challenge = AuthenticationChallenge(["Basic realm=\"x\"", #"Digest realm="IP Camera(21388)", nonce="a\"b", qop="auth,auth-int", opaque="5ccc""#])
        guard case .digest(let realm, let nonce, let opaque, let qop)? = challenge?.scheme else {
            Issue.record("no digest challenge")
            return
        }
        #expect(realm == "IP Camera(21388)" && nonce == "a\"b" && opaque == "5ccc" && qop)
        guard case .basic? = AuthenticationChallenge(["Basic realm=\"cam\""])?.scheme else {
            Issue.record("no basic challenge")
            return
        }
    }

    @Test func credentialsAreTakenOutOfTheURL() {
        let (url, user, password) = NativeRTSPClient.splitCredentials("rtsp://vi%40ewer:p%3Ass@cam.local:8554/live?x=1")
        #expect(url == "rtsp://cam.local:8554/live?x=1" && user == "vi@ewer" && password == "p:ss")
        #expect(NativeRTSPClient.splitCredentials("rtsp://cam/live") == ("rtsp://cam/live", nil, nil))
    }
}
