import Foundation

/// Wall-clock time in ms since the Unix epoch (capture times, registry times, start horizons).
func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
