import Foundation
import GatewayCore
import JSON
import Logging
import Testing

/// The upload pipeline's media part on files made by ffmpeg, checked with ffprobe.
@Suite struct VODPackagerTests {
    func ffprobe(_ path: String, _ entries: String) throws -> String {
        let result = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-show_entries", entries, "-of", "default=nw=1", path])
        guard result.status == 0 else { throw TestFailure("ffprobe \(path): \(result.error)") }
        return result.output
    }

    @Test func anH264FileIsCopiedIntoAnMP4HLSAndAThumbnail() async throws {
        let input = try await TestMedia.file("upload-6s.mp4", [
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ])
        let directory = TestMedia.temporaryPath("vod")
        var reported: [Double] = []
        let result = try VODPackager.package(input: input, directory: directory, segmentSeconds: 2, logger: Logger(label: "test")) { reported.append($0) }
        #expect(result.videoCodec == "h264" && result.audioCodec == "aac" && result.transcodedFrom == nil)
        #expect(result.width == 640 && result.height == 360)
        #expect(abs(result.duration - 6) < 0.2, "\(result.duration)")
        #expect(result.segments == 3)
        #expect(reported.last == 1 && reported == reported.sorted())
        // The MP4 has its index in front and plays; the playlist lists every segment; the JPEG decodes.
        let mp4 = try FileIO.read(directory + "/video.mp4")
        #expect(String(decoding: mp4[4..<8], as: UTF8.self) == "ftyp" && String(decoding: mp4, as: UTF8.self).range(of: "moov")!.lowerBound
            < String(decoding: mp4, as: UTF8.self).range(of: "mdat")!.lowerBound)
        #expect(try ffprobe(directory + "/video.mp4", "format=duration").contains("duration=6"))
        let playlist = String(decoding: try FileIO.read(directory + "/hls/index.m3u8"), as: UTF8.self)
        #expect(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(playlist.components(separatedBy: "segment-").count - 1 == 3)
        let hls = try ffprobe(directory + "/hls/index.m3u8", "format=duration:stream=codec_name")
        #expect(hls.contains("codec_name=h264") && hls.contains("codec_name=aac"), "\(hls)")
        let jpeg = try ffprobe(directory + "/thumbnail.jpg", "stream=codec_name,width,height")
        #expect(jpeg.contains("codec_name=mjpeg") && jpeg.contains("width=640") && jpeg.contains("height=360"), "\(jpeg)")
        #expect(result.thumbnailWidth == 640 && result.thumbnailHeight == 360)
    }

    @Test func anMJPEGAVIIsTranscodedToH264() async throws {
        let input = try await TestMedia.file("upload-mjpeg.avi", [
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10", "-t", "3", "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p",
        ])
        let directory = TestMedia.temporaryPath("vod-mjpeg")
        let result = try VODPackager.package(input: input, directory: directory, logger: Logger(label: "test")) { _ in }
        #expect(result.videoCodec == "h264" && result.transcodedFrom == "mjpeg")
        #expect(try ffprobe(directory + "/video.mp4", "stream=codec_name").contains("codec_name=h264"))
        #expect(result.thumbnailWidth == 640 && result.thumbnailHeight == 360)
    }

    @Test func whatIsNotVideoIsRefusedByTheProbeWithAReason() async throws {
        let text = TestMedia.temporaryPath("notes.mp4")
        try FileIO.write(Array("these are not the frames you are looking for\n".utf8), to: text)
        guard case .failure(let error) = VODPackager.probe(text) else { Issue.record("a text file passed the probe"); return }
        #expect(!error.description.isEmpty)
        let audio = try await TestMedia.file("audio-only.m4a", ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1", "-c:a", "aac"])
        guard case .failure(let noVideo) = VODPackager.probe(audio) else { Issue.record("audio passed the probe"); return }
        #expect(noVideo.description.contains("no video"))
        guard case .success(let probe) = VODPackager.probe(try await TestMedia.clip()) else { Issue.record("the clip failed the probe"); return }
        #expect(probe.videoCodec == "h264" && probe.width == 320)
    }

    @Test func aTruncatedFileFailsWithAReason() async throws {
        // moov first: the cut file still opens and promises 6 s; its frames stop at a third.
        let whole = try FileIO.read(try await TestMedia.file("upload-6s-faststart.mp4", [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        ]))
        let truncated = TestMedia.temporaryPath("truncated.mp4")
        try FileIO.write(Array(whole.prefix(whole.count / 3)), to: truncated)
        guard case .success = VODPackager.probe(truncated) else { Issue.record("the cut file should still open"); return }
        do {
            _ = try VODPackager.package(input: truncated, directory: TestMedia.temporaryPath("vod-truncated"), logger: Logger(label: "test")) { _ in }
            Issue.record("a truncated file was packaged")
        } catch let error as MediaError {
            #expect(error.reason.contains("cut short") || error.code == .read, "\(error)")
        }
    }
}
