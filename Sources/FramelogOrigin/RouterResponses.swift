import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Sits after the HTTP codec, where the router's responses pass: tells the fast path (which it puts at the
/// front of the pipeline) when one has ended, so the connection's next request may go.
final class RouterResponses: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let fastPath: OriginFastPath

    init(_ fastPath: OriginFastPath) { self.fastPath = fastPath }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(fastPath, position: .first)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended: Bool
        if case .end = unwrapOutboundIn(data) { ended = true } else { ended = false }
        context.write(data, promise: promise)
        if ended { fastPath.routerFinished() }
    }
}
