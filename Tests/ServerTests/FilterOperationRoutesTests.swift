// FilterOperationRoutesTests: a type's operations are served at .../attachments/{id}/<name>, with clear refusals.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct FilterOperationRoutesTests {
    func harnessWithGuard() async throws -> APITestHarness {
        let h = try APITestHarness(realCatalog: true)
        let r = await h.attach("g", filter: "guard", options: #"{"mode": "read-only", "ranges": "0+1M"}"#)
        #expect(r.status == 201)
        return h
    }

    @Test func guardsOptionsReachTheKernelAndItsStatusIsStatusFilter() async throws {
        let h = try await harnessWithGuard()
        #expect(
            h.control.kernelOptions(FakeDevices.loop(0).dev, "guard") == "mode=read-only ranges=0+1048576 error=eio")
        let got = await h.call("GET", "/v1/hosts/local/attachments/g")
        let filter = (got.object["status"] as? [String: Any])?["filter"] as? [String: Any]
        #expect(filter?["mode"] as? String == "read-only")
        #expect((filter?["ranges"] as? [[String: Any]])?.first?["length"] as? Int == 1_048_576)
        #expect(((filter?["denied"] as? [String: Any])?["write"] as? [String: Any])?["bytes"] as? Int == 8192)
    }

    @Test func eventsListsTheDenialsAndSinceSkipsTheOlderOnes() async throws {
        let h = try await harnessWithGuard()
        let all = await h.call("GET", "/v1/hosts/local/attachments/g/events")
        #expect(all.status == 200)
        #expect(all.items.map { $0["sequence"] as? Int } == [1, 2])
        #expect(all.items.first?["op"] as? String == "write")
        #expect(all.items.first?["offset"] as? Int == 0)
        #expect(all.object["dropped"] as? Int == 0)
        let newer = await h.call("GET", "/v1/hosts/testhost/attachments/g/events?since=1")
        #expect(newer.items.map { $0["sequence"] as? Int } == [2])
    }

    @Test func refusalsHaveStableTypes() async throws {
        let h = try await harnessWithGuard()
        let unknown = await h.call("GET", "/v1/hosts/local/attachments/g/changes")
        #expect(unknown.status == 404)
        #expect(unknown.problemType == "urn:dmflt:problem:no-such-operation")
        #expect((unknown.object["detail"] as? String)?.contains("GET events") == true)
        let wrongMethod = await h.call("POST", "/v1/hosts/local/attachments/g/events", json: "{}")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["Allow"] == "GET")
        let badSince = await h.call("GET", "/v1/hosts/local/attachments/g/events?since=x")
        #expect(badSince.status == 400)
        #expect(badSince.problemType == "urn:dmflt:problem:invalid-value")
        let unknownArgument = await h.call("GET", "/v1/hosts/local/attachments/g/events?colour=red")
        #expect(unknownArgument.status == 400)
        #expect((unknownArgument.object["detail"] as? String)?.contains("since, watch, interval") == true)
        let nobody = await h.call("GET", "/v1/hosts/local/attachments/nobody/events")
        #expect(nobody.status == 404)
        let otherHost = await h.call("GET", "/v1/hosts/elsewhere/attachments/g/events")
        #expect(otherHost.status == 404)
    }

    @Test func statHasNoOperationsAndTheLiteralRoutesStillAnswer() async throws {
        let h = try APITestHarness(realCatalog: true)
        #expect(await h.attach("s").status == 201)
        let events = await h.call("GET", "/v1/hosts/local/attachments/s/events")
        #expect(events.status == 404)
        #expect((events.object["detail"] as? String)?.contains("it has none") == true)
        let message = await h.call("POST", "/v1/hosts/local/attachments/s/messages", json: #"{"message": "reset"}"#)
        #expect(message.status == 200)
    }

    @Test func anAttachmentWhoseDeviceIsAbsentHasNoEvents() async throws {
        let h = try APITestHarness(realCatalog: true)
        let r = await h.attach("w", device: "7:9", filter: "guard")
        #expect(r.phase == "waiting-device")
        let events = await h.call("GET", "/v1/hosts/local/attachments/w/events")
        #expect(events.status == 409)
        #expect(events.problemType == "urn:dmflt:problem:not-attached")
    }

    @Test func badGuardOptionsAttachNothing() async throws {
        let h = try APITestHarness(realCatalog: true)
        for options in [
            #"{"mode": "ro"}"#, #"{"ranges": "1+512"}"#, #"{"ranges": "0+0"}"#, #"{"error": "eperm"}"#,
            #"{"ranges": "0+512\\now"}"#,
        ] {
            let r = await h.attach("bad", filter: "guard", options: options)
            #expect(r.status == 400, "\(options)")
            #expect(r.problemType == "urn:dmflt:problem:invalid-value", "\(options)")
        }
        #expect(h.control.attachCalls == 0)
        #expect(try h.store.rows().isEmpty)
    }

    @Test func aWatchStreamsEachEventOnceAsALine() async throws {
        let h = try await harnessWithGuard()
        var request = Request(method: "GET", path: "/v1/hosts/local/attachments/g/events")
        request.query = [("watch", "true"), ("interval", "0.1")]
        guard case .found(let handler, let template, let parameters) = h.router.match(method: "GET", path: request.path)
        else {
            Issue.record("no route")
            return
        }
        request.route = template
        request.pathParameters = parameters
        let response = try await handler(request)
        #expect(response.headers["Content-Type"] == "application/x-ndjson")
        guard case .stream(let stream) = response.body else {
            Issue.record("not a stream")
            return
        }
        let first = String(decoding: await stream.next() ?? [], as: UTF8.self)
        let lines = first.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains(#""sequence":1"#) == true)
        // Nothing new: the next chunk is the end once the attachment goes away, not a repeat.
        h.control.removeOutside(FakeDevices.loop(0).dev, "guard")
        let end = String(decoding: await stream.next() ?? [], as: UTF8.self)
        #expect(end.contains(#""end":true"#) && end.contains("detached"))
        #expect(await stream.next() == nil)
    }
}
