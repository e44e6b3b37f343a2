// MicroHTTPDCallbacks: every C callback libmicrohttpd calls, in one place, turning its events into Swift calls.
import CMicroHTTPD
import CMicroHTTPDShim
import Foundation
import Logging

/// These run on libmicrohttpd's polling threads (and on the thread calling MHD_stop_daemon). They
/// find their state through the closure pointers: the core (per daemon), the request context
/// (per request, in `con_cls`) or the stream delivery (per streamed response); never thread-locals.
enum MicroHTTPDCallbacks {
    static let accessHandler: MHD_AccessHandlerCallback = {
        cls, connection, url, method, _, uploadData, uploadSize, conCls in
        guard let cls, let connection, let url, let method, let uploadSize, let conCls else { return .NO }
        let core = Unmanaged<HTTPServerCore>.fromOpaque(cls).takeUnretainedValue()

        guard let existing = conCls.pointee else {
            // First call: headers are in, the body (if any) is not. Refuse an announced oversized
            // body now, before reading it; libmicrohttpd then closes the connection after answering.
            let context = RequestContext(connection: connection, core: core)
            core.register(context)
            conCls.pointee = Unmanaged.passRetained(context).toOpaque()
            if let length = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length"),
                let n = UInt64(String(cString: length)), n > UInt64(core.maxBodyBytes)
            {
                context.phase = .responded
                return queue(Problem.payloadTooLarge(limit: core.maxBodyBytes).response(), context, closing: true)
            }
            return .YES
        }
        let context = Unmanaged<RequestContext>.fromOpaque(existing).takeUnretainedValue()

        if uploadSize.pointee > 0 {
            if context.phase == .receiving {
                guard context.append(UnsafeRawBufferPointer(start: uploadData, count: uploadSize.pointee)) else {
                    // A chunked body with no length outgrew the limit. libmicrohttpd 0.9.75 cannot
                    // answer in the middle of an upload, and reading on would defeat the limit: close.
                    core.logger.notice("request body over \(core.maxBodyBytes) bytes without Content-Length; closing")
                    return .NO
                }
            }
            uploadSize.pointee = 0
            return .YES
        }

        switch context.phase {
        case .receiving:
            context.phase = .handling
            if core.closing.load(ordering: .acquiring) {
                context.phase = .responded
                return queue(Problem.serviceUnavailable().response(), context, closing: true)
            }
            let request = makeRequest(connection, url: url, method: method, body: context.takeBody())
            if let response = context.dispatch(request) {
                context.phase = .responded
                return queue(response, context)
            }
            return .YES
        case .handling:
            // Resumed: the handler's response is waiting (or, spuriously woken, suspend again).
            if let response = context.takeResponseOrSuspend() {
                context.phase = .responded
                return queue(response, context)
            }
            return .YES
        case .responded, .rejected:
            return .YES
        }
    }

    static let requestCompleted: MHD_RequestCompletedCallback = { _, _, conCls, termination in
        guard let conCls, let pointer = conCls.pointee else { return }
        conCls.pointee = nil
        let context = Unmanaged<RequestContext>.fromOpaque(pointer).takeRetainedValue()
        context.finish(completedNormally: termination == .REQUEST_TERMINATED_COMPLETED_OK)
    }

