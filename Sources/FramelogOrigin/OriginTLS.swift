import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2

/// The HTTP server flavour: HTTP/1.1 in the clear, or TLS offering HTTP/2 (ALPN h2, falling back to
/// HTTP/1.1) when a certificate is configured. Safari plays LL-HLS only over HTTPS with HTTP/2.
enum OriginTLS {
    static func server(_ configuration: OriginConfiguration, routes: OriginRoutes) throws -> HTTPServerBuilder {
        guard let certificatePath = configuration.tlsCertificate, let keyPath = configuration.tlsKey else {
            return OriginFastPath.server(routes)
        }
        let certificates: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw OriginError(.invalidConfiguration, "cannot read the TLS certificate \(certificatePath): \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw OriginError(.invalidConfiguration, "cannot read the TLS key \(keyPath): \(error)")
        }
        guard !certificates.isEmpty else {
            throw OriginError(.invalidConfiguration, "no certificate in \(certificatePath)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.applicationProtocols = ["h2", "http/1.1"]
        do {
            return try .http2Upgrade(tlsConfiguration: tls)
        } catch {
            throw OriginError(.invalidConfiguration, "cannot use the TLS certificate and key: \(error)")
        }
    }
}
