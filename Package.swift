// swift-tools-version:6.0
import PackageDescription

// librdkafka 2.16 comes from the confluent-kafka wheel (Debian's 2.0.2 library cannot talk to current
// brokers). `make setup` links it as .librdkafka/librdkafka.so.1; the rpath below makes every binary this
// package builds (debug, release, tests) load it without environment variables. If the folder is missing,
// the system library loads instead and FramelogKafka's runtime version check refuses to start.
let rdkafkaRpath = Context.packageDirectory + "/.librdkafka"

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "framelog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "framelog", targets: ["framelog"]),
        .library(name: "FramelogKafka", targets: ["FramelogKafka"]),
        .library(name: "FramelogMedia", targets: ["FramelogMedia"]),
        .library(name: "FramelogStreams", targets: ["FramelogStreams"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "FramelogKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .target(
            // Development and test brokers: the embedded Tansu broker (`framelog broker`, the demo, tests) and
            // librdkafka's mock cluster (fault tests). Not part of the client library; never for production.
            name: "FramelogLocalKafka",
            dependencies: [
                "CRdKafka",
                "FramelogKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .target(
            name: "FramelogMedia",
            swiftSettings: strict
        ),
        .target(
            // Reading, following and publishing Framelog streams: what every service builds on.
            name: "FramelogStreams",
            dependencies: [
                "FramelogKafka",
                "FramelogMedia",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FramelogIngest",
            dependencies: [
                "FramelogKafka",
                "FramelogMedia",
                "FramelogStreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // syncfs(2) for the archive's group commits (Swift's Glibc module does not export it).
        .target(name: "CFileSync"),
        .target(
            // The archive: a consumer group that keeps every stream's segments durably, with a SQLite catalog.
            name: "FramelogArchive",
            dependencies: [
                "CFileSync",
                "FramelogKafka",
                "FramelogMedia",
                "FramelogStreams",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            // A child process (ffmpeg) fed through stdin while it runs, in a process group of its own: what
            // the side consumers (transcode, analyze) run.
            name: "FramelogProcess",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .target(
            // The transcoder: a consumer group that encodes each source's ABR ladder with one ffmpeg, aligned
            // with the source part for part, and publishes every rung as a stream.
            name: "FramelogTranscode",
            dependencies: [
                "FramelogKafka",
                "FramelogMedia",
                "FramelogProcess",
                "FramelogStreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            // The analyzer: a consumer group that runs ffmpeg's detection filters over each source stream and
            // publishes what they find (black, frozen, silent, cuts, loudness) as events.
            name: "FramelogAnalyze",
            dependencies: [
                "FramelogKafka",
                "FramelogMedia",
                "FramelogProcess",
                "FramelogStreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The model worker (Python, run by the analyzer) and the built-in model description.
            resources: [.embedInCode("Moderation/worker.py"), .embedInCode("Moderation/open-nsfw.json")],
            swiftSettings: strict
        ),
        .target(
            name: "FramelogOrigin",
            dependencies: [
                "FramelogKafka",
                "FramelogMedia",
                "FramelogStreams",
                "FramelogArchive",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The web UI: real files, checked by `node --check` and unit-tested with `node --test` (Tests/web).
            resources: [
                .embedInCode("Web/index.html"), .embedInCode("Web/watch.html"), .embedInCode("Web/style.css"),
                .embedInCode("Web/player.mjs"), .embedInCode("Web/mse.mjs"), .embedInCode("Web/feed.mjs"),
                .embedInCode("Web/hls.mjs"), .embedInCode("Web/latency.mjs"), .embedInCode("Web/streams.mjs"),
                .embedInCode("Web/vod.mjs"), .embedInCode("Web/abr.mjs"), .embedInCode("Web/alerts.mjs"),
                .embedInCode("Web/thumbs.mjs"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "framelog",
            dependencies: [
                "FramelogAnalyze",
                "FramelogArchive",
                "FramelogIngest",
                "FramelogOrigin",
                "FramelogKafka",
                "FramelogLocalKafka",
                "FramelogMedia",
                "FramelogStreams",
                "FramelogTranscode",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .target(
            // Helpers shared by the test targets (local broker, child processes, scratch folders).
            name: "FramelogTestSupport",
            dependencies: ["FramelogKafka", "FramelogLocalKafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/FramelogTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "FramelogKafkaTests",
            dependencies: [
                "FramelogKafka", "FramelogLocalKafka", "CRdKafka", "FramelogTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // Runs the built `framelog` executable (swift build --build-tests builds it too).
            name: "FramelogCLITests",
            swiftSettings: strict
        ),
        .testTarget(
            // Ingest against the real local broker, with ffmpeg.
            name: "FramelogIngestTests",
            dependencies: [
                "FramelogIngest", "FramelogKafka", "FramelogMedia", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // Router tests without sockets, and the origin end to end on the real broker.
            name: "FramelogOriginTests",
            dependencies: [
                "FramelogOrigin", "FramelogIngest", "FramelogKafka", "FramelogMedia", "FramelogTestSupport",
                "FramelogTranscode",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["scripts"],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // The archive: assembling, durable writes, the catalog, on the real broker with ffmpeg.
            name: "FramelogArchiveTests",
            dependencies: [
                "FramelogArchive", "FramelogIngest", "FramelogOrigin", "FramelogStreams", "FramelogKafka",
                "FramelogMedia", "FramelogTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // The ladder, one encoder aligned with ffmpeg-made sources, and the transcoder on the real broker.
            name: "FramelogTranscodeTests",
            dependencies: [
                "FramelogTranscode", "FramelogIngest", "FramelogStreams", "FramelogKafka", "FramelogMedia",
                "FramelogTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // Analysis: pure detectors, ffmpeg's filters on made media, the analyzer on a real broker.
            name: "FramelogAnalyzeTests",
            dependencies: [
                "FramelogAnalyze", "FramelogIngest", "FramelogKafka", "FramelogMedia", "FramelogProcess",
                "FramelogTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            // Stream reading and publishing: pure parts, a publisher on a memory sink, readers on a real broker.
            name: "FramelogStreamsTests",
            dependencies: [
                "FramelogStreams", "FramelogKafka", "FramelogMedia", "FramelogTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRpath])]
        ),
        .testTarget(
            name: "FramelogMediaTests",
            dependencies: ["FramelogMedia"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
