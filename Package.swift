// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "camera-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gateway", targets: ["GatewayCLI"]),
        .executable(name: "socketio-conformance-server", targets: ["SocketIOConformanceServer"]),
        .library(name: "Gateway", targets: ["Gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CFFmpeg", path: "Sources/CFFmpeg",
                       pkgConfig: "libavformat libavcodec libavutil libavdevice libswscale libswresample",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libavdevice-dev"])]),
        .target(name: "Gateway", dependencies: [
            "CFFmpeg",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "HeapModule", package: "swift-collections"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "CompressNIO", package: "compress-nio"),
        ], resources: [.copy("HTTP/openapi.yaml")]),
        .target(name: "StorageSQLite", dependencies: [
            "Gateway",
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
        ], path: "Sources/Storage-SQLite"),
        .target(name: "SourcesFile", dependencies: ["Gateway", "CFFmpeg"], path: "Sources/Sources-File"),
        .systemLibrary(name: "CV4L2", path: "Sources/CV4L2"),
        .target(name: "SourcesUSB", dependencies: ["Gateway", "CV4L2"], path: "Sources/Sources-USB"),
        .target(name: "SourcesRTSP", dependencies: ["Gateway"], path: "Sources/Sources-RTSP"),
        .target(name: "SourcesHTTP", dependencies: ["Gateway"], path: "Sources/Sources-HTTP"),
        .target(name: "Sinks", dependencies: ["Gateway", .product(name: "DequeModule", package: "swift-collections")]),
        .target(name: "StandardPlugins", dependencies: [
            "Gateway", "SourcesFile", "SourcesUSB", "SourcesRTSP", "SourcesHTTP", "Sinks", "StorageSQLite",
        ]),
        .executableTarget(name: "GatewayCLI", dependencies: [
            "Gateway", "StandardPlugins", "SourcesUSB",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "SocketIOConformanceServer", dependencies: ["Gateway"]),
        .executableTarget(name: "GatewayBench", dependencies: ["Gateway", "SourcesFile", "Sinks", "StorageSQLite"], path: "Benchmarks/GatewayBench"),
        .testTarget(name: "GatewayTests", dependencies: [
            "Gateway", "SourcesFile", "Sinks", "StandardPlugins", "StorageSQLite",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
