import Gateway
import GatewayCore
import JSON
import SocketIO
import SourcesHTTP
import SourcesRTSP
import SourcesUSB
import Testing

/// plugins.json for live cameras: each source's own options and the ones every source has.
@Suite struct LiveSourceConfigTests {
    func problems(_ source: String) -> [String: [String]] {
        let text = #"{"cameras": [{"id": "c", "source": "# + source + "}]}"
        switch ConfigLoader(registry: standardRegistry(), environment: [:]).load(text: text, baseDirectory: TestMedia.directory) {
        case .success: return [:]
        case .failure(let errors): return Dictionary(grouping: errors.problems, by: \.path).mapValues { $0.map(\.reason) }
        }
    }

    @Test func validLiveCamerasLoadWithTheirCommonOptions() throws {
        let text = """
        {"cameras": [
          {"id": "r", "source": {"type": "rtsp", "url": "rtsp://cam/stream", "transport": "udp", "user": "u", "password": "p",
                                 "on_demand": true, "idle_timeout": 10, "retry_initial": 0.5, "retry_max": 5}},
          {"id": "h", "source": {"type": "http", "url": "http://cam/video.mjpg", "format": "mjpeg", "headers": {"Cookie": "a=b"},
                                 "transcode": {"preset": "ultrafast", "bitrate_kbps": 800, "gop_seconds": 1, "height": 480}}},
          {"id": "u", "source": {"type": "usb", "device": "/dev/video0", "input_format": "mjpeg", "width": 1280, "height": 720, "framerate": 30}},
          {"id": "v", "source": {"type": "usb", "driver": "lavfi", "device": "testsrc2=size=640x360:rate=25"}}
        ]}
        """
        let config = try ConfigLoader(registry: standardRegistry(), environment: [:]).load(text: text, baseDirectory: TestMedia.directory).get()
        let rtsp = config.cameras[0].source.spec
        #expect(rtsp.sourceOptions.onDemand && rtsp.sourceOptions.idleTimeout == 10)
        #expect((rtsp.configuration as? RTSPSource.Configuration)?.transport == .udp)
        let policy = rtsp.sourceOptions.applied(to: CameraSupervisor.Policy())
        #expect(policy.backoff.initial == .milliseconds(500) && policy.backoff.maximum == .seconds(5))
        let http = config.cameras[1].source.spec
        #expect(http.sourceOptions.transcode.preset == "ultrafast" && http.sourceOptions.transcode.bitrateKbps == 800)
        #expect(http.sourceOptions.transcode.height == 480 && http.sourceOptions.transcode.mode == .auto)
        #expect((http.configuration as? HTTPSource.Configuration)?.headers == ["Cookie": "a=b"])
        let usb = try #require(config.cameras[2].source.spec.configuration as? USBSource.Configuration)
        #expect(usb.driver == "v4l2" && usb.inputFormat == "mjpeg" && usb.width == 1280 && usb.framerate == 30)
        #expect(!config.cameras[3].source.spec.sourceOptions.onDemand)
    }

    @Test func rtspProblemsAreNamed() {
        let found = problems(#"{"type": "rtsp", "url": "http://cam/x", "transport": "quic", "timeout": 0, "pasword": "x"}"#)
        #expect(found["cameras[0].source.url"] == ["must start with rtsp:// or rtsps://"])
        #expect(found["cameras[0].source.transport"] == ["'quic' is not one of 'tcp', 'udp', 'auto'"])
        #expect(found["cameras[0].source.timeout"] == ["must be between 0.1 and 3600"])
        #expect(found["cameras[0].source.pasword"]?.first?.contains("did you mean 'password'") == true)
    }

    @Test func httpProblemsAreNamed() {
        let found = problems(#"{"type": "http", "url": "ftp://cam/x", "format": "nosuchformat", "headers": {"X-A": "1\r\nInjected: yes"}}"#)
        #expect(found["cameras[0].source.url"] == ["must start with http:// or https://"])
        #expect(found["cameras[0].source.format"] == ["'nosuchformat' is not an input format of this FFmpeg build"])
        #expect(found["cameras[0].source.headers"] == ["header 'X-A' is not a valid header name and value"])
    }

    @Test func usbProblemsAreNamed() {
        let found = problems(#"{"type": "usb", "device": "/dev/video0", "driver": "nosuchdriver", "width": 1280, "framerate": 0}"#)
        #expect(found["cameras[0].source.driver"] == ["'nosuchdriver' is not a capture input of this FFmpeg build"])
        #expect(found["cameras[0].source.height"] == ["give both width and height, or neither"])
        #expect(found["cameras[0].source.framerate"] == ["must be between 0 and 240"])
    }

    @Test func commonSourceOptionProblemsAreNamed() {
        let found = problems("""
        {"type": "usb", "device": "/dev/video0", "on_demnd": true, "idle_timeout": -1, "retry_initial": 10, "retry_max": 2,
         "transcode": {"mode": "sometimes", "preset": "warp", "crf": 60, "width": 641, "gop_seconds": 0}}
        """)
        #expect(found["cameras[0].source.on_demnd"]?.first?.contains("did you mean 'on_demand'") == true)
        #expect(found["cameras[0].source.idle_timeout"] == ["must be between 0.1 and 86400"])
        #expect(found["cameras[0].source.retry_max"] == ["must be between retry_initial and 3600"])
        #expect(found["cameras[0].source.transcode.mode"] == ["'sometimes' is not one of 'auto', 'always', 'never'"])
        #expect(found["cameras[0].source.transcode.preset"]?.first?.hasPrefix("'warp' is not one of ultrafast") == true)
        #expect(found["cameras[0].source.transcode.crf"] == ["must be between 0 and 51"])
        #expect(found["cameras[0].source.transcode.width"] == ["must be an even number of pixels, 16-8192"])
        #expect(found["cameras[0].source.transcode.gop_seconds"] == ["must be between 0 and 60"])
    }

    @Test func credentialsGoIntoTheURLEncodedAndReplaceAnyThere() {
        #expect(LiveInput.url("rtsp://cam:554/s?x=1", user: "ad min", password: "p@ss:w/rd") == "rtsp://ad%20min:p%40ss%3Aw%2Frd@cam:554/s?x=1")
        #expect(LiveInput.url("rtsp://old:secret@cam/s", user: "new", password: nil) == "rtsp://new@cam/s")
        #expect(LiveInput.url("rtsp://old:secret@cam/s", user: nil, password: "x") == "rtsp://old:secret@cam/s")
    }
}
