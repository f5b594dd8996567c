import HTTPTypes
import NIOCore
import Testing
@testable import Gateway
@testable import SocketIO

/// Which requests the immediate path (`ImmediateResponses`, `HLSRoutes.immediate`) may even look
/// at: anything else goes to the router, which has every rule. The behaviour with a running
/// gateway (answers alike, revocation, pipelining) is in Tests/integration/test_hls.py.
@Suite struct ImmediateHLSTests {
    @Test func onlyAPlainMediaRequestWithAStreamTokenIsATarget() {
        let target = HLSRoutes.mediaTarget("/hls/front/seg-12.m4s?token=abc.def.ghi")
        #expect(target?.camera == "front" && target?.file == "seg-12.m4s" && target?.token == "abc.def.ghi")
        #expect(HLSRoutes.mediaTarget("/streams/front/index.m3u8?token=t")?.file == "index.m3u8")
        #expect(HLSRoutes.mediaTarget("/hls/front/init-0.mp4?token=t")?.file == "init-0.mp4")
        for refused in [
            "/hls/front/seg-12.m4s",                           // no token: account credentials, the router's
            "/hls/front/seg-12.m4s?token=",                    // empty token
            "/hls/front/index.m3u8?token=t&_HLS_msn=3",        // a blocking reload may wait
            "/hls/front/index.m3u8?_HLS_msn=3&token=t",
            "/hls/front/master.m3u8?token=t",                  // not the media playlist
            "/hls/front/notes.txt?token=t",
            "/hls/fr%6Fnt/seg-1.m4s?token=t",                  // anything encoded
            "/hls/front/seg-1.m4s?token=a+b",
            "/hls//seg-1.m4s?token=t",
            "/hls/front/x/seg-1.m4s?token=t",                  // deeper paths
            "/api/videos/v/hls/seg-1.m4s?token=t",              // uploads' HLS has its own scope
            "/hls/front/seg-1.m4s?token=" + String(repeating: "t", count: 3000),
        ] {
            #expect(HLSRoutes.mediaTarget(refused) == nil, "\(refused)")
        }
    }

    /// What the front handler makes of a request's bytes.
    static func read(_ text: String) -> PlainRequestHead {
        PlainRequestHead.read(ByteBuffer(string: text))
    }

    @Test func requestsThatNeedTheRoutersMiddlewareAreNotAnsweredAtOnce() {
        let line = "GET /hls/front/seg-1.m4s?token=t HTTP/1.1\r\n"
        func head(_ fields: String = "", method: String = "GET", version: String = "HTTP/1.1") -> PlainRequestHead {
            Self.read("\(method) /hls/front/seg-1.m4s?token=t \(version)\r\nHost: x\r\n\(fields)\r\n")
        }
        let plain = head()
        #expect(plain == .plain(length: (line + "Host: x\r\n\r\n").utf8.count, request: ImmediateRequest(target: "/hls/front/seg-1.m4s?token=t")))
        #expect(head("Connection: keep-alive\r\nAccept-Encoding: gzip\r\n")
            == .plain(length: (line + "Host: x\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n").utf8.count,
                      request: ImmediateRequest(target: "/hls/front/seg-1.m4s?token=t", acceptEncoding: "gzip")))
        // Body-less, but the router's: handed to the codec, and the next request may be answered here.
        func routed(_ result: PlainRequestHead) -> Bool {
            if case .plain(_, nil) = result { return true }
            return false
        }
        #expect(routed(head(method: "HEAD")))
        #expect(routed(head(method: "POST")))
        #expect(routed(head(version: "HTTP/1.0")))
        // A page on another origin: answered here with the router's CORS fields (`CORSPolicy`); two
        // origins are not one browser's request.
        #expect(head("Origin: https://elsewhere.example\r\n")
            == .plain(length: (line + "Host: x\r\nOrigin: https://elsewhere.example\r\n\r\n").utf8.count,
                      request: ImmediateRequest(target: "/hls/front/seg-1.m4s?token=t", origin: "https://elsewhere.example")))
        for field in ["Connection: close", "Connection: keep-alive, Upgrade", "Origin: https://a.example\r\nOrigin: https://b.example",
                      "Authorization: Bearer x", "Cookie: gateway_token=x", "Range: bytes=0-1", "x-gateway-late-upgrade: websocket",
                      "CONNECTION: Close", "range: bytes=0-"] {
            #expect(routed(head(field + "\r\n")), "\(field)")
        }
        // A body, an upgrade, or bytes not read exactly as the codec reads them: the codec's from here on.
        for field in ["Content-Length: 3", "Transfer-Encoding: chunked", "Upgrade: websocket", "Expect: 100-continue",
                      "Bad Name: x", ": x", " folded", "X: a\nY: b", "X: a\rb", "X: a\u{0}"] {
            #expect(head(field + "\r\n") == .other, "\(field)")
        }
        // CONNECT stops the codec's parsing (a tunnel); control bytes the codec refuses; a head
        // whose lines end in bare LFs, complete or not.
        #expect(head(method: "CONNECT") == .other)
        for value in ["a\u{1}b", "a\u{7f}", "a\u{1b}[0m"] { #expect(head("X: \(value)\r\n") == .other, "\(value)") }
        #expect(routed(head("X: a\tb\r\n")) == false && head("X: a\tb\r\n") != .other)
        #expect(Self.read("GET /x HTTP/1.1\nHost: x\n\n") == .other)
        #expect(Self.read("GET /x HTTP/1.1\r\nHost: x\nAccept") == .other)
        for request in ["GET  /x HTTP/1.1\r\n\r\n", "GET /x HTTP/2.0x\r\n\r\n", "GET /x\r\n\r\n", "G(T /x HTTP/1.1\r\n\r\n",
                        "GET /x HTTP/1.1\nHost: x\n\n\r\n\r\n"] {
            #expect(Self.read(request) == .other, "\(request)")
        }
        // Incomplete until the blank line, and never more than 8 KiB of head.
        #expect(Self.read(line + "Host: x\r\n") == .incomplete)
        #expect(Self.read(line + "X-Long: " + String(repeating: "a", count: 9000)) == .other)
        #expect(Self.read(line + "X-Long: " + String(repeating: "a", count: 9000) + "\r\n\r\n") == .other)
        // Pipelined: one request at a time.
        if case .plain(let length, _) = Self.read(line + "\r\n" + line + "\r\n") { #expect(length == line.utf8.count + 2) } else { Issue.record("not read") }
    }
}
