import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// Pids whose parent is `pid`.
func children(of pid: Int32) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { child in
        guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == pid
    }
}

@Suite("framelog origin and demo command line", .serialized, .timeLimit(.minutes(2)))
struct OriginCLITests {
    @Test func originFlagsAreChecked() throws {
        let env = CLITests.isolatedEnvironment(["FRAMELOG_BROKERS": "127.0.0.1:1"])
        let cases: [([String], String)] = [
            (["origin", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot read --tls-cert"),
            (["origin", "--tls-cert", "/etc/hostname"], "both a TLS certificate and its key"),
            (["origin", "--window", "soon"], "--window"),
            (["origin", "--window", "2s"], "the window must be"),
            (["origin", "--port", "70000"], "port"),
        ]
        for (arguments, expected) in cases {
            let r = try CLITests.run(arguments, environment: env)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
        }
        let help = try CLITests.run(["origin", "--help"], environment: env)
        for word in ["/watch/ID", "/hls/ID/index.m3u8", "/dash/ID/manifest.mpd", "--tls-cert", "--window"] {
            #expect(help.stdout.contains(word), "help mentions \(word)")
        }
    }

    @Test func demoServesTheTestPatternAndStopsEverythingOnCtrlC() async throws {
        let demo = try Child(["demo", "--port", "0", "--size", "320x180"], environment: CLITests.isolatedEnvironment())
        #expect(
            try await demo.wait(for: { $0.contains("Watch:") }, timeout: .seconds(30)), "\(demo.stdout)\(demo.stderr)")
        let match = try #require(demo.stdout.firstMatch(of: /Watch:  (http:\/\/127\.0\.0\.1:\d+)\/watch\/demo/))
        let base = String(match.1)
        // The stream becomes servable: listed, with segments.
        var listed = ""
        for _ in 0..<100 {
            listed = (try? await httpGet(base + "/api/streams").body) ?? ""
            if listed.contains("\"segments\":3") || listed.contains("\"segments\":4") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(listed.contains("\"id\":\"demo\"") && listed.contains("\"state\":\"live\""), "\(listed)")
        let page = try await httpGet(base + "/watch/demo")
        #expect(page.status == 200 && page.body.contains("player.js"))
        let metrics = try await httpGet(base + "/metrics").body
        for name in [
            "framelog_origin_requests_total", "framelog_ingest_parts_total",
            "framelog_origin_part_arrival_delay_seconds",
            "framelog_origin_behind_live_ms{stream=\"demo\"}", "framelog_origin_viewers{stream=\"demo\"}",
        ] {
            #expect(metrics.contains(name), "metrics have \(name)")
        }
        let spawned = children(of: demo.process.processIdentifier)
        #expect(spawned.count >= 2, "broker and ffmpeg")
        kill(demo.process.processIdentifier, SIGINT)
        #expect(try await demo.exit(timeout: .seconds(20)) == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("Demo stopped."))
        for pid in spawned {
            #expect(kill(pid, 0) != 0, "child \(pid) is gone")
        }
    }

    @Test func originServesHTTP2OverTLS() async throws {
        let dir = NSTemporaryDirectory() + "framelog-tls-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
            "-days", "1", "-subj", "/CN=127.0.0.1",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let origin = try Child(
            [
                "origin", "--brokers", "127.0.0.1:1", "--port", "0", "--tls-cert", dir + "/cert.pem", "--tls-key",
                dir + "/key.pem",
            ],
            environment: CLITests.isolatedEnvironment())
        // The origin listens at once and gives up on an unreachable Kafka only after 10 s: TLS can be checked
        // without a broker.
        #expect(
            try await origin.wait(for: { $0.contains("listening on https://") }, timeout: .seconds(20)),
            "\(origin.stderr)")
        let port = try #require(origin.stdout.firstMatch(of: /https:\/\/127\.0\.0\.1:(\d+)/).map { String($0.1) })
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = [
            "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
            "https://127.0.0.1:\(port)/healthz",
        ]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        curl.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "2 200")
        // (Stopping is covered by the demo test; this one is still waiting for the missing broker.)
        _ = try await origin.exit(timeout: .milliseconds(100))
    }
}
