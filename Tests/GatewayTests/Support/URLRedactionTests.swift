import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct URLRedactionTests {
    @Test(arguments: [
        ("rtsp://admin:secret@10.0.0.2:554/stream1", "rtsp://***@10.0.0.2:554/stream1"),
        ("rtsp://10.0.0.2/stream", "rtsp://10.0.0.2/stream"),
        ("http://u:p@cam/path?x=a@b", "http://***@cam/path?x=a@b"),
        ("/media/file@2.mp4", "/media/file@2.mp4"),
        ("http://cam/snap.cgi?user=admin&pwd=secret&res=hd", "http://cam/snap.cgi?user=***&pwd=***&res=hd"),
        ("http://cam/v.mjpg?Password=x#frag", "http://cam/v.mjpg?Password=***#frag"),
        ("rtsp://a:b@cam/live?token=abc&channel=1", "rtsp://***@cam/live?token=***&channel=1"),
        ("http://cam/path?user", "http://cam/path?user"),
    ])
    func hidesCredentials(_ input: String, _ expected: String) {
        #expect(URLRedaction.redact(input) == expected)
    }

    @Test func redactsURLsInsideMessages() {
        #expect(URLRedaction.redactAll(in: "cannot open rtsp://a:b@h/x (timeout)") == "cannot open rtsp://***@h/x (timeout)")
        #expect(URLRedaction.redactAll(in: "cannot open http://h/x?pwd=hunter2") == "cannot open http://h/x?pwd=***")
    }
}
