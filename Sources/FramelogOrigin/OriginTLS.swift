import Hummingbird
import HummingbirdCore

/// The HTTP server flavour: HTTP/1.1 in the clear, or TLS with HTTP/2 when a certificate is configured.
enum OriginTLS {
    static func server(_ configuration: OriginConfiguration) throws -> HTTPServerBuilder {
        guard configuration.tlsCertificate != nil else { return .http1() }
        throw OriginError(.invalidConfiguration, "TLS is not available in this build yet")
    }
}
