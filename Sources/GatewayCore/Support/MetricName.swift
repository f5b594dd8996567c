/// Every metric the gateway exports, named once.
public enum MetricName {
    public static let hubPackets = "gateway_camera_packets_total"
    public static let cacheHits = "gateway_cache_hits_total"
    public static let cacheMisses = "gateway_cache_misses_total"
    public static let cacheErrors = "gateway_cache_errors_total"
    public static let hubBytes = "gateway_camera_bytes_total"
    public static let hubKeyframes = "gateway_camera_keyframes_total"
    public static let readerDroppedPackets = "gateway_reader_dropped_packets_total"
    public static let cameraState = "gateway_camera_state"
    public static let cameraReconnects = "gateway_camera_reconnects_total"
    public static let cameraPacketsLost = "gateway_camera_packets_lost_total"
    /// fMP4 parts the camera's one fragmenter cut, and how many fragmenters run (1 per camera at most).
    public static let cameraFragments = "gateway_camera_fragments_total"
    public static let cameraFragmenters = "gateway_camera_fragmenters"
    public static let cameraReaders = "gateway_camera_readers"
    public static let cameraLag = "gateway_camera_lag_seconds"
    public static let cameraMaximumLag = "gateway_camera_max_lag_seconds"
    public static let eventsDropped = "gateway_events_dropped_total"
    /// Events waiting in a remote backend's spool, and events a remote backend took.
    public static let eventsSpooled = "gateway_events_spooled"
    public static let eventsDelivered = "gateway_events_delivered_total"
    public static let viewerDroppedFragments = "gateway_viewer_dropped_fragments_total"
    public static let viewers = "gateway_camera_viewers"
    public static let hlsRequests = "gateway_hls_requests_total"
    public static let hlsBytes = "gateway_hls_bytes_total"
    /// HLS requests answered on the event loop from what the player's last full request settled.
    public static let hlsImmediate = "gateway_hls_immediate_requests_total"
    public static let hlsPlayers = "gateway_hls_players"
}
