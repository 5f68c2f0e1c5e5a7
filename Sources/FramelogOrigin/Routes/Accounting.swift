import Hummingbird
import Metrics
import NIOCore

/// Counts requests and bytes, and gives every error response the same short-cache, CORS headers.
struct Accounting: RouterMiddleware {
    typealias Context = BasicRequestContext
    let requests: Counter
    let bytesOut: Counter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        requests.increment()
        do {
            let response = try await next(request, context)
            if let length = response.body.contentLength { bytesOut.increment(by: length) }
            return response
        } catch let error as HTTPError {
            var headers = commonHeaders(type: "text/plain; charset=utf-8", cache: "no-cache")
            headers.append(contentsOf: error.headers)
            return Response(
                status: error.status, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: (error.body ?? "") + "\n")))
        }
    }
}
