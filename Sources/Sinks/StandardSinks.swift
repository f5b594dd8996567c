import GatewayCore

/// The sinks this build knows. A sink whose implementation has not landed yet is declared
/// with its options, so plugins.json is validated in full today.
public enum StandardSinks {
    public static func register(into registry: inout PluginRegistry) {
        registry.register(sink: WebSocketSink.self)
        registry.register(sink: HLSSink.self)
        registry.register(sink: ClipperSink.self)
        registry.register(sink: RecorderSink.self)
        registry.register(sink: MJPEGSink.self)
    }
}
