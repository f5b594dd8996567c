import Foundation
import GatewayCore
#if canImport(CV4L2) && os(Linux)
import CV4L2
#endif

/// The capture devices of this machine, with the formats and sizes each offers
/// (`gateway devices`). On Linux it asks each `/dev/video*` through V4L2.
public enum CaptureDevices {
    public struct Device: Sendable, Equatable {
        public var path: String
        public var name: String
        public var driver: String
        public var formats: [Format]
    }

    public struct Format: Sendable, Equatable {
        /// The `input_format` name to configure (`mjpeg`, `yuyv422`, `h264`), or the FourCC.
        public var name: String
        public var description: String
        /// `WxH`, with frame rates when the device lists them.
        public var sizes: [String]
    }

    #if os(macOS)
    public static let defaultDriver = "avfoundation"
    #else
    public static let defaultDriver = "v4l2"
    #endif

    /// Every video capture device found under `directory`.
    public static func list(directory: String = "/dev") -> [Device] {
        #if os(Linux)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("video") }
            .sorted { $0.localizedStandardCompare($1) == .orderedAscending }
            .compactMap { query(directory + "/" + $0) }
        #else
        return []
        #endif
    }

    #if os(Linux)
    private static func query(_ path: String) -> Device? {
        let fd = open(path, O_RDWR | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var capability = v4l2_capability()
        guard cv4l2_ioctl(fd, cv4l2_querycap(), &capability) == 0 else { return nil }
        let capabilities = capability.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? capability.device_caps : capability.capabilities
        // Metadata nodes share the driver; only video capture nodes are cameras.
        guard capabilities & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0 else { return nil }
        var formats: [Format] = []
        var index: UInt32 = 0
        while true {
            var description = v4l2_fmtdesc()
            description.index = index
            description.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            guard cv4l2_ioctl(fd, cv4l2_enum_fmt(), &description) == 0 else { break }
            formats.append(Format(name: formatName(description.pixelformat), description: text(description.description),
                                  sizes: sizes(fd, pixelFormat: description.pixelformat)))
            index += 1
        }
        return Device(path: path, name: text(capability.card), driver: text(capability.driver), formats: formats)
    }

    private static func sizes(_ fd: Int32, pixelFormat: UInt32) -> [String] {
        var sizes: [String] = []
        var index: UInt32 = 0
        while index < 64 {
            var size = v4l2_frmsizeenum()
            size.index = index
            size.pixel_format = pixelFormat
            guard cv4l2_ioctl(fd, cv4l2_enum_framesizes(), &size) == 0 else { break }
            if size.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                let (width, height) = (size.discrete.width, size.discrete.height)
                let rates = frameRates(fd, pixelFormat: pixelFormat, width: width, height: height)
                sizes.append("\(width)x\(height)" + (rates.isEmpty ? "" : " @ " + rates.joined(separator: "/") + " fps"))
            } else {
                let step = size.stepwise
                sizes.append("\(step.min_width)x\(step.min_height) to \(step.max_width)x\(step.max_height)")
                break
            }
            index += 1
        }
        return sizes
    }

    private static func frameRates(_ fd: Int32, pixelFormat: UInt32, width: UInt32, height: UInt32) -> [String] {
        var rates: [String] = []
        var index: UInt32 = 0
        while index < 32 {
            var interval = v4l2_frmivalenum()
            interval.index = index
            interval.pixel_format = pixelFormat
            interval.width = width
            interval.height = height
            guard cv4l2_ioctl(fd, cv4l2_enum_frameintervals(), &interval) == 0,
                  interval.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue, interval.discrete.numerator > 0 else { break }
            let fps = Double(interval.discrete.denominator) / Double(interval.discrete.numerator)
            rates.append(fps == fps.rounded() ? "\(Int(fps))" : String(format: "%.2f", fps))
            index += 1
        }
        return rates
    }

    private static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
    #endif

    /// The libavdevice name of a V4L2 pixel format, else its FourCC.
    static func formatName(_ fourcc: UInt32) -> String {
        let code = String(decoding: (0..<4).map { UInt8((fourcc >> ($0 * 8)) & 0xFF) }, as: UTF8.self)
        switch code {
        case "MJPG", "JPEG": return "mjpeg"
        case "YUYV": return "yuyv422"
        case "UYVY": return "uyvy422"
        case "H264": return "h264"
        case "NV12": return "nv12"
        case "YU12": return "yuv420p"
        case "RGB3": return "rgb24"
        case "HEVC": return "hevc"
        default: return code.trimmingCharacters(in: .whitespaces)
        }
    }
}
