// HostileInputTests: bad requests get a 4xx problem+json and change neither the database nor the kernel.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct HostileInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var body: String?
        var contentType: String? = "application/json"
        var status: Int
        var type: String
        var description: String { "\(method) \(path) \(body?.prefix(40) ?? "") -> \(status) \(type)" }
    }

    static let put = "/v1/hosts/local/attachments/x"
    static let post = "/v1/hosts/local/attachments"
    static let cases: [Case] = [
        Case(method: "PUT", path: put, body: "{", status: 400, type: "malformed-json"),
        Case(method: "PUT", path: put, body: "", status: 400, type: "malformed-json"),
        Case(method: "PUT", path: put, body: "[1,2]", status: 400, type: "malformed-json"),
        Case(method: "PUT", path: put, body: "\"stat\"", status: 400, type: "malformed-json"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"stat","colour":1}"#, status: 400,
            type: "unknown-field"),
        Case(method: "PUT", path: put, body: #"{"device":7,"filter":"stat"}"#, status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":true}"#, status: 400,
            type: "invalid-value"),
        Case(method: "PUT", path: put, body: #"{"device":"/dev/loop0"}"#, status: 400, type: "invalid-value"),
        Case(method: "PUT", path: put, body: #"{"device":"","filter":"stat"}"#, status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"stat","options":[]}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"guard","options":{"mode":{"a":1}}}"#,
            status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"guard","options":{"mode":1.5}}"#,
            status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"guard","options":{"mode":"wx"}}"#,
            status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"stat","options":{"x":1}}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"nosuch"}"#, status: 400,
            type: "unknown-filter"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/etc/passwd","filter":"stat"}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/nosuch","filter":"stat"}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0\n","filter":"stat"}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put,
            body: "{\"device\":\"" + String(repeating: "a", count: 5000) + "\",\"filter\":\"stat\"}", status: 400,
            type: "invalid-value"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"stat"}"#, contentType: "text/plain",
            status: 415, type: "unsupported-media-type"),
        Case(
            method: "PUT", path: put, body: #"{"device":"/dev/loop0","filter":"stat"}"#, contentType: nil, status: 415,
            type: "unsupported-media-type"),
        Case(
            method: "PUT", path: "/v1/hosts/local/attachments/" + String(repeating: "a", count: 64),
            body: #"{"device":"/dev/loop0","filter":"stat"}"#, status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: "/v1/hosts/local/attachments/Upper", body: #"{"device":"/dev/loop0","filter":"stat"}"#,
            status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: "/v1/hosts/local/attachments/-dash", body: #"{"device":"/dev/loop0","filter":"stat"}"#,
            status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: "/v1/hosts/local/attachments/unmanaged-7-0-stat",
            body: #"{"device":"/dev/loop0","filter":"stat"}"#, status: 400, type: "invalid-value"),
        Case(
            method: "PUT", path: "/v1/hosts/elsewhere/attachments/x", body: #"{"device":"/dev/loop0","filter":"stat"}"#,
            status: 404, type: "not-found"),
        Case(
            method: "POST", path: post, body: #"{"device":"/dev/loop0","filter":"stat","id":"x"}"#, status: 400,
            type: "unknown-field"),
        Case(
            method: "POST", path: post,
            body: "{\"device\":\"/dev/loop0\",\"filter\":\"stat\",\"options\":{\"" + String(repeating: "k", count: 100)
                + "\":1}}", status: 400, type: "invalid-value"),
        Case(
            method: "POST", path: "/v1/hosts/local/attachments/x/messages", body: #"{"message":"reset"}"#, status: 404,
            type: "not-found"),
        Case(
            method: "POST", path: "/v1/hosts/local/attachments/keep/messages", body: #"{"message":""}"#, status: 400,
            type: "invalid-value"),
        Case(
            method: "POST", path: "/v1/hosts/local/attachments/keep/messages", body: #"{"msg":"reset"}"#, status: 400,
            type: "unknown-field"),
        Case(method: "DELETE", path: "/v1/hosts/local/attachments/nosuch", body: nil, status: 404, type: "not-found"),
        Case(method: "DELETE", path: "/v1/hosts/other/attachments/keep", body: nil, status: 404, type: "not-found"),
        Case(method: "GET", path: "/v1/hosts/other/devices", body: nil, status: 404, type: "not-found"),
        Case(
            method: "PATCH", path: "/v1/hosts/local/attachments/keep", body: nil, status: 405,
            type: "method-not-allowed"),
    ]

    @Test(arguments: cases)
    func refusedWithAProblemAndNothingChanges(_ c: Case) async throws {
        let h = try APITestHarness()
        #expect(await h.attach("keep", device: "/dev/loop1").status == 201)
        let rowsBefore = try h.store.rows()
        let kernelBefore = h.control.attachments
        let r = await h.call(c.method, c.path, json: c.body, contentType: c.contentType)
        #expect(r.status == c.status)
        #expect(r.contentType == "application/problem+json")
        #expect(r.problemType == "urn:dmflt:problem:" + c.type)
        #expect(r.object["status"] as? Int == c.status)
        #expect((r.object["detail"] as? String)?.isEmpty == false)
        #expect(try h.store.rows() == rowsBefore)
        #expect(h.control.attachments == kernelBefore)
        #expect(h.control.attachCalls == 1)
        #expect(h.control.detachCalls == 0)
    }
}
