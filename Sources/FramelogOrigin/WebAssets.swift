import Foundation

/// The origin's web pages, style and player modules: real files under `Web/`, compiled into the binary as
/// SwiftPM resources (`.embedInCode`) and served from memory. Nothing is read from disk at run time.
enum WebAssets {
    /// A file served as it is.
    struct Asset: Sendable {
        var path: String
        var type: String
        var bytes: [UInt8]
    }

    /// Every static file, by URL path: the stream list's script, the player's modules and the style sheet.
    static let files: [Asset] = [
        Asset(path: "/style.css", type: "text/css; charset=utf-8", bytes: PackageResources.style_css),
        // The player's entry module keeps the URL pages and bookmarks have always used.
        Asset(path: "/player.js", type: javascript, bytes: PackageResources.player_mjs),
        Asset(path: "/mse.mjs", type: javascript, bytes: PackageResources.mse_mjs),
        Asset(path: "/feed.mjs", type: javascript, bytes: PackageResources.feed_mjs),
        Asset(path: "/hls.mjs", type: javascript, bytes: PackageResources.hls_mjs),
        Asset(path: "/vod.mjs", type: javascript, bytes: PackageResources.vod_mjs),
        Asset(path: "/latency.mjs", type: javascript, bytes: PackageResources.latency_mjs),
        Asset(path: "/streams.mjs", type: javascript, bytes: PackageResources.streams_mjs),
        Asset(path: "/abr.mjs", type: javascript, bytes: PackageResources.abr_mjs),
        Asset(path: "/alerts.mjs", type: javascript, bytes: PackageResources.alerts_mjs),
        Asset(path: "/thumbs.mjs", type: javascript, bytes: PackageResources.thumbs_mjs),
    ]

    static let javascript = "text/javascript; charset=utf-8"

    static let indexPage = String(decoding: PackageResources.index_html, as: UTF8.self)

    private static let watchTemplate = String(decoding: PackageResources.watch_html, as: UTF8.self)

    /// The player page of a stream. The id passed StreamNames.validate (letters, digits, '.', '_', '-'
    /// only), so it is safe in HTML and URLs as it is.
    static func watchPage(streamID: String) -> String {
        watchTemplate.replacingOccurrences(of: "{{stream}}", with: streamID)
    }
}