    static let contentReader: MHD_ContentReaderCallback = { cls, _, buffer, max in
        guard let cls, let buffer else { return -2 }  // MHD_CONTENT_READER_END_WITH_ERROR
        let delivery = Unmanaged<StreamDelivery>.fromOpaque(cls).takeUnretainedValue()
        switch delivery.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: max)) {
        case .bytes(let n): return n
        case .wait: return 0
        case .end: return -1  // MHD_CONTENT_READER_END_OF_STREAM
        }
    }

    static let contentReaderFree: MHD_ContentReaderFreeCallback = { cls in
        guard let cls else { return }
        Unmanaged<StreamDelivery>.fromOpaque(cls).release()
    }

    /// libmicrohttpd is done with a SharedBody's bytes: the response's reference goes.
    static let releaseSharedBody: MHD_ContentReaderFreeCallback = { cls in
        guard let cls else { return }
        Unmanaged<SharedBody>.fromOpaque(cls).release()
    }

    static let log: cmhd_log_fn = { cls, message in
        guard let cls, let message else { return }
        let core = Unmanaged<HTTPServerCore>.fromOpaque(cls).takeUnretainedValue()
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        core.noteLibraryMessage(text)
    }

    private final class Pairs {
        var items: [(name: String, value: String)] = []
    }

    private static let collect: MHD_KeyValueIterator = { cls, _, key, value in
        guard let cls, let key else { return .YES }
        let pairs = Unmanaged<Pairs>.fromOpaque(cls).takeUnretainedValue()
        pairs.items.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
        return .YES
    }

    private static func values(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(name: String, value: String)] {
        let pairs = Pairs()
        withExtendedLifetime(pairs) {
            _ = MHD_get_connection_values(connection, kind, collect, Unmanaged.passUnretained(pairs).toOpaque())
        }
        return pairs.items
    }

    private static func makeRequest(
        _ connection: OpaquePointer, url: UnsafePointer<CChar>, method: UnsafePointer<CChar>, body: [UInt8]
    ) -> Request {
        // On the stack, not zeroed: the shim writes the text and says how long it is.
        let remote = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let n = cmhd_client_address(connection, buffer.baseAddress, buffer.count)
            return n < 0
                ? "-"
                : String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: Int(n)), as: UTF8.self)
        }
        return Request(
            method: String(cString: method), path: String(cString: url), query: values(connection, .GET_ARGUMENT_KIND),
            headers: HTTPHeaders(values(connection, .HEADER_KIND).map { ($0.name, $0.value) }), body: body,
            remoteAddress: remote)
    }

    private static func streamed(_ stream: any ResponseStream, size: UInt64, _ context: RequestContext)
        -> OpaquePointer?
    {
        let core = context.core
        let delivery = StreamDelivery(
            stream: stream, connection: context.connection, closing: { core.closing.load(ordering: .acquiring) })
        context.attach(delivery)
        return MHD_create_response_from_callback(
            size, 16 * 1024, contentReader, Unmanaged.passRetained(delivery).toOpaque(), contentReaderFree)
    }

    /// Hands a response to libmicrohttpd; called on the connection's own thread.
    private static func queue(_ response: Response, _ context: RequestContext, closing: Bool = false) -> MHD_Result {
        let made: OpaquePointer?
        switch response.body {
        case .bytes(let bytes):
            made = bytes.withUnsafeBytes {
                MHD_create_response_from_buffer(
                    $0.count, UnsafeMutableRawPointer(mutating: $0.baseAddress), .RESPMEM_MUST_COPY)
            }
        case .shared(let shared):
            made = MHD_create_response_from_buffer_with_free_callback_cls(
                shared.count, UnsafeMutableRawPointer(mutating: shared.bytes.baseAddress), releaseSharedBody,
                Unmanaged.passRetained(shared).toOpaque())
        case .stream(let stream):
            made = streamed(stream, size: UInt64.max, context)  // MHD_SIZE_UNKNOWN: chunked
        case .sizedStream(let stream, let length):
            made = streamed(stream, size: length, context)
        case .file(let file, let offset, let length):
            // libmicrohttpd reads (or sendfile()s) the descriptor and closes it with the response.
            guard let fd = file.handOver() else { return .NO }
            made = MHD_create_response_from_fd_at_offset64(length, fd, offset)
            if made == nil { close(fd) }
        }
        guard let made else { return .NO }
        defer { MHD_destroy_response(made) }
        for (name, value) in response.headers {
            // libmicrohttpd owns framing; a handler's Content-Length could only contradict it.
            if HTTPHeaders.sameName(name, "Content-Length") || HTTPHeaders.sameName(name, "Transfer-Encoding") {
                continue
            }
            // withCString lends a native String's own bytes; passing the String itself makes a C copy.
            _ = name.withCString { n in value.withCString { v in MHD_add_response_header(made, n, v) } }
        }
        if closing || context.core.draining.load(ordering: .acquiring),
            response.headers["Connection"] == nil
        {
            _ = MHD_add_response_header(made, "Connection", "close")
        }
        return MHD_queue_response(context.connection, UInt32(response.status), made)
    }
}
