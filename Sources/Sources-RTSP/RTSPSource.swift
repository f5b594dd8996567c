import Gateway

/// The `rtsp` source adapter lands with the live-sources issue; its options are declared now,
/// so RTSP cameras can be configured, stored and shared today (they show as offline with the
/// reason until then).
public enum RTSPSource {
    public static let type = "rtsp"

    public static func declare(into registry: inout PluginRegistry) {
        registry.declare(.source, type: type, configuration: Configuration.self)
    }
}
