import Foundation
import GatewayCore

/// Reads a capture device in-process through libavdevice (`type: "usb"`): V4L2 on Linux,
/// AVFoundation on macOS, or libavfilter's virtual `lavfi` input. MJPEG and raw video get the
/// supervisor's one H.264 transcode; H.264 cameras are copied. A missing device is a clear
/// error, and the camera keeps retrying until it appears.
public struct USBSource: SourceAdapter {
    public static let type = "usb"

    private let configuration: Configuration
    private let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }

    public func run(output: any SourceOutput) async throws {
        if configuration.driver == "v4l2", !FileManager.default.fileExists(atPath: configuration.device) {
            throw MediaError(.deviceNotFound, component: "usb",
                             "no capture device at \(configuration.device) (`gateway devices` lists the ones present)")
        }
        try await LiveInput.run(url: Self.input(configuration), options: Self.demuxerOptions(configuration), output: output,
                                threadName: "usb:\(context.id)")
    }

    /// The device, or for `lavfi` the graph paced to real time like a camera.
    static func input(_ configuration: Configuration) -> String {
        guard configuration.driver == "lavfi", !configuration.device.contains("realtime") else { return configuration.device }
        return configuration.device + ",realtime"
    }

    static func demuxerOptions(_ configuration: Configuration) -> Demuxer.Options {
        var options: [String: String] = [:]
        if let width = configuration.width, let height = configuration.height { options["video_size"] = "\(width)x\(height)" }
        if let framerate = configuration.framerate { options["framerate"] = "\(framerate)" }
        if let inputFormat = configuration.inputFormat {
            options[configuration.driver == "avfoundation" ? "pixel_format" : "input_format"] = inputFormat
        }
        return Demuxer.Options(format: configuration.driver, options: options,
                               timeout: .milliseconds(Int64(configuration.timeout * 1000)),
                               displayName: configuration.driver == "lavfi" ? "lavfi" : configuration.device)
    }
}
