import GatewayCore

extension USBSource {
    public struct Configuration: Decodable, Sendable {
        /// `/dev/video0` (v4l2), a device index or name (avfoundation), or a filter graph (lavfi,
        /// a virtual camera such as `testsrc2=size=1280x720:rate=25`). Required.
        public var device: String
        /// The libavdevice input: `v4l2` on Linux, `avfoundation` on macOS by default; `lavfi`
        /// for a virtual camera.
        public var driver: String
        /// What the camera should send: `mjpeg`, `yuyv422`, `h264`, … Default: the camera's choice.
        public var inputFormat: String?
        /// Capture size; both or neither. Default: the camera's choice.
        public var width: Int?
        public var height: Int?
        /// Frames per second to ask for. Default: the camera's choice.
        public var framerate: Double?
        /// Seconds a read may stall before the device is reopened. Default 10.
        public var timeout: Double

        enum CodingKeys: String, CodingKey { case device, driver, inputFormat = "input_format", width, height, framerate, timeout }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            device = try container.decode(String.self, forKey: .device)
            driver = try container.decodeIfPresent(String.self, forKey: .driver) ?? CaptureDevices.defaultDriver
            inputFormat = try container.decodeIfPresent(String.self, forKey: .inputFormat)
            width = try container.decodeIfPresent(Int.self, forKey: .width)
            height = try container.decodeIfPresent(Int.self, forKey: .height)
            framerate = try container.decodeIfPresent(Double.self, forKey: .framerate)
            timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 10
            if container.contains(.device), device.isEmpty { try decoder.reportProblem(CodingKeys.device, "must not be empty") }
            if driver.isEmpty {
                try decoder.reportProblem(CodingKeys.driver, "must not be empty")
            } else if !FFmpeg.hasInputFormat(driver) {
                try decoder.reportUnusable(CodingKeys.driver, "'\(driver)' is not a capture input of this FFmpeg build")
            }
            if (width == nil) != (height == nil) { try decoder.reportUnusable(width == nil ? CodingKeys.width : .height, "give both width and height, or neither") }
            for (key, value) in [(CodingKeys.width, width), (.height, height)] {
                if let value, !(16...8192).contains(value) { try decoder.reportProblem(key, "must be between 16 and 8192") }
            }
            if let framerate, !(framerate > 0 && framerate <= 240) { try decoder.reportProblem(CodingKeys.framerate, "must be between 0 and 240") }
            try decoder.requireRange(timeout, 0.1...3600, CodingKeys.timeout)
        }
    }
}
