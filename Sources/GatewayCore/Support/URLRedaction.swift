/// Hides credentials in URLs before they are shown or logged: `rtsp://user:pass@host/x`
/// becomes `rtsp://***@host/x`, and `http://cam/snap.cgi?user=admin&pwd=secret` becomes
/// `http://cam/snap.cgi?user=***&pwd=***` (cameras take credentials in the query too).
public enum URLRedaction {
    /// Query parameters that carry credentials in camera URLs (compared without case).
    static let secretParameters: Set<String> = [
        "user", "username", "usr", "login", "pwd", "pass", "passwd", "password", "token", "access_token", "auth", "key",
        "api_key", "apikey", "secret", "sig", "signature", "credentials",
    ]

    public static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authorityStart = scheme.upperBound
        let rest = url[authorityStart...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var result = String(url[..<authorityStart])
        if let at = rest[..<authorityEnd].lastIndex(of: "@") {
            result += "***" + String(rest[at..<authorityEnd])
        } else {
            result += String(rest[..<authorityEnd])
        }
        return result + redactQuery(String(rest[authorityEnd...]))
    }

    /// `path?query#fragment` with the values of credential parameters replaced.
    static func redactQuery(_ tail: String) -> String {
        guard let question = tail.firstIndex(of: "?") else { return tail }
        let fragmentStart = tail[question...].firstIndex(of: "#") ?? tail.endIndex
        let query = tail[tail.index(after: question)..<fragmentStart]
        let redacted = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let equals = pair.firstIndex(of: "="), secretParameters.contains(pair[..<equals].lowercased()) else { return String(pair) }
            return String(pair[...equals]) + "***"
        }.joined(separator: "&")
        return String(tail[...question]) + redacted + String(tail[fragmentStart...])
    }
}

extension URLRedaction {
    /// Redacts every URL inside a free text (an error message that quotes one).
    public static func redactAll(in text: String) -> String {
        guard text.contains("://") else { return text }
        return text.split(separator: " ", omittingEmptySubsequences: false).map { redact(String($0)) }.joined(separator: " ")
    }
}
