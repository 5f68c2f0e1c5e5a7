import Foundation
import FramelogKafka
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// Ports, the readiness probe and process spawning behind LocalBroker.
/// Ports this process handed out already: the kernel may offer a just-released port again, and two
/// brokers started at the same moment must not race for it.
private let handedOutPorts = Mutex<Set<Int>>([])
private let logCounter = Atomic<Int>(0)

func nextLogID() -> Int { logCounter.add(1, ordering: .relaxed).newValue }

/// A port on 127.0.0.1 that was free a moment ago (the kernel picks it) and that this process has not
/// handed out before.
func freeLoopbackPort() throws -> Int {
    for _ in 0..<50 {
        let port = try kernelFreePort()
        if handedOutPorts.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw KafkaError(code: .localBroker, message: "cannot find a free loopback port")
}

private func kernelFreePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw KafkaError(code: .localBroker, message: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard ok else { throw KafkaError(code: .localBroker, message: "cannot find a free loopback port: errno \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A connected, close-on-exec TCP socket to 127.0.0.1:port, or nil.
private func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let ok = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    if !ok { close(fd) }
    return ok ? fd : nil
}

/// Sends one Kafka Metadata v0 request (all topics) on a fresh connection and waits for the response with
/// the same correlation id. The connection is closed before this returns, so the probe leaves no client
/// behind (Tansu delays its shutdown while clients are connected).
func metadataProbe(port: Int, timeout: Duration) -> Result<Void, KafkaError> {
    func failure(_ why: String) -> Result<Void, KafkaError> { .failure(KafkaError(code: .localBroker, message: why)) }
    guard let fd = connectLoopback(port: port) else { return failure("connection refused") }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout.milliseconds / 1000), tv_usec: Int(timeout.milliseconds % 1000) * 1000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let clientID = Array("framelog-probe".utf8)
    var body: [UInt8] = []
    func int16(_ v: Int16) { withUnsafeBytes(of: v.bigEndian) { body += $0 } }
    func int32(_ v: Int32) { withUnsafeBytes(of: v.bigEndian) { body += $0 } }
    let correlationID: Int32 = 0x4672_6d6c
    int16(3)  // api key: Metadata
    int16(0)  // api version
    int32(correlationID)
    int16(Int16(clientID.count))
    body += clientID
    int32(0)  // v0: an empty topic list means all topics
    var request: [UInt8] = []
    withUnsafeBytes(of: Int32(body.count).bigEndian) { request += $0 }
    request += body
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
        return failure("cannot send the metadata request")
    }
    var header = [UInt8](repeating: 0, count: 8)
    var got = 0
    while got < header.count {
        let n = header.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, 0) }
        guard n > 0 else { return failure("no metadata response") }
        got += n
    }
    let echoed = header[4..<8].reduce(Int32(0)) { $0 << 8 | Int32($1) }
    return echoed == correlationID ? .success(()) : failure("unexpected metadata response")
}

/// Starts `path` with `arguments`, stdin from /dev/null and stdout+stderr appended to `output`.
func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    markDescriptorsCloseOnExec()
    // The child gets default signal handling and an empty mask: a parent that ignores or blocks SIGTERM
    // (signal handlers of a service runner, the test harness) must not make the broker unstoppable.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    // Its own process group: a terminal's Ctrl-C goes to the foreground group, and the broker must stop
    // when we say (after the clients flushed), not at the same moment as its parent.
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(
        &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard rc == 0 else {
        throw KafkaError(code: .localBroker, message: "cannot start \(path): \(String(cString: strerror(rc)))")
    }
    return pid
}

/// Sets FD_CLOEXEC on every descriptor above stderr, so a spawned child inherits none of them. Without this a
/// broker holds copies of this process's sockets (its clients' connections, other brokers' listeners) and
/// those connections cannot close, which stalls shutdowns and confuses other brokers.
func markDescriptorsCloseOnExec() {
    guard let dir = opendir("/proc/self/fd") else { return }
    defer { closedir(dir) }
    let own = dirfd(dir)
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name), fd > 2, fd != own else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}

/// True if process `pid` owns a TCP socket listening on `port` (matched through socket inodes in
/// /proc/net/tcp and /proc/PID/fd).
func isListening(pid: pid_t, port: Int) -> Bool {
    guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return false }
    let portHex = String(format: ":%04X", port)
    var inodes = Set<String>()
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        guard fields.count > 9, fields[1].hasSuffix(portHex), fields[3] == "0A" else { continue }
        inodes.insert("socket:[\(fields[9])]")
    }
    guard !inodes.isEmpty, let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else {
        return false
    }
    return fds.contains { fd in
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")).map(inodes.contains)
            ?? false
    }
}
