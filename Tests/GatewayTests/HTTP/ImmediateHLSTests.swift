import HTTPTypes
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

    @Test func requestsThatNeedTheRoutersMiddlewareAreNotAnsweredAtOnce() {
        func head(_ method: HTTPRequest.Method = .get, _ fields: [(String, String)] = []) -> HTTPRequest {
            var request = HTTPRequest(method: method, scheme: nil, authority: "x", path: "/hls/front/seg-1.m4s?token=t")
            for (name, value) in fields { request.headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            return request
        }
        #expect(ImmediateResponses.qualifies(head()))
        #expect(ImmediateResponses.qualifies(head(.get, [("Connection", "keep-alive"), ("Accept-Encoding", "gzip")])))
        #expect(!ImmediateResponses.qualifies(head(.head)))
        #expect(!ImmediateResponses.qualifies(head(.post)))
        for field in [("Connection", "close"), ("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket"),
                      ("Origin", "https://elsewhere.example"), ("Authorization", "Bearer x"), ("Cookie", "gateway_token=x"),
                      ("Content-Length", "3"), ("Transfer-Encoding", "chunked"), ("x-gateway-late-upgrade", "websocket")] {
            #expect(!ImmediateResponses.qualifies(head(.get, [field])), "\(field)")
        }
    }
}
