import Gateway
import Testing

@Suite struct URLRedactionTests {
    @Test(arguments: [
        ("rtsp://admin:secret@10.0.0.2:554/stream1", "rtsp://***@10.0.0.2:554/stream1"),
        ("rtsp://10.0.0.2/stream", "rtsp://10.0.0.2/stream"),
        ("http://u:p@cam/path?x=a@b", "http://***@cam/path?x=a@b"),
        ("/media/file@2.mp4", "/media/file@2.mp4"),
    ])
    func hidesCredentials(_ input: String, _ expected: String) {
        #expect(URLRedaction.redact(input) == expected)
    }

    @Test func redactsURLsInsideMessages() {
        #expect(URLRedaction.redactAll(in: "cannot open rtsp://a:b@h/x (timeout)") == "cannot open rtsp://***@h/x (timeout)")
    }
}
