// RouterPrecedenceTests: the most specific route template answers, whatever order routes were registered in.
import Foundation
import Testing

@testable import dmfltd

@Suite struct RouterPrecedenceTests {
    func router(_ templates: [(String, String)]) -> Router {
        var r = Router()
        for (method, template) in templates {
            r.add(method, template) { _ in Response(status: 200, body: .bytes(Array(template.utf8))) }
        }
        return r
    }

    func template(_ r: Router, _ method: String, _ path: String) -> String? {
        if case .found(_, let template, _) = r.match(method: method, path: path) { return template }
        return nil
    }

    @Test(arguments: [false, true])
    func aLiteralSegmentBeatsAParameterInEitherOrder(reversed: Bool) {
        var routes = [
            ("GET", "/v1/hosts/{host}/attachments/{id}/{operation}"),
            ("GET", "/v1/hosts/{host}/attachments/{id}/stats"),
            ("POST", "/v1/hosts/{host}/attachments/{id}/{operation}"),
            ("POST", "/v1/hosts/{host}/attachments/{id}/messages"),
        ]
        if reversed { routes.reverse() }
        let r = router(routes)
        #expect(template(r, "GET", "/v1/hosts/a/attachments/x/stats") == "/v1/hosts/{host}/attachments/{id}/stats")
        #expect(
            template(r, "GET", "/v1/hosts/a/attachments/x/events") == "/v1/hosts/{host}/attachments/{id}/{operation}")
        #expect(
            template(r, "POST", "/v1/hosts/a/attachments/x/messages") == "/v1/hosts/{host}/attachments/{id}/messages")
        // The literal stats route decides for its path: POST there is 405, not the generic POST.
        guard case .methodNotAllowed(_, let allowed) = r.match(method: "POST", path: "/v1/hosts/a/attachments/x/stats")
        else {
            Issue.record("POST on stats should be 405")
            return
        }
        #expect(allowed == ["GET"])
    }

    @Test func anEarlierLiteralSegmentDecidesFirst() {
        let r = router([("GET", "/v1/{a}/x"), ("GET", "/v1/hosts/{b}")])
        #expect(template(r, "GET", "/v1/hosts/x") == "/v1/hosts/{b}")
        #expect(template(r, "GET", "/v1/other/x") == "/v1/{a}/x")
    }

    @Test func headIsAnsweredByGetAndParametersAreBound() {
        let r = router([("GET", "/v1/hosts/{host}")])
        guard case .found(_, _, let parameters) = r.match(method: "HEAD", path: "/v1/hosts/b") else {
            Issue.record("HEAD not answered")
            return
        }
        #expect(parameters == ["host": "b"])
    }

    /// A path spelled exactly as a template without parameters (looked up directly) and the same path
    /// spelled otherwise (found by the scan) get the same answer, for every method.
    @Test func anExactPathAndItsOtherSpellingsAgree() {
        let r = router([
            ("GET", "/v1/{what}"), ("GET", "/v1/host"), ("DELETE", "/v1/host"), ("POST", "/v1/hosts/{host}"),
        ])
        for method in ["GET", "HEAD", "DELETE", "POST"] {
            let answers = ["/v1/host", "/v1/host/", "//v1//host"].map { path -> String in
                switch r.match(method: method, path: path) {
                case .found(_, let template, let parameters): return "found \(template) \(parameters)"
                case .methodNotAllowed(let template, let allowed): return "405 \(template) \(allowed)"
                case .notFound: return "404"
                }
            }
            #expect(Set(answers).count == 1, "\(method): \(answers)")
        }
        #expect(template(r, "GET", "/v1/host") == "/v1/host")
        #expect(template(r, "HEAD", "/v1/host") == "/v1/host")
        #expect(template(r, "GET", "/v1/other") == "/v1/{what}")
        guard case .methodNotAllowed(_, let allowed) = r.match(method: "POST", path: "/v1/host") else {
            Issue.record("POST on /v1/host should be 405")
            return
        }
        #expect(allowed == ["GET", "DELETE"])
    }
}
