import Hummingbird
import NIOCore

/// The stream list, the player page and the files they load (`WebAssets`).
struct WebRoutes {
    let origin: OriginRoutes

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in html(WebAssets.indexPage) }
        router.get("/watch/:id") { request, _ in
            let path = try origin.path(request)
            return html(WebAssets.watchPage(streamID: path.stream))
        }
        for asset in WebAssets.files {
            let bytes = ByteBuffer(bytes: asset.bytes)
            router.get(RouterPath(asset.path)) { _, _ in
                Response(
                    status: .ok, headers: commonHeaders(type: asset.type, cache: "max-age=60"),
                    body: .init(byteBuffer: bytes))
            }
        }
    }
}
