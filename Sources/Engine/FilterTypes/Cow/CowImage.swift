// CowImage: GET|HEAD .../image: the snapshot's image device as bytes, whole or by Range, streamed by the HTTP layer.
import Foundation

enum CowImage {
    static let operation = FilterTypeOperation(
        name: "image", method: "GET",
        summary:
            "The snapshot's image as application/octet-stream: the device's bytes at the take. Range requests (206), HEAD and Accept-Ranges are supported; the bytes are streamed from the image device. A snapshot that has overflowed or failed has no image (409 image-unavailable); one that fails during a download ends the download short."
    ) { call throws(FilterOperationError) in
        let text: String
        do throws(FilterControlError) {
            text = try call.control.status(device: call.device, filter: call.filter).text
        } catch {
            throw .kernel(error)
        }
        let status: FilterStatus
        do throws(FilterStatusError) {
            status = try CowFilterType().status(text: text)
        } catch {
            throw .malformedReply(error.description)
        }
        guard case .string(let state) = status.fields["state"], case .int(let size) = status.fields["deviceSize"]
        else { throw .malformedReply("cow's status has no state or size") }
        guard state == "active", case .string(let image) = status.fields["image"] else {
            var why = "The snapshot is \(state)"
            if case .string(let error) = status.fields["error"] { why += " (\(error))" }
            throw FilterOperationError(
                type: "image-unavailable", status: 409, title: "Image unavailable",
                detail: "\(why): its image would not be exact, so it is not served. Detach it and take a new one.")
        }
        return FilterOperationResult(
            file: FileBody(path: "/dev/\(image)", size: UInt64(size), contentType: "application/octet-stream"))
    }
}
