/// Hides credentials in URLs before they are shown or logged: `rtsp://user:pass@host/x`
/// becomes `rtsp://***@host/x`.
public enum URLRedaction {
    public static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authorityStart = scheme.upperBound
        let rest = url[authorityStart...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authorityStart]) + "***" + String(rest[at...])
    }
}

extension URLRedaction {
    /// Redacts every URL inside a free text (an error message that quotes one).
    public static func redactAll(in text: String) -> String {
        guard text.contains("@"), text.contains("://") else { return text }
        return text.split(separator: " ", omittingEmptySubsequences: false).map { redact(String($0)) }.joined(separator: " ")
    }
}
