// CbtRoutesTests: cbt through the daemon's routes: options, status.filter, marks, changes (JSON and compact), metrics.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct CbtRoutesTests {
    func harnessWithCbt() async throws -> APITestHarness {
        let h = try APITestHarness(realCatalog: true)
        let r = await h.attach("c", filter: "cbt", options: #"{"block-size": "64K"}"#)
        #expect(r.status == 201)
        return h
    }

    @Test func optionsReachTheKernelAndTheStatusShowsTheGeneration() async throws {
        let h = try await harnessWithCbt()
        #expect(h.control.kernelOptions(FakeDevices.loop(0).dev, "cbt") == "block-size=65536 track-discards=true")
        h.control.cbtWrite(block: 3)
        let got = await h.call("GET", "/v1/hosts/local/attachments/c")
        let filter = (got.object["status"] as? [String: Any])?["filter"] as? [String: Any]
        #expect(filter?["generation"] as? String == h.control.cbtGeneration)
        #expect(filter?["blockSize"] as? Int == 65536)
        #expect(filter?["changedBlocks"] as? Int == 1)
        #expect(filter?["generationReason"] as? String == "attach")
    }

    @Test func marksSplitTheChangesAndAStaleGenerationIs409() async throws {
        let h = try await harnessWithCbt()
        h.control.cbtWrite(block: 0)
        h.control.cbtWrite(block: 1)
        let mark = await h.call("POST", "/v1/hosts/local/attachments/c/marks")
        #expect(mark.status == 201)
        #expect(mark.object["sequence"] as? Int == 1)
        let generation = try #require(mark.object["generation"] as? String)
        #expect(generation == h.control.cbtGeneration)
        #expect((mark.object["time"] as? String)?.hasSuffix("Z") == true)
        h.control.cbtWrite(block: 5)
        let all = await h.call("GET", "/v1/hosts/local/attachments/c/changes")
        #expect(all.status == 200)
        #expect(all.object["since"] as? Int == 0)
        #expect(all.object["deviceSize"] as? Int == 16 << 20)
        #expect(
            (all.object["extents"] as? [[String: Int]]) == [
                ["offset": 0, "length": 131072], ["offset": 327680, "length": 65536],
            ])
        let since = await h.call("GET", "/v1/hosts/local/attachments/c/changes?since=1&generation=\(generation)")
        #expect((since.object["extents"] as? [[String: Int]]) == [["offset": 327680, "length": 65536]])
        #expect(since.object["sequence"] as? Int == 1)
        h.control.cbtNewGeneration()
        let stale = await h.call("GET", "/v1/hosts/local/attachments/c/changes?since=1&generation=\(generation)")
        #expect(stale.status == 409)
        #expect(stale.problemType == "urn:dmflt:problem:generation-changed")
        #expect(stale.contentType == "application/problem+json")
    }

    @Test func octetStreamAnswersTheCompactBitmap() async throws {
        let h = try await harnessWithCbt()
        h.control.cbtWrite(block: 9)
        h.control.cbtWrite(block: 255)
        let r = await h.call("GET", "/v1/hosts/local/attachments/c/changes", accept: "application/octet-stream")
        #expect(r.status == 200)
        #expect(r.contentType == "application/octet-stream")
        #expect(r.bytes.count == 64 + 256 / 8)
        #expect(Array(r.bytes[0..<8]) == Array("DMFLTCBT".utf8))
        let bits = Array(r.bytes[64...])
        #expect(bits.enumerated().filter { $0.element != 0 }.map { "\($0.offset):\($0.element)" } == ["1:2", "31:128"])
    }

    @Test func refusalsHaveStableTypesAndBadOptionsAttachNothing() async throws {
        let h = try await harnessWithCbt()
        for path in ["changes?since=x", "changes?generation=nope", "changes?since=7", "changes?colour=red"] {
            let r = await h.call("GET", "/v1/hosts/local/attachments/c/\(path)")
            #expect(r.status == 400, "\(path)")
            #expect(r.problemType == "urn:dmflt:problem:invalid-value", "\(path)")
        }
        let wrongMethod = await h.call("GET", "/v1/hosts/local/attachments/c/marks")
        #expect(wrongMethod.status == 405)
        let body = await h.call("POST", "/v1/hosts/local/attachments/c/marks", json: #"{"label": 1}"#)
        #expect(body.status == 400)
        let fresh = try APITestHarness(realCatalog: true)
        for options in [
            #"{"block-size": 2048}"#, #"{"block-size": "12K"}"#, #"{"block-size": "128M"}"#,
            #"{"track-discards": "no"}"#, #"{"blocksize": 4096}"#,
        ] {
            let r = await fresh.attach("bad", filter: "cbt", options: options)
            #expect(r.status == 400, "\(options)")
        }
        #expect(fresh.control.attachCalls == 0)
        #expect(try fresh.store.rows().isEmpty)
    }
}
