import Foundation

/// The parts of an SDP session description (RFC 8866) an RTSP client needs: per media, its
/// payload type, encoding, clock rate, format parameters and control URL.
struct SessionDescription {
    struct Media {
        var kind: String
        var payloadType: Int
        /// The rtpmap encoding name, upper-cased (`H264`, `H265`, `MPEG4-GENERIC`, `PCMU`).
        var encoding = ""
        var clockRate = 0
        var channels = 1
        /// `a=fmtp` parameters, names lower-cased.
        var parameters: [String: String] = [:]
        var control: String?
        /// `a=framerate`, when given.
        var frameRate: Double?
    }

    static let maximumMedia = 16

    var control: String?
    var media: [Media] = []

    init(parsing text: String) throws(RTSPProtocolError) {
        var current: Media?
        for rawLine in text.split(whereSeparator: \.isNewline) {  // "\r\n" is one Character
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard line.count >= 2, line.dropFirst().first == "=" else { continue }
            let value = String(line.dropFirst(2))
            switch line.first {
            case "m":
                if let current { media.append(current) }
                guard media.count < Self.maximumMedia else { throw RTSPProtocolError(description: "more than \(Self.maximumMedia) media in the SDP") }
                let parts = value.split(separator: " ")
                // m=<media> <port> <proto> <fmt> …: the first format is the one used.
                guard parts.count >= 4, let payloadType = Int(parts[3]), (0...127).contains(payloadType) else {
                    current = nil
                    continue
                }
                current = Media(kind: String(parts[0]), payloadType: payloadType)
                // Static payload types carry no rtpmap (RFC 3551).
                switch payloadType {
                case 0: (current!.encoding, current!.clockRate) = ("PCMU", 8000)
                case 8: (current!.encoding, current!.clockRate) = ("PCMA", 8000)
                default: break
                }
            case "a":
                let (name, attribute) = Self.attribute(value)
                if name == "control" {
                    if current != nil { current!.control = attribute } else if media.isEmpty { control = attribute }
                }
                guard current != nil else { continue }
                switch name {
                case "rtpmap":
                    // a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
                    let parts = attribute.split(separator: " ", maxSplits: 1)
                    guard parts.count == 2, Int(parts[0]) == current!.payloadType else { continue }
                    let encoding = parts[1].split(separator: "/")
                    current!.encoding = encoding.first.map { $0.uppercased() } ?? ""
                    current!.clockRate = encoding.count > 1 ? Int(encoding[1]) ?? 0 : 0
                    if encoding.count > 2, let channels = Int(encoding[2]) { current!.channels = channels }
                case "fmtp":
                    let parts = attribute.split(separator: " ", maxSplits: 1)
                    guard parts.count == 2, Int(parts[0]) == current!.payloadType else { continue }
                    for parameter in parts[1].split(separator: ";") {
                        let pair = parameter.split(separator: "=", maxSplits: 1)
                        guard let key = pair.first?.trimmingCharacters(in: .whitespaces).lowercased(), !key.isEmpty else { continue }
                        current!.parameters[key] = pair.count > 1 ? pair[1].trimmingCharacters(in: .whitespaces) : ""
                    }
                case "framerate":
                    if let rate = Double(attribute.trimmingCharacters(in: .whitespaces)), rate > 0, rate <= 240 { current!.frameRate = rate }
                default: break
                }
            default: break
            }
        }
        if let current { media.append(current) }
    }

    private static func attribute(_ value: String) -> (String, String) {
        guard let colon = value.firstIndex(of: ":") else { return (value, "") }
        return (String(value[..<colon]), String(value[value.index(after: colon)...]))
    }
}

/// Resolves a control attribute against the base URL (RFC 2326 C.1.1): absolute stays, `*` is
/// the base, anything else is appended to it with one slash.
func resolveControl(_ control: String?, base: String) -> String {
    guard let control, !control.isEmpty, control != "*" else { return base }
    if control.lowercased().hasPrefix("rtsp://") || control.lowercased().hasPrefix("rtsps://") { return control }
    if base.hasSuffix("/") { return base + control }
    return base + "/" + control
}
