/// A sink that wants the camera's packets as the source delivered them — before the transcoder
/// (the `mjpeg` passthrough wants the camera's JPEGs, not the H.264 made from them). The
/// supervisor calls it on the source's thread, after timestamp repair; it must not block.
public protocol SourceTap: Sendable {
    func tapBegin(_ streams: StreamSet)
    func tap(_ packet: MediaPacket)
}
